"""``mongoarchive stats IN``: document sizes and field shapes per namespace.

Exit status: 0 read to the end; 1 the archive is damaged; 2 usage or I/O errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .._text import printable
from ._common import add_format_argument, add_ns_arguments, is_terminal, open_input

NAME = "stats"
HELP = "document sizes and the shape of the documents (field paths, presence, BSON types) per namespace"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="IN", help="archive (gzip is sniffed), or - for standard input")
    add_format_argument(parser)
    add_ns_arguments(parser)
    parser.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help="analyse the shape of N documents per namespace, drawn uniformly (default: all)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling (default: 0)")


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def _types(types: dict[str, int]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in types.items())


def render_text(report: dict[str, Any]) -> None:
    for ns in report["namespaces"]:
        name = printable(f"{ns['db']}.{ns['collection']}")
        size = ns["size"]
        print(f"{name}: {ns['documents']:,} documents, {_size(ns['bytes'])}")
        if ns["documents"]:
            approx = "" if size["quantiles_exact"] else " (sampled)"
            print(
                f"  size: min {_size(size['min'])}, median {_size(size['median'])}{approx}, "
                f"p99 {_size(size['p99'])}{approx}, max {_size(size['max'])} "
                f"({size['max_of_limit']:.1%} of the 16 MiB limit)"
            )
            print(f"  _id types: {_types(ns['id_types']) or 'none'}")
            print(f"  fields ({ns['analysed']:,} documents analysed):")
            width = max(len(printable(f["path"])) for f in ns["fields"]) if ns["fields"] else 0
            for f in ns["fields"]:
                path = printable(f["path"])
                print(f"    {path:<{width}}  {f['presence']:7.1%}  {printable(_types(f['types']))}")


def render_rich(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    for ns in report["namespaces"]:
        size = ns["size"]
        title = Text(printable(f"{ns['db']}.{ns['collection']}"))
        table = Table(title=title, title_justify="left")
        table.add_column("field")
        table.add_column("present", justify="right")
        table.add_column("BSON types")
        for f in ns["fields"]:
            types = Text(printable(_types(f["types"])))
            table.add_row(Text(printable(f["path"])), f"{f['presence']:.1%}", types)
        console.print(
            Text(
                f"{printable(ns['db'] + '.' + ns['collection'])}: {ns['documents']:,} documents, "
                f"{_size(ns['bytes'])}; size min {_size(size['min'])}, median {_size(size['median'])}, "
                f"p99 {_size(size['p99'])}, max {_size(size['max'])} ({size['max_of_limit']:.1%} of 16 MiB); "
                f"_id: {_types(ns['id_types']) or 'none'}"
            )
        )
        if ns["fields"]:
            console.print(table)


def run(args: argparse.Namespace) -> int:
    from ..stats import stats

    with open_input(args.input, args, "reading") as handle:
        result = stats(
            handle, include=args.ns_include, exclude=args.ns_exclude, sample=args.sample, seed=args.seed
        )
    report = result.to_dict()
    if args.format == "json":
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif is_terminal(sys.stdout):
        render_rich(report)
    else:
        render_text(report)
    return 0
