"""Hypothesis strategies and helpers for testing tools that read or write mongodump archives.

Install with ``pip install mongoarchive[testing]``; see docs/testing.md.  Not
imported by ``import mongoarchive``.  Importing it registers the hypothesis
settings profiles ``ci``, ``dev`` and ``thorough`` (load one with
``settings.load_profile`` or pytest's ``--hypothesis-profile``).
"""

from __future__ import annotations

try:
    import hypothesis
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "mongoarchive.testing needs hypothesis: pip install 'mongoarchive[testing]'", name=exc.name
    ) from exc

from ..pytest_plugin import ArchiveFactory
from ._archives import SERVER_VERSIONS, archive_models, archives, mongodump_like
from ._assertions import IGNORABLE, assert_equivalent, assert_exact_copy, describe
from ._bson import bson_documents, bson_values, documents, values
from ._damage import Block, Damage, Layout, damaged_archives, layout
from ._machine import POOL, ArchiveWriterMachine
from ._metadata import collection_metadata, index_specs, metadata_documents
from ._model import (
    ArchiveModel,
    Entry,
    Op,
    expected_documents,
    expected_events,
    model_of,
    read_all,
    strip_offsets,
    write_model,
)
from ._names import collection_names, db_names, names, namespaces

__all__ = [
    "IGNORABLE",
    "POOL",
    "SERVER_VERSIONS",
    "ArchiveFactory",
    "ArchiveModel",
    "ArchiveWriterMachine",
    "Block",
    "Damage",
    "Entry",
    "Layout",
    "Op",
    "archive_models",
    "archives",
    "assert_equivalent",
    "assert_exact_copy",
    "bson_documents",
    "bson_values",
    "collection_metadata",
    "collection_names",
    "damaged_archives",
    "db_names",
    "describe",
    "documents",
    "expected_documents",
    "expected_events",
    "index_specs",
    "layout",
    "metadata_documents",
    "model_of",
    "mongodump_like",
    "names",
    "namespaces",
    "read_all",
    "strip_offsets",
    "values",
    "write_model",
]

# Profiles: "ci" is derandomized (the same examples on every run, seeded from each
# test's name), "dev" is quick, "thorough" is for a nightly run.  Writing archives
# is slow next to hypothesis's defaults, hence no deadline and the too_slow check off.
_slow = [hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.data_too_large]
hypothesis.settings.register_profile(
    "ci", max_examples=100, derandomize=True, deadline=None, suppress_health_check=_slow, print_blob=True
)
hypothesis.settings.register_profile("dev", max_examples=20, deadline=None, suppress_health_check=_slow)
hypothesis.settings.register_profile(
    "thorough", max_examples=2000, deadline=None, suppress_health_check=_slow, stateful_step_count=100
)
