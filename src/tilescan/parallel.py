"""Ordered, memory-bounded parallel map over a stream (used by prepare and features)."""
from __future__ import annotations

import itertools
import multiprocessing
from typing import Callable, Iterable, Iterator, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


def chunked_map(func: Callable[[In], Out], items: Iterable[In], workers: int, chunk: int = 256
                ) -> Iterator[tuple[In, Out]]:
    """Yield (item, func(item)) in input order. At most `chunk` items are in flight, so memory stays bounded
    whatever the stream's length (Pool.imap would read the whole stream ahead). Workers are spawned, not
    forked: the stream may have started TensorFlow (tfrecord input), which does not survive a fork. `func`
    must therefore be importable (defined in a module, not in a stage script)."""
    stream = iter(items)
    pool = multiprocessing.get_context("spawn").Pool(workers) if workers > 1 else None
    try:
        while batch := list(itertools.islice(stream, chunk)):
            results = pool.map(func, batch) if pool else [func(item) for item in batch]
            yield from zip(batch, results)
    finally:
        if pool:
            pool.terminate()
