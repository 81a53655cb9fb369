"""Requests that arrive together share one batch."""

from __future__ import annotations

import asyncio

from recognition.batcher import MicroBatcher


def test_concurrent_submissions_are_grouped_up_to_the_batch_size() -> None:
    batches: list[list[int]] = []

    async def run(items: list[int]) -> list[int]:
        batches.append(items)
        await asyncio.sleep(0.01)
        return [i * 10 for i in items]

    async def scenario() -> list[int]:
        batcher = MicroBatcher(run, max_size=4, max_wait=0.05)
        try:
            return list(await asyncio.gather(*(batcher.submit(i) for i in range(10))))
        finally:
            await batcher.close()

    assert asyncio.run(scenario()) == [i * 10 for i in range(10)]
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(i for b in batches for i in b) == list(range(10))


def test_a_failing_batch_fails_its_callers_and_the_next_batch_runs() -> None:
    calls = 0

    async def run(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("model exploded")
        return items

    async def scenario() -> tuple[BaseException | int, int]:
        batcher = MicroBatcher(run, max_size=8, max_wait=0)
        try:
            first = await asyncio.gather(batcher.submit(1), return_exceptions=True)
            return first[0], await batcher.submit(2)
        finally:
            await batcher.close()

    error, second = asyncio.run(scenario())
    assert isinstance(error, RuntimeError)
    assert second == 2


def test_a_lone_item_runs_at_once_and_announced_ones_are_waited_for() -> None:
    batches: list[list[int]] = []

    async def run(items: list[int]) -> list[int]:
        batches.append(items)
        return items

    async def scenario() -> None:
        batcher = MicroBatcher(run, max_size=8, max_wait=5.0)
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            assert await batcher.submit(1) == 1
            # nothing else was coming: no wait, though max_wait is 5 s
            assert loop.time() - started < 1.0

            async def prepared_then_submitted(item: int, delay: float) -> int:
                with batcher.coming():
                    await asyncio.sleep(delay)  # e.g. decoding in a thread
                return await batcher.submit(item)

            results = await asyncio.gather(
                *(prepared_then_submitted(i, 0.05 * i) for i in (2, 3, 4))
            )
            assert results == [2, 3, 4]
        finally:
            await batcher.close()

    asyncio.run(scenario())
    # the three announced items were waited for and ran together
    assert batches == [[1], [2, 3, 4]]
