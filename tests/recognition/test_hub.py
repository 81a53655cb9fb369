"""Without the Hugging Face Hub (a machine where its requests hang rather than
fail), the default model's first use answers 503 within seconds, saying how to
fix it, instead of waiting for download retries."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).parents[2]

# Runs in a fresh interpreter: conftest sets HF_HUB_OFFLINE=1 in this one, and
# huggingface_hub reads it (and HF_ENDPOINT) once, at import.
SCRIPT = """
import json, sys, time
from starlette.testclient import TestClient
from config import Settings
from server import create_app
from tests import images

settings = Settings(_env_file=None, upload_dir=sys.argv[1])  # the default HF_MODEL
with TestClient(create_app(settings)) as client:
    sent = client.post("/upload/", files={"file": ("car.jpg", images.jpeg(), "image/jpeg")})
    started = time.monotonic()
    answer = client.post(f"/inference/{sent.json()['files'][0]['id']}")
    took = time.monotonic() - started
    health = client.get("/health").json()
print(json.dumps({"status": answer.status_code, "body": answer.json(), "seconds": took,
                  "health": health}))
"""


@contextmanager
def _silent_endpoint() -> Iterator[str]:
    """A loopback server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()
        for connection in held:
            connection.close()
        thread.join(5)


def test_an_unreachable_hub_gives_the_503_within_seconds(tmp_path: Path) -> None:
    with _silent_endpoint() as endpoint:
        env = {k: v for k, v in os.environ.items() if k not in {"HF_HUB_OFFLINE", "HF_TOKEN"}}
        env |= {
            "HF_ENDPOINT": endpoint,
            "HF_HOME": str(tmp_path / "hf-home"),  # an empty cache
            "PYTHONPATH": str(ROOT),
        }
        run = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(tmp_path / "uploads")],
            cwd=tmp_path,  # no .env
            env=env,
            capture_output=True,
            text=True,
            timeout=120,  # far less than the 92 s of download retries, plus start-up
        )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    print(f"the 503 came after {result['seconds']:.1f} s")
    assert result["status"] == 503
    detail = result["body"]["detail"]
    # today's message, with the reason: the Hub's short check gave up
    assert "therealcyberlord/stanford-car-vit-patch16' could not be loaded" in detail
    assert f"the Hugging Face Hub ({endpoint}) did not answer within 5 s" in detail
    assert "set HF_MODEL to a local folder" in detail
    assert result["health"]["recognizer"]["ready"] is False
