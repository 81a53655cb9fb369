"""The object-store contract, the same for the folder and for real S3 servers
(moto's, and SeaweedFS's `weed`)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config import Settings
from storage.local import LocalObjects
from storage.objects import (
    ObjectStore,
    image_key,
    sha_of,
    thumbnail_key,
    thumbnails_prefix,
)
from storage.s3 import S3Objects
from testkit.s3 import S3Server

Scenario = Callable[[ObjectStore, Path], Awaitable[None]]


@pytest.fixture(params=["folder", "moto", "seaweed"])
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Scenario], None]:
    """Runs a scenario against a fresh store of the kind named by the parameter."""

    def make() -> ObjectStore:
        if request.param == "folder":
            return LocalObjects(tmp_path / "uploads")
        server: S3Server = request.getfixturevalue(f"{request.param}_s3")
        settings = Settings(
            _env_file=None,
            upload_dir=tmp_path / "uploads",
            **server.settings_for(server.new_bucket()),
        )
        return S3Objects(settings)

    store = make()

    def go(scenario: Scenario) -> None:
        async def body() -> None:
            await store.start()
            await scenario(store, tmp_path)

        asyncio.run(body())

    return go


def _file(folder: Path, data: bytes) -> tuple[Path, str]:
    path = folder / f"{hashlib.sha256(data).hexdigest()[:8]}.bin"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


async def _read(store: ObjectStore, key: str) -> bytes | None:
    opened = await store.open(key)
    if opened is None:
        return None
    try:
        return b"".join([chunk async for chunk in opened.chunks()])
    finally:
        await opened.close()


async def _keys(store: ObjectStore, prefix: str) -> list[str]:
    return sorted([info.key async for batch in store.scan(prefix) for info in batch])


def test_put_then_read_back_streamed_in_chunks(run: Callable[[Scenario], None]) -> None:
    data = os.urandom(700 * 1024)  # several chunks

    async def scenario(store: ObjectStore, tmp: Path) -> None:
        source, sha = _file(tmp, data)
        await store.put(image_key(sha), source)
        assert source.read_bytes() == data  # the caller's file is left alone
        opened = await store.open(image_key(sha))
        assert opened is not None
        assert opened.size == len(data)
        chunks = [chunk async for chunk in opened.chunks()]
        await opened.close()
        assert len(chunks) > 1
        assert b"".join(chunks) == data
        assert await store.exists(image_key(sha))

    run(scenario)


def test_missing_objects_read_as_none_and_delete_quietly(run: Callable[[Scenario], None]) -> None:
    key = image_key("ab" * 32)

    async def scenario(store: ObjectStore, tmp: Path) -> None:
        assert await store.open(key) is None
        assert not await store.exists(key)
        await store.delete(key)  # nothing there: no error
        async with store.local_file(key) as path:
            assert path is None

    run(scenario)


def test_put_replaces_and_delete_removes(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: ObjectStore, tmp: Path) -> None:
        first, sha = _file(tmp, b"first version")
        second = tmp / "second"
        second.write_bytes(b"second version, longer")
        key = thumbnail_key(sha, 256)
        await store.put(key, first)
        await store.put(key, second)
        assert await _read(store, key) == b"second version, longer"
        await store.delete(key)
        assert await _read(store, key) is None
        assert not await store.exists(key)

    run(scenario)


def test_scan_lists_keys_under_a_prefix_with_their_age(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: ObjectStore, tmp: Path) -> None:
        before = datetime.now(UTC) - timedelta(seconds=5)
        shas = []
        for i in range(3):
            source, sha = _file(tmp, f"image {i}".encode())
            await store.put(image_key(sha), source)
            await store.put(thumbnail_key(sha, 256), source)
            shas.append(sha)
        await store.put(thumbnail_key(shas[0], 512), source)
        images = await _keys(store, "images/")
        assert images == sorted(image_key(sha) for sha in shas)
        assert await _keys(store, thumbnails_prefix(shas[0])) == [
            thumbnail_key(shas[0], 256),
            thumbnail_key(shas[0], 512),
        ]
        assert len(await _keys(store, "thumbs/")) == 4
        async for batch in store.scan("images/"):
            for info in batch:
                assert sha_of(info.key) in shas
                assert before < info.modified < datetime.now(UTC) + timedelta(seconds=5)

    run(scenario)


def test_local_file_gives_the_bytes_on_this_machine(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: ObjectStore, tmp: Path) -> None:
        source, sha = _file(tmp, b"some image bytes")
        await store.put(image_key(sha), source)
        async with store.local_file(image_key(sha)) as path:
            assert path is not None
            assert path.read_bytes() == b"some image bytes"

    run(scenario)


def test_an_open_object_reads_to_the_end_after_a_delete(run: Callable[[Scenario], None]) -> None:
    data = os.urandom(300 * 1024)

    async def scenario(store: ObjectStore, tmp: Path) -> None:
        source, sha = _file(tmp, data)
        await store.put(image_key(sha), source)
        opened = await store.open(image_key(sha))
        assert opened is not None
        await store.delete(image_key(sha))
        assert b"".join([chunk async for chunk in opened.chunks()]) == data
        await opened.close()
        assert await store.open(image_key(sha)) is None

    run(scenario)


def test_usable_reports_a_writable_store(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: ObjectStore, tmp: Path) -> None:
        assert (await store.usable())[0]

    run(scenario)


def test_a_missing_bucket_stops_start_up_with_its_name(moto_s3: S3Server, tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None, upload_dir=tmp_path, **moto_s3.settings_for("no-such-bucket")
    )
    store = S3Objects(settings)
    with pytest.raises(RuntimeError, match="no-such-bucket"):
        asyncio.run(store.start())
