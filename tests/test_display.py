"""Human-readable output: control characters escaped, no forged lines, exact hints, plurals."""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path

import pytest
from cli_helpers import run
from paths import SHARED_VECTORS

import mongoarchive
from mongoarchive._text import plural, printable
from mongoarchive.cli import _common as common
from mongoarchive.cli import inspect as inspect_verb
from mongoarchive.cli.check import NOT_DEEP
from mongoarchive.model import ArchiveWarning

#: What a terminal would obey: C0, DEL, C1 controls and bidi overrides or isolates.
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
ESCAPES = "evil\x1b[31mRED\x1b[0m\x1b]0;pwned\x07"
#: A name that, printed raw, would add a line claiming the file is fine.
FORGED = "x\nFILE: ok (1 namespace, 1 document, 1 byte)"
BIDI = "abc\u202etxt.exe"
MARKUP = "[bold]loud[/bold]"
METADATA = (
    '{"indexes":[{"v":2,"key":{"_id":1},"name":"_id_"},'
    '{"v":2,"key":{"k\\u001b[1m":1},"name":"k\\u001b[1m_1"}],"options":{"note\\u0007":"\\u001b[2J"}}'
)


def evil_archive(path: Path, names: list[str], server_version: str = "7.0.2") -> Path:
    """An archive with one document in each of ``names`` (collections of db ``db``)."""
    with mongoarchive.open(path, "w", server_version=server_version) as w:
        writers = [w.add_collection("db", name, METADATA) for name in names]
        for ns in writers:
            ns.write({"_id": 1})
    return path


def assert_safe(text: str) -> None:
    """Nothing in ``text`` but newlines that a terminal would act on."""
    assert UNSAFE.search(text) is None, UNSAFE.findall(text)


def assert_no_forged_line(text: str) -> None:
    assert not any(line.startswith("FILE: ok") for line in text.splitlines()), text


# -- 1. terminal escapes -------------------------------------------------------------------


def test_printable_escapes_controls_bidi_and_surrogates() -> None:
    assert printable(ESCAPES) == "evil\\x1b[31mRED\\x1b[0m\\x1b]0;pwned\\x07"
    assert printable("a\nb\tc\rd") == "a\\nb\\tc\\rd"
    assert printable("\x00\x7f\x85\x9f") == "\\x00\\x7f\\x85\\x9f"
    assert printable(BIDI) == "abc\\u202etxt.exe"
    assert printable("\u202a\u2066\u2069") == "\\u202a\\u2066\\u2069"
    assert printable("bad\udcffname") == "bad\\udcffname"
    # Ordinary text, accents and non-Latin scripts are left alone.
    assert printable("café, データ [x]") == "café, データ [x]"


def test_inspect_plain_escapes_names_values_and_header(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = evil_archive(tmp_path / "a.archive", [ESCAPES, BIDI], server_version="7.0.2-\x1b[2J")
    status, out, err = run(capsys, "inspect", str(path))
    assert status == 0
    assert_safe(out + err)
    assert "db.evil\\x1b[31mRED\\x1b[0m\\x1b]0;pwned\\x07" in out
    assert "db.abc\\u202etxt.exe" in out
    assert "server 7.0.2-\\x1b[2J" in out
    assert "k\\x1b[1m_1(k\\x1b[1m:1)" in out  # index name and key
    assert "note\\x07=\\x1b[2J" in out  # an option and its value


def test_inspect_rich_escapes_names_and_shows_markup_literally(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = evil_archive(tmp_path / "a.archive", [ESCAPES, MARKUP], server_version="7.0.2+[red]x")
    monkeypatch.setattr(inspect_verb, "is_terminal", lambda stream: True)
    monkeypatch.setenv("COLUMNS", "400")  # one line per row: no folding of long names
    status, out, _ = run(capsys, "inspect", str(path))
    assert status == 0
    assert "┃" in out or "│" in out  # the rich table, not the plain text
    assert_safe(out)
    assert "db.evil\\x1b[31mRED\\x1b[0m\\x1b]0;pwned\\x07" in out
    assert f"db.{MARKUP}" in out
    assert "server 7.0.2+[red]x" in out


def test_check_text_and_verbose_escape_names(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = evil_archive(tmp_path / "a.archive", [ESCAPES, FORGED, BIDI])
    status, out, err = run(capsys, "check", "-v", str(path))
    assert status == 0
    assert_safe(out + err)
    assert_no_forged_line(out)
    assert f"{path}:   db.evil\\x1b[31mRED\\x1b[0m\\x1b]0;pwned\\x07: 1 document" in out
    assert f"{path}:   db.x\\nFILE: ok (1 namespace, 1 document, 1 byte): 1 document" in out


def test_salvage_report_escapes_names(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = evil_archive(tmp_path / "a.archive", [ESCAPES, FORGED])
    status, out, err = run(capsys, "salvage", str(path), str(tmp_path / "out.archive"))
    assert status == 0
    assert_safe(out + err)
    assert_no_forged_line(out)
    assert "db.evil\\x1b[31mRED\\x1b[0m\\x1b]0;pwned\\x07" in out


def test_warnings_and_error_lines_are_escaped() -> None:
    warning = ArchiveWarning("unknown-field", f"raw {ESCAPES}", 7, "db.x")
    line = common.warning_line(warning, "mongoarchive inspect")
    assert line.startswith("mongoarchive inspect: warning: raw evil\\x1b[31m")
    assert_safe(line)
    exc = mongoarchive.FramingError(f"bad {FORGED}", offset=3, hint=f"see {ESCAPES}")
    line = common.error_line(exc)
    assert "\n" not in line
    assert_safe(line)
    assert line.startswith("mongoarchive: error: bad x\\nFILE: ok")


# -- 2. forged lines from file names and messages -----------------------------------------------


def test_file_names_cannot_forge_check_lines(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    name = tmp_path / f"a{FORGED}\x1b[31m.archive"
    evil_archive(name, ["c"])
    status, out, err = run(capsys, "check", str(name))
    assert status == 0
    assert_safe(out + err)
    assert_no_forged_line(out)
    # One verdict line, then the note that documents were not decoded (no --deep).
    assert out.count("\n") == 2 and "\\nFILE: ok" in out and "\\x1b[31m" in out
    assert out.splitlines()[1] == NOT_DEEP


def test_missing_file_error_line_is_one_escaped_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    name = str(tmp_path / f"gone{FORGED}\x1b]0;t\x07")
    for verb in (["inspect"], ["check"], ["cat"], ["salvage"]):
        argv = [*verb, name] + ([str(tmp_path / "o.archive")] if verb == ["salvage"] else [])
        status, _, err = run(capsys, *argv)
        assert status == 2, verb
        assert_safe(err)
        assert_no_forged_line(err)
        assert err.count("\n") == 1 and err.startswith("mongoarchive"), (verb, err)
        assert "\\nFILE: ok" in err


# -- 7. plurals -----------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "want"), [(0, "0 documents"), (1, "1 document"), (2, "2 documents")])
def test_plural(count: int, want: str) -> None:
    assert plural(count, "document") == want
    assert plural(count, "index", "indexes") == want.replace("documents", "indexes").replace(
        "document", "index"
    )


def counted_archive(path: Path, namespaces: int, documents: int) -> Path:
    """``namespaces`` collections, the first holding ``documents`` documents."""
    with mongoarchive.open(path, "w", server_version="7.0.2") as w:
        writers = [w.add_collection("db", f"c{i}") for i in range(namespaces)]
        for i in range(documents):
            writers[0].write({"_id": i})
    return path


def verdict(out: str) -> str:
    """The last verdict line of check's text output (the note on --deep follows it)."""
    return [line for line in out.splitlines() if line != NOT_DEEP][-1]


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


@pytest.mark.parametrize("count", [0, 1, 2])
def test_check_counts_agree_in_number(capsys: pytest.CaptureFixture[str], tmp_path: Path, count: int) -> None:
    path = counted_archive(tmp_path / "a.archive", max(count, 1), count)
    status, out, _ = run(capsys, "check", "-v", str(path))
    assert status == 0
    size = path.stat().st_size
    assert f": ok ({_n(max(count, 1), 'namespace')}, {_n(count, 'document')}, {size} bytes)" in out
    assert f"db.c0: {_n(count, 'document')}, {_n(14 * count, 'byte')}, 1 segment, crc ok" in out
    damaged = tmp_path / "cut.archive"
    damaged.write_bytes(path.read_bytes() + b"x")  # one error: trailing data
    status, out, _ = run(capsys, "check", str(damaged))
    assert status == 1
    assert verdict(out).endswith("FAILED (1 error, 0 warnings)")


def test_check_warning_count_agrees_in_number(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "a.archive"
    with mongoarchive.open(path, "w", server_version="7.0.2") as w:
        w.add_collection("db", "c")
    data = path.read_bytes()
    # One warning: the format version is not "0.1" (same length, so the framing holds).
    path.write_bytes(data.replace(b"\x04\x00\x00\x000.1\x00", b"\x04\x00\x00\x000.2\x00", 1))
    status, out, _ = run(capsys, "check", str(path))
    assert status == 0
    assert verdict(out).endswith(", 1 warning)")


@pytest.mark.parametrize("count", [0, 1, 2])
def test_inspect_counts_collections_in_both_views(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    path = tmp_path / "a.archive"
    with mongoarchive.open(path, "w", server_version="7.0.2") as w:
        for i in range(count):
            w.add_collection("db", f"c{i}")
    want = f"{_n(count, 'collection')} in the prelude"
    status, out, _ = run(capsys, "inspect", str(path))
    assert status == 0 and want in out.splitlines()
    monkeypatch.setattr(inspect_verb, "is_terminal", lambda stream: True)
    status, out, _ = run(capsys, "inspect", str(path))
    assert status == 0 and want in out and "┃" in out


@pytest.mark.parametrize("count", [0, 1, 2])
def test_salvage_report_counts_agree_in_number(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, count: int
) -> None:
    path = counted_archive(tmp_path / "a.archive", 1, count)
    status, out, _ = run(capsys, "salvage", str(path), str(tmp_path / "o.archive"))
    assert status == 0
    assert (
        f"kept {_n(count, 'document')} ({_n(14 * count, 'byte')}) in 1 namespace, 1 intact; "
        f"skipped 0 bytes in 0 ranges; 0 documents known lost"
    ) in out
    assert f"db.c0: {_n(count, 'document')} kept" in out


def test_salvage_report_counts_one_lost_range(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = counted_archive(tmp_path / "a.archive", 1, 3)
    data = path.read_bytes()
    (tmp_path / "b.archive").write_bytes(data + b"x")
    status, out, _ = run(capsys, "salvage", str(tmp_path / "b.archive"), str(tmp_path / "o.archive"))
    assert status == 1
    assert "skipped 1 byte in 1 range;" in out
    assert f"lost bytes {len(data)}..{len(data) + 1} (1 byte)" in out


@pytest.mark.parametrize("count", [0, 1, 2])
def test_cat_verbose_count(capsys: pytest.CaptureFixture[str], tmp_path: Path, count: int) -> None:
    path = counted_archive(tmp_path / "a.archive", 1, count)
    status, _, err = run(capsys, "cat", "-v", str(path))
    assert status == 0
    assert err.startswith(f"mongoarchive cat: {_n(count, 'document')} as ")


@pytest.mark.parametrize("count", [0, 1, 2])
def test_dump_summary_counts(count: int) -> None:
    from mongoarchive.cli.dump import render_summary
    from mongoarchive.dump import DumpResult, NamespaceStats

    stats = [NamespaceStats(f"db.c{i}", 1, 1, 0.0) for i in range(count)]
    text = render_summary(DumpResult("7.0.2", stats), 1.0)
    assert f"done: {_n(count, 'namespace')}, {_n(count, 'document')}, {_n(count, 'byte')} in" in text


def test_type_errors_use_the_right_article() -> None:
    import bson

    from mongoarchive._rules import decode_collection_entry
    from mongoarchive.errors import HeaderError

    with pytest.raises(HeaderError) as info:
        decode_collection_entry(bson.encode({"db": 1, "collection": "c"}), 0)
    assert "field 'db' is an int32, not a string" in info.value.message


def test_check_help_describes_the_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "check", "--help")
    assert status == 0
    assert "a table" not in out
    assert "one line per problem" in " ".join(out.split())


@pytest.mark.parametrize(("prefix", "want"), [(b"x", "1 byte comes"), (b"xy", "2 bytes come")])
def test_bytes_before_the_magic_agree_in_number(tmp_path: Path, prefix: bytes, want: str) -> None:
    from mongoarchive.checker import check_archive

    data = counted_archive(tmp_path / "a.archive", 1, 1).read_bytes()
    result = check_archive(io.BytesIO(prefix + data))
    assert [p.message for p in result.errors] == [f"{want} before the archive magic number"]


# -- 3. hints quote the damage itself -----------------------------------------------------------

LOG_LINE = b"2024-05-01T10:00:00.123+0000 I NETWORK [listener] connection accepted from 10.0.0.7:51234\n"
#: Every document's string field is printable text, as the bytes before a spliced line can be.
LOREM = "lorem ipsum dolor sit amet " * 8


@pytest.fixture(scope="module")
def five_mb(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[tuple[int, int]]]:
    """A 5 MB archive of text-heavy documents and the (offset, size) of each document."""
    path = tmp_path_factory.mktemp("big") / "big.archive"
    with mongoarchive.open(path, "w", server_version="7.0.2") as w:
        ns = w.add_collection("db", "c")
        for i in range(22000):
            ns.write({"_id": i, "s": LOREM})
    data = path.read_bytes()
    with mongoarchive.open(io.BytesIO(data)) as archive:
        docs = [(e.offset, len(e.raw)) for e in archive.events() if isinstance(e, mongoarchive.Document)]
    assert len(data) > 5_000_000
    return data, docs


def hints(capsys: pytest.CaptureFixture[str], path: Path, tmp_path: Path) -> dict[str, str]:
    """The first error line of inspect, and the text reports of check and salvage."""
    out: dict[str, str] = {}
    status, _, out["inspect"] = run(capsys, "inspect", str(path))
    assert status == 1
    status, out["check"], _ = run(capsys, "check", str(path))
    assert status == 1
    status, out["salvage"], _ = run(capsys, "salvage", "--force", str(path), str(tmp_path / "o.archive"))
    assert status == 1
    return out


def test_line_spliced_inside_a_document_is_quoted_from_its_own_first_byte(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, five_mb: tuple[bytes, list[tuple[int, int]]]
) -> None:
    data, docs = five_mb
    offset, size = docs[len(docs) // 2]
    at = offset + size - 30  # inside the string field: printable text before and after the line
    path = tmp_path / "inside.archive"
    path.write_bytes(data[:at] + LOG_LINE + data[at:])
    quote = "'2024-05-01T10:00:00.123+0000 I NETWORK [...', 90 bytes"
    want = f"text was mixed into the stream at byte {at} ({quote})"
    for verb, text in hints(capsys, path, tmp_path).items():
        assert want in text, (verb, text)
        assert "'lorem" not in text, (verb, text)
    assert f"(at byte {offset}, in namespace 'db.c')" in run(capsys, "inspect", str(path))[2]


def test_line_spliced_between_documents_is_reported_where_it_starts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, five_mb: tuple[bytes, list[tuple[int, int]]]
) -> None:
    data, docs = five_mb
    at = docs[len(docs) // 3][0]
    path = tmp_path / "between.archive"
    path.write_bytes(data[:at] + LOG_LINE + data[at:])
    texts = hints(capsys, path, tmp_path)
    assert (
        f"(at byte {at}, in namespace 'db.c'); hint: text was mixed into the stream here " in texts["inspect"]
    )
    assert f"byte {at}: error:" in texts["check"]
    assert f"lost bytes {at}.." in texts["salvage"]
    for verb, text in texts.items():
        assert "here ('2024-05-01T10:00:00.123+0000 I NETWORK [...')" in text, (verb, text)
        assert "lorem" not in text, (verb, text)


def test_a_line_whose_start_cannot_be_proven_is_not_quoted(
    capsys: pytest.CaptureFixture[str], five_mb: tuple[bytes, list[tuple[int, int]]]
) -> None:
    data, docs = five_mb
    offset, size = docs[100]
    at = offset + size - 30
    # The stream stops right after the line: the document's end is never seen.
    damaged = data[:at] + LOG_LINE
    with pytest.raises(mongoarchive.FramingError) as info, mongoarchive.open(io.BytesIO(damaged)) as a:
        a.validate()
    hint = info.value.hint or ""
    assert "text was mixed into the stream somewhere in this document" in hint
    assert "lorem" not in hint and "'" not in hint and "byte" not in hint


def test_a_line_spliced_into_multi_line_text_is_not_placed_by_guess() -> None:
    """Removing any newline-ended stretch of a multi-line string repairs the document too:
    more than one repair means no place is proven, so none is named or quoted."""
    out = io.BytesIO()
    with mongoarchive.open(out, "w", server_version="7.0.2") as w:
        w.add_collection("db", "c").write({"_id": 1, "log": ("x" * 89 + "\n") * 40})
    data = out.getvalue()
    with mongoarchive.open(io.BytesIO(data)) as archive:
        ((offset, size),) = [
            (e.offset, len(e.raw)) for e in archive.events() if isinstance(e, mongoarchive.Document)
        ]
    at = offset + size - 100  # inside the multi-line string
    with (
        pytest.raises(mongoarchive.FramingError) as info,
        mongoarchive.open(io.BytesIO(data[:at] + LOG_LINE + data[at:])) as archive,
    ):
        archive.validate()
    hint = info.value.hint or ""
    assert "somewhere in this document" in hint
    assert "byte" not in hint and "xxxx" not in hint and "2024" not in hint


def test_an_appended_newline_is_quoted_as_a_newline(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = counted_archive(tmp_path / "a.archive", 1, 1)
    path.write_bytes(path.read_bytes() + b"\n")
    status, out, _ = run(capsys, "check", str(path))
    assert status == 1
    assert "hint: whitespace ('\\n') was added to the stream here" in out
    assert "('')" not in out


# -- 6. inputs that are not archives --------------------------------------------------------------

TEXT = "# mongoarchive\n\nRead, check and write mongodump archives without a server.\n" * 20
NOT_ARCHIVES = {
    "empty": (b"", "the file is empty"),
    "text": (TEXT.encode(), "not an archive: this looks like text (starts with '# mongoarchive')"),
    "text-utf8": (
        "# café, données, データ\n".encode() * 9,
        "not an archive: this looks like text (starts with ",
    ),
    "gzip-text": (
        gzip.compress(TEXT.encode()),
        "not an archive: gzip data that does not start with the magic number",
    ),
    "gzip-empty": (gzip.compress(b""), "the gzip data decompresses to nothing"),
}


@pytest.mark.parametrize("kind", sorted(NOT_ARCHIVES))
@pytest.mark.parametrize("verb", ["inspect", "check", "cat", "salvage"])
def test_non_archives_are_called_what_they_are(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, verb: str, kind: str
) -> None:
    data, want = NOT_ARCHIVES[kind]
    path = tmp_path / "input"
    path.write_bytes(data)
    extra = [str(tmp_path / "out.archive")] if verb == "salvage" else []
    status, out, err = run(capsys, verb, str(path), *extra)
    assert status == 1
    text = out + err
    assert want in text, (verb, text)
    for wrong in ("cut short", "text was mixed", "ends inside the magic"):
        assert wrong not in text, (verb, text)


def test_text_before_an_archive_is_not_called_a_non_archive(tmp_path: Path) -> None:
    from mongoarchive.checker import check_archive

    data = counted_archive(tmp_path / "a.archive", 1, 1).read_bytes()
    result = check_archive(io.BytesIO(LOG_LINE + data))
    assert [p.code for p in result.errors] == ["data-before-magic"]
    with pytest.raises(mongoarchive.NotAnArchiveError) as info:
        mongoarchive.open(io.BytesIO(LOG_LINE + data))
    # Not "not an archive": an archive follows the text, and the reader says where.
    assert info.value.message == (
        f"the archive does not start at byte 0: a magic number follows at byte {len(LOG_LINE)}"
    )
    assert (info.value.hint or "").startswith("text was mixed into the stream here ('2024-05-01T10:00:00")
    assert "'mongoarchive salvage' recovers the archive after it" in (info.value.hint or "")


def test_empty_standard_input_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Stdin(io.BytesIO):
        name = "<stdin>"  # what sys.stdin.buffer is called

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(Stdin(b"")))
    status, _, err = run(capsys, "inspect", "-")
    assert status == 1
    assert "the input is empty (nothing came on standard input)" in err


# -- 5. text after a complete gzip member ------------------------------------------------------


def test_text_after_a_complete_gzip_archive_is_trailing_data(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plain = counted_archive(tmp_path / "a.archive", 2, 3).read_bytes()
    member = gzip.compress(plain, mtime=0)
    path = tmp_path / "a.archive.gz"
    path.write_bytes(member + b"2024-05-01 dump finished\n")
    want = f"25 bytes that are not gzip data follow the end of the compressed archive (at byte {len(member)} "
    status, _, err = run(capsys, "inspect", str(path))
    assert status == 1
    assert want in err and f"(at byte {len(plain)})" in err
    assert "they are text ('2024-05-01 dump finished')" in err
    status, out, _ = run(capsys, "check", str(path))
    assert status == 1
    assert f"byte {len(plain)}: error: {want}" in out and "[trailing-data]" in out
    assert "unchecked" not in out  # every inflated byte was checked
    assert "damaged" not in out
    status, out, _ = run(capsys, "salvage", str(path), str(tmp_path / "out.archive"))
    assert status == 1
    assert want in out and "the compressed stream is damaged" not in out
    assert gzip.decompress((tmp_path / "out.archive").read_bytes()) == plain  # gzip'd like its input


def test_a_second_gzip_member_is_still_read_as_more_data(tmp_path: Path) -> None:
    plain = counted_archive(tmp_path / "a.archive", 1, 3).read_bytes()
    cut = len(plain) // 2
    packed = gzip.compress(plain[:cut]) + gzip.compress(plain[cut:])
    with mongoarchive.open(io.BytesIO(packed)) as archive:
        assert archive.validate()[mongoarchive.Namespace("db", "c0")].documents == 3


def test_a_cut_archive_in_a_complete_gzip_member_is_truncated_first() -> None:
    plain = counted_archive_bytes()
    packed = gzip.compress(plain[:-10], mtime=0) + b"tail\n"
    with pytest.raises(mongoarchive.TruncatedError) as info, mongoarchive.open(io.BytesIO(packed)) as archive:
        archive.validate()
    assert "then 5 bytes that are not gzip data follow" in (info.value.hint or "")


def counted_archive_bytes() -> bytes:
    out = io.BytesIO()
    with mongoarchive.open(out, "w", server_version="7.0.2") as w:
        w.add_collection("db", "c").write({"_id": 1})
    return out.getvalue()


# -- 4. metadata that is not valid Extended JSON ---------------------------------------------------


def bad_metadata_archive(path: Path) -> Path:
    """One collection whose metadata string is cut inside an index (as in bad-format.archive)."""
    bad = '{"options":{},"indexes":[{"v":2,"key":{"{"a":1}'
    good = '{"p":"' + "a" * (len(bad) - 8) + '"}'  # same length: the framing holds after the swap
    with mongoarchive.open(path, "w", server_version="7.0.2") as w:  # the writer refuses bad metadata
        w.add_collection("db", "c", good)
    path.write_bytes(path.read_bytes().replace(good.encode(), bad.encode(), 1))
    return path


def _bad_format_or_own(tmp_path: Path) -> list[tuple[Path, str]]:
    """(archive, namespace): ours, and the real bad-format.archive when present."""
    out = [(bad_metadata_archive(tmp_path / "bad.archive"), "db.c")]
    real = SHARED_VECTORS / "bad-format.archive"
    if real.is_file():
        out.append((real, "test.ixtest"))
    return out


def test_inspect_warns_about_unparsed_metadata_and_does_not_show_dashes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for path, ns in _bad_format_or_own(tmp_path):
        status, out, err = run(capsys, "inspect", str(path))
        assert status == 0  # a viewer: the warning says it, check fails on it
        (line,) = err.splitlines()
        assert line.startswith("mongoarchive inspect: warning: metadata is not valid Extended JSON: ")
        assert f"in namespace '{ns}'" in line and "(at byte " in line
        (row,) = [r for r in out.splitlines() if r.startswith(ns + " ")]
        assert "? (unparsed metadata)" in row and row.split()[-1] == "?"
        status, _, err = run(capsys, "inspect", "-q", str(path))
        assert status == 0 and err == ""


def test_inspect_json_marks_the_namespace_with_its_metadata_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import json

    path = bad_metadata_archive(tmp_path / "bad.archive")
    status, out, err = run(capsys, "inspect", "--format", "json", str(path))
    assert status == 0 and "warning: metadata is not valid Extended JSON" in err
    (row,) = json.loads(out)["namespaces"]
    assert row["metadata_error"].startswith("metadata is not valid Extended JSON")


def test_check_reports_unparsed_metadata_as_bad_metadata(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = bad_metadata_archive(tmp_path / "bad.archive")
    status, out, _ = run(capsys, "check", str(path))
    assert status == 1
    assert "[bad-metadata] (namespace 'db.c')" in out


def test_unknown_fields_agree_in_number() -> None:
    import bson

    from mongoarchive._rules import decode_collection_entry

    one = bson.encode({"db": "d", "collection": "c", "x": 1})
    two = bson.encode({"db": "d", "collection": "c", "x": 1, "y": 2})
    ((w1,), (w2,)) = (decode_collection_entry(one, 0)[1], decode_collection_entry(two, 0)[1])
    assert "has an unknown field ['x'];" in w1.message
    assert "has unknown fields ['x', 'y'];" in w2.message


@pytest.mark.parametrize(("command", "want"), [("renameCollection", "a "), ("importCollection", "an ")])
def test_oplog_commands_take_the_right_article(command: str, want: str) -> None:
    import bson

    from mongoarchive._dump_oplog import validate_entry as _oplog_validator
    from mongoarchive.errors import DumpError

    with pytest.raises(DumpError) as info:
        _oplog_validator(bson.encode({"op": "c", "ns": "d.$cmd", "o": {command: "d.x"}}))
    assert f"while {want}{command} happens" in info.value.message


def test_usage_errors_escape_the_arguments_they_quote(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "inspect", "a", f"b{ESCAPES}{FORGED}")
    assert status == 2 and out == ""
    assert_safe(err)
    assert_no_forged_line(err)
    assert err.splitlines()[-1] == (
        "mongoarchive: error: unrecognized arguments: "
        "bevil\\x1b[31mRED\\x1b[0m\\x1b]0;pwned\\x07x\\nFILE: ok (1 namespace, 1 document, 1 byte)"
    )


def test_text_after_blank_lines_is_quoted_from_the_first_byte() -> None:
    from mongoarchive._framing import describe_bytes

    assert "here ('\\n\\n2024 dump done')" in describe_bytes(b"\n\n2024 dump done\nmore")
    assert "whitespace ('\\n \\n') was added" in describe_bytes(b"\n \n")


def test_progress_labels_are_escaped_and_literal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Progress descriptions are rich markup: file and namespace names must stay literal."""
    import argparse

    from rich.progress import Progress
    from rich.text import Text

    from mongoarchive.cli.dump import _Progress

    seen: list[str] = []
    real_wrap = Progress.wrap_file

    def wrap_file(self: Progress, file: object, *args: object, **kwargs: object) -> object:
        seen.append(str(kwargs["description"]))
        return real_wrap(self, file, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Progress, "wrap_file", wrap_file)
    monkeypatch.setattr(common, "PROGRESS_MIN_BYTES", 0)
    monkeypatch.setattr(common, "is_terminal", lambda stream: True)
    path = evil_archive(tmp_path / f"[bold]{ESCAPES}.archive", ["c"])
    with common.open_input(str(path), argparse.Namespace(verbose=0, quiet=0), "reading") as handle:
        handle.read()
    (label,) = seen
    assert_safe(label)
    assert Text.from_markup(label).plain == f"reading {printable(str(path))}"

    progress = _Progress(True)
    progress(f"db.{MARKUP}{ESCAPES}", 1, 1, 0, False)
    (task,) = progress.bar.tasks
    assert_safe(task.description)
    assert Text.from_markup(task.description).plain == f"db.{MARKUP}{printable(ESCAPES)}"
