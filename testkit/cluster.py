"""A local cluster of real processes: N API replicas (uvicorn) on consecutive
ports and M recognition workers (`python worker.py`), sharing one PostgreSQL
database (JOB_QUEUE=postgres) and either one S3 bucket (SeaweedFS or moto on
loopback; each process then has an UPLOAD_DIR of its own, for its uploads in
flight only) or one shared image folder. Used by the cluster tests,
`scripts/bench cluster`, and `scripts/cluster` (python -m testkit.cluster), which
starts one and keeps it up until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import asyncpg
import httpx2 as httpx

from db.engine import asyncpg_dsn
from testkit.s3 import MotoS3, S3Server, SeaweedS3
from testkit.servers import ROOT, free_port

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
StoreKind = Literal["seaweed", "moto", "folder"]


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    url: str | None = None  # API replicas only

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def jobs(self) -> tuple[set[int], set[int]]:
        """The files this worker took jobs for, and those it finished."""
        text = self.log_text()
        took = {int(n) for n in re.findall(r"took job \d+: file (\d+)", text)}
        finished = {int(n) for n in re.findall(r"finished job \d+: file (\d+)", text)}
        return took, finished

    def kill(self) -> None:
        """SIGKILL: no chance to finish or tidy anything."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=30)


@dataclass
class Cluster:
    folder: Path
    database_url: str
    env: dict[str, str]
    replicas: list[Process] = field(default_factory=list)
    workers: list[Process] = field(default_factory=list)
    s3: S3Server | None = None  # where the images are; None: the shared folder
    bucket: str | None = None

    def upload_dir(self, name: str) -> Path:
        """A process's UPLOAD_DIR: its own with S3, the shared one without."""
        return self.folder / (f"{name}-uploads" if self.s3 else "uploads")

    def objects(self) -> list[str]:
        """Every key in the bucket (S3 only)."""
        assert self.s3 is not None
        assert self.bucket is not None
        return self.s3.keys(self.bucket)

    def start_worker(self) -> Process:
        name = f"worker{len(self.workers) + 1}"
        process = _spawn(name, [sys.executable, str(ROOT / "worker.py")], self)
        self.workers.append(process)
        return process

    def start_replica(self, port: int | None = None) -> Process:
        port = port or free_port()
        name = f"api{len(self.replicas) + 1}"
        command = [sys.executable, "-m", "uvicorn", "server:app", "--port", str(port)]
        process = _spawn(name, [*command, "--log-level", "warning"], self)
        process.url = f"http://127.0.0.1:{port}"
        self.replicas.append(process)
        return process

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        for process in [*self.replicas, *self.workers]:
            while not _ready(process):
                if process.popen.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{process.name} did not start (exit {process.popen.poll()}):\n"
                        + process.log_text()[-3000:]
                    )
                time.sleep(0.1)

    def stop(self) -> None:
        for process in [*self.replicas, *self.workers]:
            if process.popen.poll() is None:
                process.popen.terminate()
        for process in [*self.replicas, *self.workers]:
            try:
                process.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.popen.kill()


def _spawn(name: str, command: list[str], cluster: Cluster) -> Process:
    log = cluster.folder / f"{name}.log"
    env = {**cluster.env, "UPLOAD_DIR": str(cluster.upload_dir(name))}
    with log.open("ab") as out:
        popen = subprocess.Popen(
            command, cwd=cluster.folder, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return Process(name, popen, log)


@contextmanager
def object_store(kind: StoreKind) -> Iterator[S3Server | None]:
    """A real S3 server on loopback for one cluster, or None for the folder."""
    if kind == "folder":
        yield None
        return
    server: MotoS3 | SeaweedS3 = SeaweedS3() if kind == "seaweed" else MotoS3()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _ready(process: Process) -> bool:
    if process.url is None:
        return "worker ready" in process.log_text()
    try:
        return httpx.get(f"{process.url}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def fresh_database(base_url: str | None = None) -> Iterator[str]:
    """A new, empty PostgreSQL database for one cluster, dropped afterwards."""
    from sqlalchemy.engine import make_url

    base = base_url or os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG
    name = f"cars_cluster_{uuid.uuid4().hex[:12]}"

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(asyncpg_dsn(base))
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def cluster(
    folder: Path,
    database_url: str,
    *,
    replicas: int = 2,
    workers: int = 2,
    first_port: int | None = None,
    s3: S3Server | None = None,
    **env: str,
) -> Iterator[Cluster]:
    """Start every process at the same moment (they share a new database: the
    start-up lock keeps them from racing the migrations), wait for all. With
    `s3`, the images go to a new bucket of that server."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = {
        "DATABASE_URL": database_url,
        "JOB_QUEUE": "postgres",
        "RUN_WORKER": "false",  # the workers take the jobs
        "LOG_LEVEL": "info",
        "HF_HUB_OFFLINE": "1",
    }
    bucket = None
    if s3 is not None:
        bucket = s3.new_bucket()
        settings |= {k.upper(): str(v) for k, v in s3.settings_for(bucket).items()}
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **settings, **env}
    running = Cluster(folder, database_url, full_env, s3=s3, bucket=bucket)
    try:
        for index in range(replicas):
            running.start_replica(first_port + index if first_port else None)
        for _ in range(workers):
            running.start_worker()
        running.wait_ready()
        yield running
    finally:
        running.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Start a local cluster until Ctrl-C.")
    parser.add_argument("--replicas", type=int, default=2, help="API replicas (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="recognition workers (default 2)")
    parser.add_argument("--port", type=int, default=8001, help="the first replica's port")
    parser.add_argument("--database-url", default=None, help="default: a new database")
    parser.add_argument("--dir", type=Path, default=None, help="uploads and logs (default: temp)")
    parser.add_argument(
        "--storage",
        choices=["seaweed", "moto", "folder"],
        default="seaweed",
        help="images in SeaweedFS's S3 (default), moto's S3, or one shared folder",
    )
    args = parser.parse_args(argv)
    folder = args.dir or Path(tempfile.mkdtemp(prefix="cars-cluster-"))
    with (
        object_store(args.storage) as s3,
        fresh_database() if args.database_url is None else _given(args.database_url) as url,
        cluster(
            folder, url, replicas=args.replicas, workers=args.workers, first_port=args.port, s3=s3
        ) as c,
    ):
        for process in c.replicas:
            print(f"{process.name}: {process.url}  (log {process.log})")
        for process in c.workers:
            print(f"{process.name}: pid {process.popen.pid}  (log {process.log})")
        images = f"s3://{c.bucket}/cars at {s3.endpoint}" if s3 else str(folder / "uploads")
        print(f"database: {url.split('@')[-1]}; images in {images}; Ctrl-C stops")
        try:
            while all(p.popen.poll() is None for p in [*c.replicas, *c.workers]):
                time.sleep(1)
            print("a process stopped; stopping the cluster", file=sys.stderr)
        except KeyboardInterrupt:
            pass


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    main()
