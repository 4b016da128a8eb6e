"""Benchmark of the Arrow conversion in one process, run by hand (never a test).

Converts the documents of bench/bench_export.py (about 4.6 MiB a batch) with
``_arrow.Converter.convert_buffer`` (the scan, then the compiled builder),
with the same call made to use pymongoarrow instead of the builder, and with
pymongoarrow alone on the same schema and bytes, best of ``--repeat``, and
prints MB/s and the ratios to pymongoarrow alone.  Run it with
``MONGOARCHIVE_PURE=1`` for the pure-Python scans (no builder).  Usage:

    nice python bench/bench_convert.py [--copies 4] [--repeat 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_export

from mongoarchive import _arrow, _arrow_scan
from mongoarchive._arrow import Converter


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4, help="copies of the 4096 documents in a batch")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    buf = b"".join(bench_export.make_documents() * args.copies)
    converter = Converter("bench.c")
    converter.convert_buffer(buf)  # infers the schema
    builder = _arrow.build
    _arrow.build = None
    converter.convert_buffer(buf)  # pymongoarrow's schema, made on its first batch
    import pymongoarrow.context as ctx

    def alone() -> None:
        context = ctx.PyMongoArrowContext(converter._pma_schema)
        context.process_bson_stream(buf)
        context.finish()

    mb = len(buf) / 1e6
    t_alone = best(alone, args.repeat)
    t_pma = best(lambda: converter.convert_buffer(buf), args.repeat)
    _arrow.build = builder
    print(f"scans: {_arrow_scan.IMPLEMENTATION}; builder: {'c' if builder else 'none'}; batch {mb:.1f} MB")
    print(f"pymongoarrow alone                {mb / t_alone:7.1f} MB/s")
    print(f"convert_buffer with pymongoarrow  {mb / t_pma:7.1f} MB/s  x{t_alone / t_pma:.2f} of it alone")
    if builder is not None:
        t_built = best(lambda: converter.convert_buffer(buf), args.repeat)
        print(f"convert_buffer with the builder   {mb / t_built:7.1f} MB/s  x{t_alone / t_built:.2f} of it")

if __name__ == "__main__":
    main()
