"""Shared pytest fixtures: where the vectors live (constants in tests/paths.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Helper modules that are also plugins (pytest_plugins) are imported by tests first: have their
# asserts rewritten all the same.
pytest.register_assert_rewrite("restore_helpers", "conftest_dump")

from paths import REPO_ROOT, SHARED_VECTORS, SPEC_VECTORS  # noqa: E402 - after the path and the rewrite

__all__ = ["REPO_ROOT", "SHARED_VECTORS", "SPEC_VECTORS", "spec_vectors"]


def spec_vectors(kind: str = "*") -> list[tuple[Path, dict[str, Any]]]:
    """Return (archive path, parsed sidecar) for every vector under spec/vectors/<kind>/, sorted by name."""
    out: list[tuple[Path, dict[str, Any]]] = []
    for sidecar in sorted(SPEC_VECTORS.glob(f"{kind}/*.json")):
        out.append((sidecar.with_suffix(".archive"), json.loads(sidecar.read_text(encoding="utf-8"))))
    return out


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def spec_vectors_dir() -> Path:
    """spec/vectors (our generated vectors)."""
    return SPEC_VECTORS


@pytest.fixture(scope="session")
def shared_vectors() -> Path:
    """../shared/vectors/mongo-tools (real mongodump archives); skips the test when absent."""
    if not SHARED_VECTORS.is_dir():
        pytest.skip(f"real archives not found at {SHARED_VECTORS}")
    return SHARED_VECTORS
