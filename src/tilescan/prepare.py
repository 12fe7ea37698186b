"""Select the tiles to scan, resize, mark mostly-black ones, and write uint8 arrays that memory-map.

Every readable tile of the kept class is written and scored downstream; the mostly-black mark (index.csv
`black`) only decides which tiles train the autoencoder and what export_clean.drop_black leaves out."""
from __future__ import annotations

import dataclasses
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
from tilescan.readers import TileRef, count_tiles, detect_bit_depth, iter_tiles, list_splits


@dataclass(frozen=True)
class PrepareConfig:
    """prepare's settings, taken from the validated params (tilescan.params): not checked again here."""

    img_size: int
    keep_class: int
    black_level: int
    max_black_fraction: float
    on_unreadable: str = "stop"
    workers: int = 2
    val_fraction: float = 0.2  # held out of train when the input has no val split (tfrecord alone)
    seed: int = 0
    bit_depth: int | str = "auto"  # significant bits of 16-bit data (data.bit_depth); resolved by prepare_dataset


@dataclass
class SplitResult:
    kept: list[TileRef] = field(default_factory=list)     # every tile written, in row order
    black: list[TileRef] = field(default_factory=list)    # those of `kept` that are mostly black
    skipped: list[TileRef] = field(default_factory=list)  # unreadable, not written


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
    stream = iter_tiles(raw_dir, fmt, split, config.keep_class, config.on_unreadable, result.skipped,
                        16 if config.bit_depth == "auto" else config.bit_depth)
    jobs = ((ref, image, config.img_size, config.black_level) for ref, image in stream)
    try:
        with open(raw_rows, "wb") as rows, tqdm(total=total, desc=f"prepare {split}", unit="tile",
                                                  mininterval=2.0) as bar:
            for (ref, *_), (small, black) in chunked_map(_process, jobs, config.workers):
                if black > config.max_black_fraction:
                    result.black.append(ref)
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


def _hold_out(train_rows: list[tuple], out_dir: Path, config: PrepareConfig) -> list[tuple]:
    """Move a deterministic share (config.val_fraction, drawn with config.seed) of the prepared train tiles to
    a val split, as Keras' validation_split would (but drawn at random, not the last tiles: records come
    grouped by file). Rewrites train.npy and writes val.npy; returns the index rows, train then val."""
    n = len(train_rows)
    n_val = min(max(1, round(n * config.val_fraction)), n - 1)
    if n < 2:
        raise TilescanError(f"data.raw_dir: {n} training tile(s) kept: too few to hold out a validation share "
                            "(data.val_fraction); add tiles or a cv10/test10 npy pair")
    is_val = np.zeros(n, dtype=bool)
    is_val[np.random.default_rng(config.seed).choice(n, n_val, replace=False)] = True
    train_npy, val_npy = out_dir / split_file("train").name, out_dir / split_file("val").name
    everything = np.load(train_npy, mmap_mode="r")
    np.save(val_npy, everything[is_val], allow_pickle=False)
    np.save(train_npy.with_suffix(".kept.npy"), everything[~is_val], allow_pickle=False)
    del everything
    train_npy.with_suffix(".kept.npy").replace(train_npy)
    rows = {"train": [], "val": []}
    for (tile_id, filename, _, _, black), val in zip(train_rows, is_val):
        split = "val" if val else "train"
        rows[split].append((tile_id, filename, split, len(rows[split]), black))
    return rows["train"] + rows["val"]


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
    index lists every readable tile (id, filename, split, row, black: 1 = mostly black), dropped the
    unreadable ones that on_unreadable=skip left out (id, filename, split, reason)."""
    splits = list_splits(raw_dir, fmt)
    bit_depth, depth_from = ((config.bit_depth, "data.bit_depth") if config.bit_depth != "auto"
                             else detect_bit_depth(raw_dir, fmt, config.keep_class))
    config = dataclasses.replace(config, bit_depth=bit_depth)
    held_out = "val" not in splits and fmt == "tfrecord"
    index_rows, dropped_rows, counts = [], [], {}
    for split in SPLITS:
        if split not in splits and not held_out:
            raise TilescanError(f"data.raw_dir: {raw_dir} has no {split} split (format {fmt})")
        if split not in splits:
            index_rows = _hold_out(index_rows, out_dir, config)
            n_val = sum(row[2] == "val" for row in index_rows)
            n_val_black = sum(row[2] == "val" and row[4] for row in index_rows)
            counts["train"]["kept"] -= n_val
            counts["train"]["dropped_black"] -= n_val_black
            counts["val"] = {"read": n_val, "kept": n_val, "dropped_black": n_val_black, "skipped_unreadable": 0}
            continue
        result = prepare_split(raw_dir, fmt, split, config, out_dir / split_file(split).name)
        if len(result.kept) == len(result.black):
            raise TilescanError(f"data.raw_dir: no {split} tiles of class {config.keep_class} to train the "
                                f"autoencoder: {len(result.black)} are mostly-black and {len(result.skipped)} "
                                "unreadable (check prepare.keep_class / prepare.max_black_fraction)")
        black = {ref.id for ref in result.black}
        index_rows += [(ref.id, ref.filename, split, row, int(ref.id in black)) for row, ref in enumerate(result.kept)]
        dropped_rows += [(ref.id, ref.filename, split, "unreadable") for ref in result.skipped]
        counts[split] = {"read": len(result.kept) + len(result.skipped),
                         "kept": len(result.kept), "dropped_black": len(result.black),
                         "skipped_unreadable": len(result.skipped)}
    _require_unique_ids(index_rows + dropped_rows)
    index = pd.DataFrame(index_rows, columns=["id", "filename", "split", "row", "black"])
    dropped = pd.DataFrame(dropped_rows, columns=["id", "filename", "split", "reason"])
    skipped = [row[0] for row in dropped_rows if row[3] == "unreadable"]
    validation = ({"source": "held out of train", "fraction": config.val_fraction, "seed": config.seed}
                  if held_out else {"source": "val split"})
    metrics = {"format": fmt, "img_size": config.img_size, "splits": counts, "skipped_ids": skipped,
               "validation": validation, "bit_depth": {"used": bit_depth, "from": depth_from}}
    return index, dropped, metrics
