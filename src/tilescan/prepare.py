"""Select the tiles to scan, drop mostly-black ones, resize, and write uint8 arrays that memory-map."""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from skimage.transform import resize
from tqdm import tqdm

from tilescan.artifacts import SPLITS, split_file
from tilescan.errors import TilescanError
from tilescan.parallel import chunked_map
from tilescan.readers import TileRef, count_tiles, iter_tiles, list_splits


@dataclass(frozen=True)
class PrepareConfig:
    """prepare's settings, taken from the validated params (tilescan.params): not checked again here."""

    img_size: int
    keep_class: int
    black_level: int
    max_black_fraction: float
    on_unreadable: str = "stop"
    workers: int = 2


@dataclass
class SplitResult:
    kept: list[TileRef] = field(default_factory=list)
    black: list[TileRef] = field(default_factory=list)
    skipped: list[TileRef] = field(default_factory=list)


def black_fraction(image: np.ndarray, black_level: int) -> float:
    """Share of pixels darker than black_level."""
    return float(np.mean(image < black_level))


def resize_tile(image: np.ndarray, img_size: int) -> np.ndarray:
    """Anti-aliased resize of a uint8 tile to img_size x img_size, back to uint8."""
    if image.shape == (img_size, img_size):
        return image
    out = resize(image, (img_size, img_size), order=1, anti_aliasing=True, preserve_range=True)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _process(job: tuple[TileRef, np.ndarray, int, int]) -> tuple[np.ndarray, float]:
    _, image, img_size, black_level = job
    return resize_tile(image, img_size), black_fraction(image, black_level)


def prepare_split(raw_dir: Path, fmt: str, split: str, config: PrepareConfig, out_npy: Path) -> SplitResult:
    """Stream one split from raw_dir into out_npy (uint8, N x S x S); return what was kept and dropped."""
    result = SplitResult()
    raw_rows = out_npy.with_suffix(".rows")
    total = count_tiles(raw_dir, fmt, split, config.keep_class)
    stream = iter_tiles(raw_dir, fmt, split, config.keep_class, config.on_unreadable, result.skipped)
    jobs = ((ref, image, config.img_size, config.black_level) for ref, image in stream)
    try:
        with open(raw_rows, "wb") as rows, tqdm(total=total, desc=f"prepare {split}", unit="tile",
                                                  mininterval=2.0) as bar:
            for (ref, *_), (small, black) in chunked_map(_process, jobs, config.workers):
                if black > config.max_black_fraction:
                    result.black.append(ref)
                else:
                    rows.write(small.tobytes())
                    result.kept.append(ref)
                bar.update()
        _rows_to_npy(raw_rows, out_npy, len(result.kept), config.img_size)
    finally:
        raw_rows.unlink(missing_ok=True)
    return result


def _rows_to_npy(raw_rows: Path, out_npy: Path, n: int, img_size: int) -> None:
    """Prefix the raw uint8 rows with a .npy header, streaming (the count is known only at the end)."""
    header = {"descr": "|u1", "fortran_order": False, "shape": (n, img_size, img_size)}
    with open(out_npy, "wb") as out, open(raw_rows, "rb") as rows:
        np.lib.format.write_array_header_1_0(out, header)
        shutil.copyfileobj(rows, out, length=1 << 22)


def _require_unique_ids(rows: list[tuple]) -> None:
    """Every later stage finds a tile by its id: an id given to two tiles (e.g. a tfrecord `filename` equal to
    an npy pair's `test10-3`) is refused, naming both."""
    first: dict[str, str] = {}
    for tile_id, filename, *_ in rows:
        if tile_id in first:
            raise TilescanError(f"data.raw_dir: tile id {tile_id!r} is given to two tiles: {first[tile_id]} and "
                                f"{filename}")
        first[tile_id] = filename


def prepare_dataset(raw_dir: Path, fmt: str, config: PrepareConfig, out_dir: Path
                    ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Prepare the train and val splits of raw_dir into out_dir/<split>.npy; return (index, dropped, metrics):
    index lists the kept tiles (id, filename, split, row), dropped the others (id, filename, split, reason)."""
    splits = list_splits(raw_dir, fmt)
    index_rows, dropped_rows, counts = [], [], {}
    for split in SPLITS:
        if split not in splits:
            raise TilescanError(f"data.raw_dir: {raw_dir} has no {split} split (format {fmt})")
        result = prepare_split(raw_dir, fmt, split, config, out_dir / split_file(split).name)
        if not result.kept:
            raise TilescanError(f"data.raw_dir: no {split} tiles of class {config.keep_class} left after "
                                f"dropping {len(result.black)} mostly-black and {len(result.skipped)} "
                                "unreadable tiles (check prepare.keep_class / prepare.max_black_fraction)")
        index_rows += [(ref.id, ref.filename, split, row) for row, ref in enumerate(result.kept)]
        dropped_rows += [(ref.id, ref.filename, split, "black") for ref in result.black]
        dropped_rows += [(ref.id, ref.filename, split, "unreadable") for ref in result.skipped]
        counts[split] = {"read": len(result.kept) + len(result.black) + len(result.skipped),
                         "kept": len(result.kept), "dropped_black": len(result.black),
                         "skipped_unreadable": len(result.skipped)}
    _require_unique_ids(index_rows + dropped_rows)
    index = pd.DataFrame(index_rows, columns=["id", "filename", "split", "row"])
    dropped = pd.DataFrame(dropped_rows, columns=["id", "filename", "split", "reason"])
    skipped = [row[0] for row in dropped_rows if row[3] == "unreadable"]
    metrics = {"format": fmt, "img_size": config.img_size, "splits": counts, "skipped_ids": skipped}
    return index, dropped, metrics
