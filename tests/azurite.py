"""Azurite, Microsoft's Azure Storage emulator, on 127.0.0.1 for the ``az://`` tests.

``Azurite`` installs the npm package ``azurite`` (pinned) once into a cache
folder, starts its blob service on a free port and stops it at the end;
``env()`` is what obstore needs to talk to it (its emulator mode, with the
emulator's published account and key).  ``create_container`` and ``blobs``
sign their requests with that key (Shared Key, learn.microsoft.com
"Authorize with Shared Key"): no Azure client library is needed.  Without Node.js
and npm the tests skip, saying so.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import http.client
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree
from pathlib import Path

import pytest
from s3server import free_port, stop_process

VERSION = "3.37.0"
#: The emulator's published development account (the same in every Azurite).
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mongoarchive-tests"
_CACHE = _CACHE / f"azurite-{VERSION}"


def _installed() -> Path:
    """The azurite-blob command, installed from the npm registry on first use; skip without npm."""
    blob = _CACHE / "node_modules" / ".bin" / "azurite-blob"
    if blob.exists():
        return blob
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("the az:// tests need Node.js and npm to run Azurite (npm install azurite)")
    _CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [npm, "install", "--prefix", str(_CACHE), "--no-audit", "--no-fund", f"azurite@{VERSION}"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=600,
    )
    return blob


class Azurite:
    """Azurite's blob service in a subprocess, its data in ``folder``."""

    def __init__(self, folder: Path) -> None:
        command = _installed()
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(command), "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location", str(folder),
             "--skipApiVersionCheck", "--silent"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.endpoint}/{ACCOUNT}?comp=list", timeout=1).close()
                break
            except urllib.error.HTTPError:  # it answers (403 without a signature): it is up
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("Azurite did not start") from None
                time.sleep(0.2)

    def env(self) -> dict[str, str]:
        """The environment obstore needs for ``az://container/key`` on this server."""
        return {
            "AZURE_STORAGE_USE_EMULATOR": "true",
            "AZURITE_BLOB_STORAGE_URL": self.endpoint,
            "AZURE_STORAGE_ACCOUNT_NAME": ACCOUNT,
            "AZURE_STORAGE_ACCOUNT_KEY": KEY,
        }

    def _signed(self, method: str, path: str, query: dict[str, str]) -> tuple[int, bytes]:
        """One request signed with the account key (Shared Key): (status, body)."""
        date = email.utils.formatdate(usegmt=True)
        version = "2021-08-06"
        # VERB, eleven standard headers (all empty here; a zero Content-Length is empty too),
        # the x-ms- headers, then the resource: the account, the path, the query sorted.
        to_sign = "\n".join(
            [method, *[""] * 11, f"x-ms-date:{date}", f"x-ms-version:{version}", f"/{ACCOUNT}{path}",
             *(f"{k}:{v}" for k, v in sorted(query.items()))]
        )  # fmt: skip
        digest = hmac.new(base64.b64decode(KEY), to_sign.encode(), hashlib.sha256).digest()
        # http.client, not urllib: urllib would add a Content-Type the signature does not cover.
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(
                method,
                f"{path}?{urllib.parse.urlencode(query)}",
                headers={
                    "x-ms-date": date,
                    "x-ms-version": version,
                    "Content-Length": "0",
                    "Authorization": f"SharedKey {ACCOUNT}:{base64.b64encode(digest).decode()}",
                },
            )
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def create_container(self, name: str) -> None:
        status, body = self._signed("PUT", f"/{ACCOUNT}/{name}", {"restype": "container"})
        if status != 201:
            raise RuntimeError(f"Azurite refused Create Container: {status} {body[:300]!r}")

    def blobs(self, container: str, *, uncommitted: bool = False) -> list[str]:
        """The blob names in ``container``; with ``uncommitted``, also those with only uncommitted
        blocks (an upload under way or left behind: Azure has no call to abort one)."""
        query = {"restype": "container", "comp": "list"}
        if uncommitted:
            query["include"] = "uncommittedblobs"
        status, body = self._signed("GET", f"/{ACCOUNT}/{container}", query)
        if status != 200:
            raise RuntimeError(f"Azurite refused List Blobs: {status} {body[:300]!r}")
        root = xml.etree.ElementTree.fromstring(body)
        return sorted(n.text or "" for n in root.iter("Name"))

    def stop(self) -> None:
        stop_process(self.proc)
