"""Read every supported raw dataset layout as a stream of 2-D uint8 grayscale tiles.

Layouts (`detect_format` picks one): `png_csv` (the research notebook's PNGs + CSVs), `tfrecord` (the Kaggle
DDSM release) and `npy` (the same release's numpy arrays), one module each. Each layout yields
`(TileRef, load)` entries; `iter_tiles` applies the class filter and the stop/skip rule in one place, so a
tile is only decoded when it is kept.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from tilescan.errors import TilescanError, require
from tilescan.readers import npy, png_csv, tfrecord
from tilescan.readers._types import Entry, Layout, TileRef
from tilescan.readers.gray8 import png_sbit, significant_bits, to_gray8

FORMATS = ("png_csv", "tfrecord", "npy")
LAYOUTS: dict[str, Layout] = {"png_csv": png_csv, "tfrecord": tfrecord, "npy": npy}


# ---- public API -------------------------------------------------------------------------------------------

def detect_format(raw_dir: Path) -> str:
    """Return the layout of raw_dir: "tfrecord", "png_csv" or "npy" (checked in that order)."""
    raw_dir = _existing_dir(raw_dir)
    if tfrecord.tfrecord_files(raw_dir):
        return "tfrecord"
    if (raw_dir / png_csv.SPLITS["train"][0]).is_file():
        return "png_csv"
    if npy.present_prefixes(raw_dir):
        return "npy"
    raise TilescanError(
        f"data.raw_dir: {raw_dir} holds no known dataset layout (looked for *.tfrecords, "
        f"{png_csv.SPLITS['train'][0]}, {' or '.join(npy.data_file_names())})")


def resolve_input(raw_dir: str | Path, fmt: str = "auto") -> tuple[Path, str]:
    """(raw_dir, format) from the params data.raw_dir and data.format ("auto" = detect_format)."""
    raw_dir = _existing_dir(Path(raw_dir))
    if fmt == "auto":
        return raw_dir, detect_format(raw_dir)
    return raw_dir, fmt


def list_splits(raw_dir: Path, fmt: str) -> list[str]:
    """Return the splits ("train", "val") that the layout in raw_dir holds, train first."""
    raw_dir = _existing_dir(raw_dir)
    splits = _layout(fmt).splits(raw_dir)
    require(bool(splits), f"data.raw_dir: {raw_dir} holds no {fmt} dataset")
    return splits


def iter_tiles(raw_dir: Path, fmt: str, split: str, keep_class: int | None, on_unreadable: str = "stop",
               skipped: list[TileRef] | None = None, bit_depth: int = 16) -> Iterator[tuple[TileRef, np.ndarray]]:
    """Yield (ref, image) for every tile of split whose class is keep_class (None = all), in file order.

    image is a 2-D uint8 array of the tile's own size. An unreadable tile (missing or corrupt file, bad
    pixel data) raises TilescanError with on_unreadable "stop"; with "skip" its ref is appended to skipped
    (when given) and the stream goes on. A broken container (CSV, tfrecord, npy) always raises.
    on_unreadable and keep_class come from the validated params (tilescan.params); the split is checked now,
    files are read lazily, one tile at a time.
    """
    layout = _layout(fmt)
    _check_split(raw_dir, fmt, split)
    return _stream(Path(raw_dir), layout.entries(Path(raw_dir), split), keep_class, on_unreadable, skipped,
                   bit_depth)


def detect_bit_depth(raw_dir: Path, fmt: str, keep_class: int | None) -> tuple[int, str]:
    """(significant bits of the pixel data, how they were found) for `data.bit_depth: auto`: 8 as soon as a
    tile holds 8-bit pixels; for 16-bit PNGs the first tile's sBIT chunk where present; else the smallest of
    10/12/14/16 bits that holds the maximum pixel value over every tile of keep_class (one extra pass)."""
    raw_dir, layout, depth, first = Path(raw_dir), _layout(fmt), 8, True
    for split in list_splits(raw_dir, fmt):
        for ref, load in layout.entries(raw_dir, split):
            if keep_class is not None and ref.label != keep_class:
                continue
            try:
                bits = significant_bits(np.asarray(load()))
            except TilescanError:
                continue  # an unreadable tile is prepare's to report
            if bits == 8:
                return 8, "8-bit pixels"
            if first and fmt == "png_csv" and (declared := png_sbit(raw_dir / ref.filename)):
                return max(8, min(16, declared)), "PNG sBIT chunk"
            first, depth = False, max(depth, bits)
    return depth, "maximum pixel value over the dataset"


def count_tiles(raw_dir: Path, fmt: str, split: str, keep_class: int | None) -> int | None:
    """Return how many tiles iter_tiles will yield (before skips) when the layout says so cheaply, else None."""
    layout = _layout(fmt)
    _check_split(raw_dir, fmt, split)
    return layout.count(Path(raw_dir), split, keep_class)



# ---- helpers ----------------------------------------------------------------------------------------------

def _layout(fmt: str) -> Layout:
    """Return the module that reads fmt: it has splits(raw_dir), entries(raw_dir, split), count(...)."""
    require(fmt in LAYOUTS, f"data.format: expected one of {', '.join(FORMATS)} "
                            f"(resolve 'auto' with detect_format), got {fmt!r}")
    return LAYOUTS[fmt]


def _existing_dir(raw_dir: Path) -> Path:
    raw_dir = Path(raw_dir)
    require(raw_dir.exists(), f"data.raw_dir: {raw_dir} does not exist")
    require(raw_dir.is_dir(), f"data.raw_dir: {raw_dir} is not a directory")
    return raw_dir


def _check_split(raw_dir: Path, fmt: str, split: str) -> None:
    splits = list_splits(raw_dir, fmt)
    require(split in splits, f"split {split!r}: {fmt} dataset {raw_dir} has only {', '.join(splits)}")


def _stream(raw_dir: Path, entries: Iterator[Entry], keep_class: int | None, on_unreadable: str,
            skipped: list[TileRef] | None, bit_depth: int) -> Iterator[tuple[TileRef, np.ndarray]]:
    for ref, load in entries:
        if keep_class is not None and ref.label != keep_class:
            continue
        try:
            image = to_gray8(load(), bit_depth)
        except TilescanError as exc:
            if on_unreadable == "stop":
                raise TilescanError(f"{raw_dir / ref.filename}: {exc}") from None
            if skipped is not None:
                skipped.append(ref)
            continue
        yield ref, image
