"""What every layout yields: a tile's reference, how to load its pixels, and the interface a layout module has."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol

import numpy as np

DDSM_CLASSES = range(5)  # 0 normal, 1..4 abnormal: a label outside is refused, never silently left out


@dataclass(frozen=True)
class TileRef:
    id: str  # tile id, unique across the dataset
    filename: str  # image path relative to raw_dir, or "training10_0.tfrecords#17" style
    split: str  # "train" or "val"
    label: int  # class (0 normal, 1..4 abnormal)


Entry = tuple[TileRef, Callable[[], np.ndarray]]  # a tile's reference and how to load its pixels


class Layout(Protocol):
    """A raw dataset layout: a module (png_csv, npy, tfrecord) with these three functions."""

    def splits(self, raw_dir: Path) -> list[str]:
        """The splits ("train", "val") that raw_dir holds, train first."""

    def entries(self, raw_dir: Path, split: str) -> Iterator[Entry]:
        """Every tile of split, in file order, unread."""

    def count(self, raw_dir: Path, split: str, keep_class: int | None) -> int | None:
        """How many tiles of keep_class (None = all) entries yields, when cheap to tell; else None."""
