"""The writer's stateful test: mongoarchive.testing.ArchiveWriterMachine driving ArchiveWriter.

Any sequence of add_collection, write, write_batch, flush, namespace close,
write_prelude, close and abort either raises UsageError exactly where the
model says it must, or leaves an archive that the reader accepts with exactly
the model's prelude, namespaces, document counts and CRCs (spec/archive.md §5.4, §6, §9).
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

from mongoarchive.testing import ArchiveWriterMachine

ArchiveWriterMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_writer_against_model_and_reader = ArchiveWriterMachine.TestCase
