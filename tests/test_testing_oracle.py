"""mongoarchive.testing against the official readers: mongodump_like() is accepted, damage is refused."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from paths import REPO_ROOT

import mongoarchive
from mongoarchive.errors import MongoArchiveError
from mongoarchive.testing import ArchiveModel, Damage, damaged_archives, mongodump_like

ORACLE = REPO_ROOT.parent / "shared" / "oracle"
RELEASES = ("100.6.1", "100.18.0")
pytestmark = pytest.mark.skipif(
    not ORACLE.is_dir(), reason="the official tools (../shared/oracle) are absent"
)


def archref(release: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ORACLE / release / "archref"), "read", str(path)], capture_output=True, text=True
    )


def ours(data: bytes) -> dict[str, tuple[int, int, int]]:
    with mongoarchive.open(io.BytesIO(data)) as archive:
        summaries = archive.validate()
    return {str(ns): (s.documents, s.bytes, s.crc_value) for ns, s in summaries.items()}


def viewless_timeseries(model: ArchiveModel) -> bool:
    """8.3 naming of timeseries data, which 100.6.1 refuses (spec §5.4)."""
    return any(k == "timeseries" for *_, k in model.collections) and model.data_namespaces == model.namespaces


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(mongodump_like())
def test_mongodump_like_is_read_alike_by_both_official_readers(
    tmp_path_factory: pytest.TempPathFactory, example: tuple[ArchiveModel, bytes]
) -> None:
    model, data = example
    path = tmp_path_factory.getbasetemp() / "mongodump-like.archive"
    path.write_bytes(data)
    expected = ours(data)
    for release in RELEASES:
        result = archref(release, path)
        if release == "100.6.1" and viewless_timeseries(model):
            assert result.returncode == 1, "100.6.1 reads 8.3 timeseries naming"
            continue
        assert result.returncode == 0, (release, result.stderr)
        summary = json.loads(result.stdout)
        got = {
            n["ns"]: (n["docs"], n["bytes"], n["eof_crc"] & 0xFFFFFFFFFFFFFFFF)
            for n in summary["namespaces"]
            if n["crc_match"]
        }
        assert got == expected, release


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(damaged_archives())
def test_damage_is_found_where_the_construction_says(
    tmp_path_factory: pytest.TempPathFactory, damage: Damage
) -> None:
    with pytest.raises(MongoArchiveError) as caught, mongoarchive.open(io.BytesIO(damage.data)) as archive:
        archive.validate()
    err = caught.value
    assert type(err) is damage.error, (damage.kind, err)
    assert err.namespace == damage.namespace, damage.kind
    if damage.offset is not None:
        assert err.offset == damage.offset, damage.kind
    path = tmp_path_factory.getbasetemp() / "damaged.archive"
    path.write_bytes(damage.data)
    for release in RELEASES:
        assert (archref(release, path).returncode != 0) == damage.official_refuses, (release, damage.kind)
