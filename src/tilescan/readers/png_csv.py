"""png_csv, the research notebook's layout: train_images/<id>.png listed by training_data.csv (split "train"),
test_images/ by test_data.csv ("val")."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
from PIL import Image

from tilescan.artifacts import read_csv
from tilescan.errors import TilescanError, require
from tilescan.readers._types import Entry, TileRef
from tilescan.readers.gray8 import pil_to_array, to_gray8

SPLITS = {"train": ("training_data.csv", "train_images"), "val": ("test_data.csv", "test_images")}
REQUIRED_COLUMNS = ("id", "class")


# The layout interface (readers._types.Layout): splits, entries, count.

def splits(raw_dir: Path) -> list[str]:
    return [split for split, (csv, _) in SPLITS.items() if (raw_dir / csv).is_file()]


def entries(raw_dir: Path, split: str) -> Iterator[Entry]:
    csv, image_dir = SPLITS[split]
    for tile_id, label in _read_split_tables(raw_dir)[split]:
        filename = f"{image_dir}/{tile_id}.png"
        ref = TileRef(id=tile_id, filename=filename, split=split, label=label)
        yield ref, functools.partial(load_image, raw_dir / filename, csv)


def count(raw_dir: Path, split: str, keep_class: int | None) -> int:
    rows = _read_split_tables(raw_dir)[split]
    return sum(1 for _, label in rows if keep_class is None or label == keep_class)


def read_png(path: Path) -> np.ndarray:
    """Return the image file at path as a 2-D uint8 array; unreadable or missing → TilescanError naming it."""
    try:
        return to_gray8(load_image(Path(path)))
    except TilescanError as exc:
        raise TilescanError(f"{path}: {exc}") from None


def load_image(path: Path, listed_in: str = "") -> np.ndarray:
    """Decode an image file to an array to_gray8 accepts; TilescanError (not naming the file) if it can't."""
    if not path.is_file():
        raise TilescanError("file not found" + (f" (listed in {listed_in})" if listed_in else ""))
    try:
        with Image.open(path) as image:
            image.load()
            return pil_to_array(image)
    except TilescanError:
        raise
    except Exception as exc:  # PIL reports bad files as OSError, SyntaxError, ValueError, EOFError, zlib...
        raise TilescanError(f"not a readable image ({type(exc).__name__}: {exc})") from None


def _read_split_tables(raw_dir: Path) -> dict[str, list[tuple[str, int]]]:
    """Return each split's (id, class) rows in CSV order; ids must be unique across all splits."""
    tables: dict[str, list[tuple[str, int]]] = {}
    first_seen: dict[str, Path] = {}
    for split, (csv, _) in SPLITS.items():
        path = raw_dir / csv
        if not path.is_file():
            continue
        tables[split] = _read_id_class_csv(path)
        for tile_id, _ in tables[split]:
            require(tile_id not in first_seen, f"{path}: id {tile_id!r} is also listed in {first_seen.get(tile_id)}")
            first_seen[tile_id] = path
    return tables


def _read_id_class_csv(path: Path) -> list[tuple[str, int]]:
    """Read one split CSV: an optional unnamed pandas index column first, then at least `id` and `class`."""
    frame = read_csv(path, dtype=str)
    columns = list(frame.columns)
    if columns and (columns[0] == "" or columns[0].startswith("Unnamed: 0")):
        frame = frame.iloc[:, 1:]  # the index column pandas.to_csv writes by default
    for column in REQUIRED_COLUMNS:
        require(column in frame.columns, f"{path}: missing required column {column!r} "
                                         f"(has: {', '.join(map(str, frame.columns)) or 'none'})")
    require(len(frame) > 0, f"{path}: no rows")
    ids = frame["id"].str.strip()
    classes = pd.to_numeric(frame["class"].str.strip(), errors="coerce")
    rows = []
    seen: set[str] = set()
    for line, tile_id, value, raw in zip(range(2, len(frame) + 2), ids, classes, frame["class"]):
        where = f"{path}: line {line} (id {tile_id!r})"
        require(tile_id != "" and "/" not in tile_id and "\\" not in tile_id,
                f"{where}: an id must be non-empty and hold no path separator")
        require(tile_id not in seen, f"{path}: duplicate id {tile_id!r} (again at line {line})")
        require(bool(np.isfinite(value)) and float(value).is_integer(),
                f"{where}: class {raw!r} is not an integer")
        seen.add(tile_id)
        rows.append((tile_id, int(value)))
    return rows
