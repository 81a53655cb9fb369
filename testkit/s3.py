"""Real S3 servers on loopback for the tests and the storage benchmark:
moto's in-process server, quick to start, and SeaweedFS's `weed`, a real object
store in its own process. Both bind 127.0.0.1 on free ports."""

from __future__ import annotations

import json
import logging
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, BinaryIO

import boto3
from botocore.config import Config as BotoConfig
from moto.server import ThreadedMotoServer

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key"
REGION = "us-east-1"


class S3Server:
    """What a test needs from either server: its endpoint and a client."""

    endpoint: str

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=BotoConfig(retries={"max_attempts": 2}),
        )

    def new_bucket(self) -> str:
        name = f"cars-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        """Every key in the bucket, prefix included."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def settings_for(self, bucket: str, prefix: str = "cars") -> dict[str, Any]:
        return {
            "storage_url": f"s3://{bucket}/{prefix}",
            "s3_endpoint_url": self.endpoint,
            "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY,
            "aws_region": REGION,
        }


class MotoS3(S3Server):
    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)

    def start(self) -> None:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.stop()


class SeaweedS3(S3Server):
    """`weed server` with a master, a volume server, a filer and the S3 gateway.
    Each listens on an HTTP port and a gRPC one 10,000 higher, so the HTTP ports
    are picked at or below 55535."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="weed-"))
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        weed = Path(sys.executable).parent / "weed"
        if not weed.exists():
            weed = Path(shutil.which("weed") or "weed")
        master, volume, filer, s3 = _free_port_pairs(4)
        identities = self.folder / "identities.json"
        identities.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "tests",
                            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        (self.folder / "data").mkdir()
        with (self.folder / "weed.log").open("wb") as log:
            self._process = self._spawn(weed, log, master, volume, filer, s3, identities)
        self.endpoint = f"http://127.0.0.1:{s3}"
        deadline = time.monotonic() + timeout
        while True:  # ready once a bucket can be made and written to
            try:
                bucket = self.new_bucket()
                self.client().put_object(Bucket=bucket, Key="probe", Body=b"ok")
                self.client().delete_object(Bucket=bucket, Key="probe")
                return
            except Exception as exc:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    tail = (self.folder / "weed.log").read_text(errors="replace")[-2000:]
                    self.stop()
                    raise RuntimeError(f"weed did not start:\n{tail}") from exc
                time.sleep(0.5)

    @staticmethod
    def _spawn(
        weed: Path, log: BinaryIO, master: int, volume: int, filer: int, s3: int, identities: Path
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                str(weed),
                "server",
                f"-dir={identities.parent / 'data'}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-master.port={master}",
                f"-volume.port={volume}",
                "-filer",
                f"-filer.port={filer}",
                "-s3",
                f"-s3.port={s3}",
                f"-s3.config={identities}",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-master.telemetry=false",
                # Small volumes, many allowed: each bucket is a collection with
                # volumes of its own, and the default 30 GB ones run out of "disk".
                "-master.volumeSizeLimitMB=64",
                "-volume.max=100",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:  # it may take its time to flush
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def _free_port_pairs(count: int) -> list[int]:
    """`count` ports P, each free along with P + 10000, all at or below 55535."""
    chosen: list[int] = []
    while len(chosen) < count:
        port = random.randint(20000, 55535)
        if port in chosen or port + 10000 in chosen or port - 10000 in chosen:
            continue
        if _free(port) and _free(port + 10000):
            chosen.append(port)
    return chosen


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
