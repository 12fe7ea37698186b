"""The Kaggle DDSM release's numpy arrays: `<prefix>_data.npy` (N x H x W [x 1] uint8) + `<prefix>_labels.npy`.

Arrays are memory-mapped, so a tile is read from disk only when it is loaded. On its own this layout maps
cv10 to split "train" and test10 to "val"; beside tfrecords both pairs form "val" (see tfrecord).
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Iterator

import numpy as np

from tilescan.errors import TilescanError, require
from tilescan.readers._types import DDSM_CLASSES, Entry, TileRef

PREFIXES = ("cv10", "test10")  # in stream order
SPLIT_OF_PREFIX = {"cv10": "train", "test10": "val"}  # when the folder holds only npy files
REMAP_EVERY = 1024  # tiles read through one memory map before it is replaced (see pairs_entries)


def data_file_names() -> list[str]:
    return [f"{prefix}_data.npy" for prefix in PREFIXES]


def present_prefixes(raw_dir: Path) -> list[str]:
    """Return the prefixes of which raw_dir holds a data or a labels file."""
    return [prefix for prefix in PREFIXES
            if (raw_dir / f"{prefix}_data.npy").is_file() or (raw_dir / f"{prefix}_labels.npy").is_file()]


# The layout interface (readers._types.Layout): splits, entries, count.

def splits(raw_dir: Path) -> list[str]:
    return [SPLIT_OF_PREFIX[prefix] for prefix in present_prefixes(raw_dir)]


def entries(raw_dir: Path, split: str) -> Iterator[Entry]:
    prefixes = [prefix for prefix in present_prefixes(raw_dir) if SPLIT_OF_PREFIX[prefix] == split]
    return pairs_entries(raw_dir, prefixes, split)


def count(raw_dir: Path, split: str, keep_class: int | None) -> int:
    prefixes = [prefix for prefix in present_prefixes(raw_dir) if SPLIT_OF_PREFIX[prefix] == split]
    return pairs_count(raw_dir, prefixes, keep_class)


def pairs_entries(raw_dir: Path, prefixes: list[str], split: str) -> Iterator[Entry]:
    """Yield every tile of the given pairs in order, with ids `<prefix>-<i>`.

    Every page read through a memory map stays in this process's resident set until the map is closed, so a
    fresh map replaces the old one every REMAP_EVERY tiles: memory stays bounded whatever the file's size.
    """
    for prefix in prefixes:
        data, labels = _open_pair(raw_dir, prefix)
        for index, label in enumerate(labels):
            if index and index % REMAP_EVERY == 0:
                data = _load(raw_dir / f"{prefix}_data.npy")
            ref = TileRef(id=f"{prefix}-{index}", filename=f"{prefix}_data.npy#{index}", split=split, label=label)
            yield ref, functools.partial(_copy_tile, data, index)


def pairs_count(raw_dir: Path, prefixes: list[str], keep_class: int | None) -> int:
    total = 0
    for prefix in prefixes:
        labels = _open_pair(raw_dir, prefix)[1]
        total += len(labels) if keep_class is None else labels.count(keep_class)
    return total


def _copy_tile(data: np.ndarray, index: int) -> np.ndarray:
    return np.array(data[index])  # a copy, so the tile does not keep the memory map open


def _open_pair(raw_dir: Path, prefix: str) -> tuple[np.ndarray, list[int]]:
    """Return (memory-mapped data, labels as ints) after checking that they belong together."""
    data_path, labels_path = raw_dir / f"{prefix}_data.npy", raw_dir / f"{prefix}_labels.npy"
    for path, other in ((data_path, labels_path), (labels_path, data_path)):
        require(path.is_file(), f"{path}: missing (it must accompany {other})")
    data, labels = _load(data_path), _load(labels_path)
    require(data.ndim in (3, 4), f"{data_path}: expected N x H x W or N x H x W x C tiles, got shape {data.shape}")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    require(labels.ndim == 1, f"{labels_path}: expected N class labels, got shape {labels.shape}")
    require(len(data) == len(labels),
            f"{data_path} holds {len(data)} tiles but {labels_path} holds {len(labels)} labels")
    labels = np.asarray(labels)
    integral = labels.dtype.kind in "iu" or (
        labels.dtype.kind == "f" and bool(np.isfinite(labels).all()) and bool((labels == np.round(labels)).all()))
    require(integral, f"{labels_path}: labels must be integer classes, got dtype {labels.dtype}")
    classes = [int(label) for label in labels.tolist()]
    outside = [position for position, label in enumerate(classes) if label not in DDSM_CLASSES]
    if outside:
        raise TilescanError(f"{labels_path}: {len(outside)} label(s) outside the DDSM classes 0-4 (first: "
                            f"{classes[outside[0]]} at position {outside[0]})")
    return data, classes


def _load(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise TilescanError(f"{path}: not a readable .npy array ({type(exc).__name__}: {exc})") from None
