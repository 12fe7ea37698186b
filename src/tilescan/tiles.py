"""The tf.data pipeline that streams prepared tiles (uint8 .npy, memory-mapped) to the autoencoder."""
from __future__ import annotations

import numpy as np


def sample_rows(rows: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """rows when there are at most `limit`, else a seeded sample of `limit` of them, in their order: the work
    that follows stays bounded whatever the dataset's size."""
    rows = np.asarray(rows)
    if len(rows) <= limit:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, limit, replace=False))


class RowSubset:
    """Some rows of a (memory-mapped) tile array, read only when indexed: len, shape and [rows] as an array."""

    def __init__(self, tiles: np.ndarray, rows: np.ndarray):
        self.tiles, self.rows = tiles, np.asarray(rows, dtype=np.int64)
        self.shape = (len(self.rows), *tiles.shape[1:])

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, positions) -> np.ndarray:
        return np.asarray(self.tiles[self.rows[positions]])


def tile_dataset(tiles: np.ndarray, batch_size: int, channels: int, shuffle_seed: int | None = None):
    """Batches of float32 (B, S, S, channels) in [0, 1], read from a (memory-mapped) uint8 array.

    Only row indices are shuffled (seeded), so memory stays bounded by a few batches whatever N is.
    """
    import tensorflow as tf

    n, side = len(tiles), tiles.shape[1]
    rows = tf.data.Dataset.range(n)
    if shuffle_seed is not None:
        rows = rows.shuffle(n, seed=shuffle_seed, reshuffle_each_iteration=True)

    def gather(batch_rows: np.ndarray) -> np.ndarray:
        return np.asarray(tiles[batch_rows])

    def to_float(batch_rows):
        batch = tf.numpy_function(gather, [batch_rows], tf.uint8, stateful=False)
        batch = tf.reshape(batch, (-1, side, side, 1))
        batch = tf.cast(batch, tf.float32) / 255.0
        return tf.repeat(batch, channels, axis=-1) if channels > 1 else batch

    return rows.batch(batch_size).map(to_float).prefetch(2)
