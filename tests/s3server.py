"""A real S3-compatible server on 127.0.0.1 for the object-storage tests: moto in server mode.

``S3Server`` starts ``python -m moto.server`` as a subprocess on a free port
and stops it at the end; ``env()`` is what a client needs (fake credentials,
the endpoint, plain HTTP), set by the ``s3`` fixture for one test only.  With
``auth=True`` moto checks signatures and IAM policies after its first
``free_actions`` requests (moto's INITIAL_NO_AUTH_ACTION_COUNT), which is how a
bucket without permission is made.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

FAKE_KEY = "AKIAFAKEMONGOARCHIVE"
FAKE_SECRET = "fake-secret-never-printed-0123456789"
REGION = "us-east-1"


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a test server, killing it if it has not exited within 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class S3Server:
    """moto's S3 server in a subprocess; ``client()`` is a boto3 client on it, for assertions."""

    def __init__(self, *, auth: bool = False, free_actions: int = 0) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "AWS_ACCESS_KEY_ID": FAKE_KEY, "AWS_SECRET_ACCESS_KEY": FAKE_SECRET}
        if auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(free_actions)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)

    def env(self, key: str = FAKE_KEY, secret: str = FAKE_SECRET) -> dict[str, str]:
        """The environment a client of this server needs (obstore and boto3 read the same names)."""
        return {
            "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
        }

    def client(self, key: str = FAKE_KEY, secret: str = FAKE_SECRET) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            region_name=REGION,
        )

    def reset(self) -> None:
        """Forget every bucket (moto's reset endpoint)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self) -> None:
        stop_process(self.proc)


def keys(client: Any, bucket: str) -> list[str]:
    """Every object key in ``bucket``."""
    return [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def uploads(client: Any, bucket: str) -> list[str]:
    """Keys of the multipart uploads started and neither completed nor aborted."""
    return [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
