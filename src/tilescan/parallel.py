"""Ordered, memory-bounded parallel map over a stream (used by prepare and features)."""
from __future__ import annotations

import itertools
import multiprocessing
from typing import Callable, Iterable, Iterator, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


def chunked_map(func: Callable[[In], Out], items: Iterable[In], workers: int, chunk: int = 256
                ) -> Iterator[tuple[In, Out]]:
    """Yield (item, func(item)) in input order. At most two chunks of `chunk` items are in flight, so memory
    stays bounded whatever the stream's length (Pool.imap would read the whole stream ahead); while the workers
    map one chunk, this process reads the next (reading tiles is work too: decoding records, PNGs). Workers are
    spawned, not forked: the stream may have started TensorFlow (tfrecord input), which does not survive a
    fork. `func` must therefore be importable (defined in a module, not in a stage script)."""
    stream = iter(items)
    if workers <= 1:
        for item in stream:
            yield item, func(item)
        return
    pool = multiprocessing.get_context("spawn").Pool(workers)
    try:
        batch = list(itertools.islice(stream, chunk))
        pending = pool.map_async(func, batch) if batch else None
        while pending is not None:
            following = list(itertools.islice(stream, chunk))
            results = pending.get()
            pending = pool.map_async(func, following) if following else None
            yield from zip(batch, results)
            batch = following
    finally:
        pool.terminate()
