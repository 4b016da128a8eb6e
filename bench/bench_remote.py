"""obstore beside s3fs (fsspec) against moto's S3 server on 127.0.0.1, run by hand (never a test).

For each library a fresh subprocess imports it, streams an object of SIZE MiB
in 1 MiB reads, then writes SIZE MiB by multipart upload; it reports its
import time, read and write seconds and peak RSS.  The same run measures a
reference: ``python -c pass`` for import time and RSS, and boto3's streaming
GET and ``upload_fileobj`` for throughput.  Printed as a Markdown table of
ratios (docs/object-storage.md).  moto is a Python server: it, not the
client, bounds the throughput, so the throughput ratios say "as fast as the
server allows", not a client's top speed.

    nice python bench/bench_remote.py [--size MIB] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from s3server import S3Server

CHILD = r"""
import json, os, sys, time
lib, url, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
if lib == "obstore":
    import obstore
    from obstore.store import from_url
elif lib == "s3fs":
    import s3fs
elif lib == "boto3":
    import boto3
elif lib == "none":
    pass
t_import = time.perf_counter() - t0
bucket, key = url[5:].split("/", 1)
data = os.urandom(1 << 20)
read = write = 0.0
if lib != "none":
    t0 = time.perf_counter()
    got = 0
    if lib == "obstore":
        store = from_url(f"s3://{bucket}")
        for chunk in obstore.get(store, key).stream(min_chunk_size=1 << 20):
            got += len(chunk)
    elif lib == "s3fs":
        fs = s3fs.S3FileSystem(endpoint_url=os.environ["AWS_ENDPOINT_URL"])
        with fs.open(f"{bucket}/{key}", "rb", block_size=1 << 20) as fh:
            while piece := fh.read(1 << 20):
                got += len(piece)
    else:
        client = boto3.client("s3")
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        while piece := body.read(1 << 20):
            got += len(piece)
    read = time.perf_counter() - t0
    assert got == size << 20, got
    t0 = time.perf_counter()
    if lib == "obstore":
        with obstore.open_writer(store, key + ".out", buffer_size=8 << 20, max_concurrency=4) as w:
            for _ in range(size):
                w.write(data)
    elif lib == "s3fs":
        with fs.open(f"{bucket}/{key}.out", "wb", block_size=8 << 20) as w:
            for _ in range(size):
                w.write(data)
    else:
        import io

        class Gen(io.RawIOBase):
            left = size
            def readable(self): return True
            def readinto(self, b):
                if not self.left: return 0
                self.left -= 1
                b[: len(data)] = data
                return len(data)
        config = boto3.s3.transfer.TransferConfig(multipart_chunksize=8 << 20, max_concurrency=4)
        client.upload_fileobj(io.BufferedReader(Gen(), 1 << 20), bucket, key + ".out", Config=config)
    write = time.perf_counter() - t0
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forking parent.
with open("/proc/self/status") as fh:
    rss = next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:")) / 1024
print(json.dumps({"import": t_import, "read": read, "write": write, "rss": rss}))
"""


VERB = r"""
import sys
from mongoarchive.cli import main
status = main(sys.argv[1:])
with open("/proc/self/status") as fh:
    rss = next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:")) / 1024
print(status, rss, file=sys.stderr)
"""


def verb_rss(argv: list[str], env: dict[str, str]) -> float:
    """Peak RSS (MiB) of ``mongoarchive ARGV`` run in a fresh process."""
    child = [sys.executable, "-c", VERB, *argv]
    quiet = subprocess.DEVNULL
    out = subprocess.run(child, env=env, check=True, stdout=quiet, stderr=subprocess.PIPE, text=True)
    status, rss = out.stderr.strip().splitlines()[-1].split()
    assert status in ("0", "1"), out.stderr
    return float(rss)


def verbs(server: S3Server, env: dict[str, str], size: int) -> None:
    """Peak RSS of check, cat and filter on an archive of SIZE MiB, from S3 and from a local file."""
    import tempfile

    import bson

    import mongoarchive

    with tempfile.TemporaryDirectory() as tmp:
        local = os.path.join(tmp, "big.archive")
        with mongoarchive.open(local, "w", server_version="7.0.14") as writer:
            ns = writer.add_collection("db", "c", {"indexes": []})
            for i in range(size * 4):
                ns.write({"_id": i, "blob": bson.Binary(os.urandom(256 << 10))})
        server.client().upload_file(local, "bench", "big.archive")
        url = "s3://bench/big.archive"
        rows = [
            ("check", ["check", url], ["check", local]),
            ("cat --bson", ["cat", "--bson", url], ["cat", "--bson", local]),
            ("filter", ["filter", url, "s3://bench/out.archive"], ["filter", local, local + ".out"]),
        ]
        print(f"\narchive {size} MiB: peak RSS (VmHWM) of the verb, from S3 and from a local file\n")
        print("| verb | S3 (MiB) | local file (MiB) | S3 / local |")
        print("|---|---|---|---|")
        for name, remote_argv, local_argv in rows:
            remote = verb_rss([*remote_argv], env)
            here = verb_rss([*local_argv], env)
            print(f"| {name} | {remote:.0f} | {here:.0f} | {remote / here:.2f} |")


def measure(lib: str, url: str, size: int, env: dict[str, str]) -> dict[str, float]:
    argv = [sys.executable, "-c", CHILD, lib, url, str(size)]
    out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="object size in MiB (default 64)")
    parser.add_argument("--runs", type=int, default=3, help="runs per library; the best is kept")
    parser.add_argument("--verb-size", type=int, default=256, help="archive size for the verb rows, MiB")
    args = parser.parse_args()
    server = S3Server()
    try:
        env = {**os.environ, **server.env()}
        client = server.client()
        client.create_bucket(Bucket="bench")
        client.put_object(Bucket="bench", Key="object", Body=os.urandom(args.size << 20))
        url = "s3://bench/object"
        results: dict[str, dict[str, float]] = {}
        for lib in ("none", "boto3", "obstore", "s3fs"):
            runs = [measure(lib, url, args.size, env) for _ in range(args.runs)]
            results[lib] = {k: min(r[k] for r in runs) for k in runs[0]}
        report(results, args)
        verbs(server, env, args.verb_size)
    finally:
        server.stop()


def report(results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    base, ref = results["none"], results["boto3"]
    print(f"object {args.size} MiB, best of {args.runs}; reference: python -c pass, boto3\n")
    print("| library | import (s) | import / boto3 | peak RSS (MiB) | RSS / bare python "
          "| read MiB/s | read / boto3 | write MiB/s | write / boto3 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for lib in ("boto3", "obstore", "s3fs"):
        r = results[lib]
        read_speed, write_speed = args.size / r["read"], args.size / r["write"]
        print(
            f"| {lib} | {r['import']:.3f} | {r['import'] / ref['import']:.2f} "
            f"| {r['rss']:.0f} | {r['rss'] / base['rss']:.1f}x "
            f"| {read_speed:.0f} | {ref['read'] / r['read']:.2f} "
            f"| {write_speed:.0f} | {ref['write'] / r['write']:.2f} |"
        )
    print(f"\nbare python: peak RSS {base['rss']:.0f} MiB")


if __name__ == "__main__":
    main()
