"""Every verb has its page in docs/, every flag is on its verb's page, and every link resolves.

Verbs and flags come from the argparse parser itself, so a new verb or flag
fails these tests until it is documented.
"""

from __future__ import annotations

import argparse
import re
import unicodedata
from pathlib import Path

import pytest
from cli_helpers import run
from paths import REPO_ROOT

from mongoarchive.cli import build_parser

DOCS = REPO_ROOT / "docs"
README = REPO_ROOT / "README.md"
HELP = ("-h", "--help")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no verbs registered")


def _global_options() -> set[str]:
    """Option strings of the command itself (--version, --debug, -v, -q ...), without -h/--help."""
    return {s for a in build_parser()._actions for s in a.option_strings if s not in HELP}


def _verb_options(verb: str) -> list[str]:
    """The verb's own option strings: not -h/--help, not the global flags repeated after the verb.

    The global flags are added to each verb with default SUPPRESS (mongoarchive/cli/__init__.py);
    a verb's own flag that reuses a global name (dump's -q and --quiet) keeps a real default.
    """
    globals_ = _global_options()
    options: list[str] = []
    for action in _subparsers(build_parser())[verb]._actions:
        strings = [s for s in action.option_strings if s not in HELP]
        if action.default is argparse.SUPPRESS and set(strings) <= globals_:
            continue
        options.extend(strings)
    return options


def _positionals(verb: str) -> list[str]:
    """Metavars of the verb's positional arguments (FILE, IN, OUT)."""
    parser = _subparsers(build_parser())[verb]
    return [str(a.metavar or a.dest) for a in parser._actions if not a.option_strings]


VERBS = sorted(_subparsers(build_parser()))


def _page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _without_code_blocks(text: str) -> str:
    """The text outside fenced and indented code blocks: links there are examples, not links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"(?:^(?: {4}|\t).*\n)+", "", text, flags=re.M)


def _code_spans_of_table_rows(text: str) -> list[str]:
    """The `code spans` of the table rows of a page: where options are described."""
    rows = [line for line in _without_code_blocks(text).splitlines() if line.lstrip().startswith("|")]
    return [span for row in rows for span in re.findall(r"`([^`]+)`", row)]


def _mentions(spans: list[str], option: str) -> bool:
    """True if a code span holds ``option`` as a whole word (`--ns` is not in `--nsExclude`)."""
    word = re.compile(rf"(?<![\w-]){re.escape(option)}(?![\w-])")
    return any(word.search(span) for span in spans)


def test_verbs_are_registered() -> None:
    assert {"inspect", "check", "cat", "salvage", "dump"} <= set(VERBS)


def test_option_introspection_separates_global_and_verb_flags() -> None:
    # The filter above must neither drop a verb's own flags nor keep the repeated global ones.
    assert {"--version", "--debug", "-v", "--verbose", "-q", "--quiet"} <= _global_options()
    assert "--debug" not in _verb_options("check")
    assert "--strict" in _verb_options("check")
    # dump's own -q is --query (as in mongodump); --quiet after the verb is the global flag.
    assert {"-q", "--query"} <= set(_verb_options("dump"))
    assert "--quiet" not in _verb_options("dump")


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_its_page(verb: str) -> None:
    page = DOCS / f"{verb}.md"
    assert page.is_file(), f"docs/{verb}.md is missing"
    assert f"mongoarchive {verb}" in page.read_text(encoding="utf-8")


@pytest.mark.parametrize("verb", VERBS)
def test_every_flag_of_a_verb_is_in_its_options_table(verb: str) -> None:
    spans = _code_spans_of_table_rows(_page(f"{verb}.md"))
    options = _verb_options(verb)
    assert options, verb
    missing = [o for o in options + _positionals(verb) if not _mentions(spans, o)]
    assert not missing, f"docs/{verb}.md has no table row for {missing}"


def test_global_flags_exit_status_and_errors_in_cli_page() -> None:
    page = _page("cli.md")
    spans = _code_spans_of_table_rows(page)
    missing = [o for o in sorted(_global_options()) + list(HELP) if not _mentions(spans, o)]
    assert not missing, f"docs/cli.md has no table row for {missing}"
    for status in ("**0**", "**1**", "**2**"):
        assert status in page
    assert "mongoarchive: error: MESSAGE (at byte N, in" in page


def test_pre_commit_hook_in_check_page() -> None:
    assert "mongoarchive-check" in _page("check.md")
    assert (REPO_ROOT / ".pre-commit-hooks.yaml").read_text().count("id: mongoarchive-check") == 1


@pytest.mark.parametrize("verb", VERBS)
def test_verb_flags_in_help(capsys: pytest.CaptureFixture[str], verb: str) -> None:
    status, out, _ = run(capsys, verb, "--help")
    assert status == 0
    for option in _verb_options(verb):
        assert option in out, f"{verb} --help does not show {option}"


def test_global_flags_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--help")
    assert status == 0
    for verb in VERBS:
        assert verb in out
    for option in _global_options():
        assert option in out


def test_readme_links_every_docs_page() -> None:
    targets = {t.partition("#")[0] for t in _links(README)}
    pages = sorted(p.name for p in DOCS.glob("*.md"))
    assert pages, "docs/ has no pages"
    missing = [name for name in pages if f"docs/{name}" not in targets]
    assert not missing, f"README.md does not link {missing}"


# --- links --------------------------------------------------------------------------------------------------


def _links(path: Path) -> list[str]:
    """The target of every Markdown link of ``path``, outside code blocks."""
    text = _without_code_blocks(path.read_text(encoding="utf-8"))
    return re.findall(r"\[[^\]\n]*\]\(([^)\s]+)\)", text)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, no punctuation, spaces as hyphens."""
    text = heading.strip().lower().replace("`", "")
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = _without_code_blocks(path.read_text(encoding="utf-8"))
    return {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


DOC_FILES = [README, *sorted(DOCS.glob("*.md"))]


def _broken_links(path: Path) -> list[str]:
    """Relative links of ``path`` whose file does not exist, or whose #fragment is no heading there."""
    broken: list[str] = []
    for link in _links(path):
        if re.match(r"[a-z][a-z0-9+.-]*:", link):  # http:, https:, mailto:: not checked offline
            continue
        target, _, fragment = link.partition("#")
        resolved = (path.parent / target).resolve() if target else path
        if not resolved.exists() or (
            fragment and resolved.suffix == ".md" and fragment not in _anchors(resolved)
        ):
            broken.append(link)
    return broken


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_relative_link_resolves(path: Path) -> None:
    assert _links(path), f"{path.name} links nothing"
    broken = _broken_links(path)
    assert not broken, f"{path.name}: broken links {broken}"


def test_link_checker_sees_broken_links(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# A heading\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#a-heading) [gone](missing.md#x) [bad anchor](other.md#nothing) [web](https://x.y/z)\n"
        "```\n[in code](ignored.md)\n```\n",
        encoding="utf-8",
    )
    assert _links(page) == ["other.md#a-heading", "missing.md#x", "other.md#nothing", "https://x.y/z"]
    assert _broken_links(page) == ["missing.md#x", "other.md#nothing"]
    assert (
        _slug("§7 What readers reject and tolerate; versions")
        == "7-what-readers-reject-and-tolerate-versions"
    )
    assert _slug("`mongoarchive check`: full validation") == "mongoarchive-check-full-validation"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import mongoarchive

    status, out, _ = run(capsys, "--version")
    assert status == 0 and out.strip() == f"mongoarchive {mongoarchive.__version__}"
