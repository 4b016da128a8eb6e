"""Parquet writer settings on one exported table, run by hand (never a test): codec, dictionary, statistics.

Reads a Parquet file that ``export`` wrote (bench_export.py leaves one in
``bench/out/export-parquet/bench/c.parquet``) and writes it again to memory
with each setting, in row groups of 65,536 rows (about one 16 MiB row group
of ``export`` for these documents); prints the best of ``--repeat`` and the size.
See docs/export.md ("Parquet writer settings").  Usage:

    nice python bench/bench_parquet_writer.py FILE.parquet [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import time
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

SETTINGS: list[tuple[str, dict[str, Any]]] = [
    ("zstd (export's)", {"compression": "zstd"}),
    ("zstd level 1", {"compression": "zstd", "compression_level": 1}),
    ("zstd level 3", {"compression": "zstd", "compression_level": 3}),
    ("snappy", {"compression": "snappy"}),
    ("lz4", {"compression": "lz4"}),
    ("none", {"compression": "none"}),
    ("zstd, no dictionary", {"compression": "zstd", "use_dictionary": False}),
    ("zstd, no statistics", {"compression": "zstd", "write_statistics": False}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    table: pa.Table = pq.read_table(args.file)
    print(f"table: {table.num_rows} rows, {table.nbytes / 2**20:.0f} MiB in Arrow")
    for name, options in SETTINGS:
        best, size = float("inf"), 0
        for _ in range(args.repeat):
            sink = io.BytesIO()
            start = time.perf_counter()
            writer = pq.ParquetWriter(sink, table.schema, **options)
            writer.write_table(table, row_group_size=65536)
            writer.close()
            best = min(best, time.perf_counter() - start)
            size = len(sink.getvalue())
        print(f"{name:22s} best {best:5.3f} s  {size / 2**20:5.1f} MiB")


if __name__ == "__main__":
    main()
