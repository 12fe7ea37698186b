"""Prepared tiles on disk (uint8 .npy, memory-mapped) and the tf.data pipelines that stream them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tilescan import paths
from tilescan.errors import TilescanError

SPLITS = ("train", "val")


def load_index(path: Path = paths.PREPARED_INDEX) -> pd.DataFrame:
    """The prepared index: one row per tile in (train rows, then val rows) order: id, filename, split, row."""
    if not path.is_file():
        raise TilescanError(f"{path}: prepared index not found (run the prepare stage)")
    return pd.read_csv(path, dtype={"id": str, "filename": str, "split": str, "row": np.int64})


def load_dropped() -> pd.DataFrame:
    """The tiles prepare left out (mostly black or unreadable): id, filename, split, reason."""
    if not paths.PREPARED_DROPPED.is_file():
        raise TilescanError(f"{paths.PREPARED_DROPPED}: not found (run the prepare stage)")
    return pd.read_csv(paths.PREPARED_DROPPED, dtype={"id": str, "filename": str, "split": str, "reason": str})


def load_array(path: Path, made_by: str, mmap: bool = False) -> np.ndarray:
    """np.load without pickle; a missing file is a TilescanError naming it and the stage that makes it."""
    if not Path(path).is_file():
        raise TilescanError(f"{path}: not found (run the {made_by} stage: dvc repro)")
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def open_split(split: str) -> np.ndarray:
    """Memory-map one split's uint8 array (N, S, S) without reading it."""
    return load_array(paths.split_file(split), "prepare", mmap=True)


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


def tile_reader(index: pd.DataFrame):
    """A function: global position in the index -> that tile's uint8 image (memory-mapped read)."""
    arrays = {split: open_split(split) for split in index["split"].unique()}
    splits, rows = index["split"].to_numpy(), index["row"].to_numpy()
    return lambda position: np.asarray(arrays[splits[position]][rows[position]])
