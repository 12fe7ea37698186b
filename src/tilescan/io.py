"""Read every supported raw dataset layout as a stream of 2-D uint8 grayscale tiles.

Layouts (`detect_format` picks one): `png_csv` (the research notebook's PNGs + CSVs, read here),
`tfrecord` (the Kaggle DDSM release, `io_tfrecord`) and `npy` (the same release's numpy arrays, `io_npy`).
Each layout yields `(TileRef, load)` entries; `iter_tiles` applies the class filter and the stop/skip rule
in one place, so a tile is only decoded when it is kept.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd
from PIL import Image

from tilescan.errors import TilescanError, require

FORMATS = ("png_csv", "tfrecord", "npy")
ON_UNREADABLE = ("stop", "skip")
PNG_CSV_SPLITS = {"train": ("training_data.csv", "train_images"), "val": ("test_data.csv", "test_images")}
REQUIRED_COLUMNS = ("id", "class")
# ITU-R 601 luma in 16-bit fixed point, the exact weights and rounding of PIL's convert("L").
_LUMA_WEIGHTS = (19595, 38470, 7471)


@dataclass(frozen=True)
class TileRef:
    id: str  # tile id, unique across the dataset
    filename: str  # image path relative to raw_dir, or "training10_0.tfrecords#17" style
    split: str  # "train" or "val"
    label: int  # class (0 normal, 1..4 abnormal)


Entry = tuple[TileRef, Callable[[], np.ndarray]]  # a tile's reference and how to load its pixels


# ---- public API -------------------------------------------------------------------------------------------

def detect_format(raw_dir: Path) -> str:
    """Return the layout of raw_dir: "tfrecord", "png_csv" or "npy" (checked in that order)."""
    from tilescan import io_npy, io_tfrecord  # they import TileRef from here

    raw_dir = _existing_dir(raw_dir)
    if io_tfrecord.tfrecord_files(raw_dir):
        return "tfrecord"
    if (raw_dir / PNG_CSV_SPLITS["train"][0]).is_file():
        return "png_csv"
    if io_npy.present_prefixes(raw_dir):
        return "npy"
    raise TilescanError(
        f"data.raw_dir: {raw_dir} holds no known dataset layout (looked for *.tfrecords, "
        f"{PNG_CSV_SPLITS['train'][0]}, {' or '.join(io_npy.data_file_names())})")


def resolve_input(raw_dir: str | Path, fmt: str = "auto") -> tuple[Path, str]:
    """(raw_dir, format) from the params data.raw_dir and data.format ("auto" = detect_format)."""
    raw_dir = _existing_dir(Path(raw_dir))
    if fmt == "auto":
        return raw_dir, detect_format(raw_dir)
    if fmt not in FORMATS:
        raise TilescanError(f"data.format must be auto or one of {', '.join(FORMATS)}, got {fmt!r}")
    return raw_dir, fmt


def list_splits(raw_dir: Path, fmt: str) -> list[str]:
    """Return the splits ("train", "val") that the layout in raw_dir holds, train first."""
    raw_dir = _existing_dir(raw_dir)
    splits = _layout(fmt).splits(raw_dir)
    require(bool(splits), f"data.raw_dir: {raw_dir} holds no {fmt} dataset")
    return splits


def iter_tiles(raw_dir: Path, fmt: str, split: str, keep_class: int | None, on_unreadable: str = "stop",
               skipped: list[TileRef] | None = None) -> Iterator[tuple[TileRef, np.ndarray]]:
    """Yield (ref, image) for every tile of split whose class is keep_class (None = all), in file order.

    image is a 2-D uint8 array of the tile's own size. An unreadable tile (missing or corrupt file, bad
    pixel data) raises TilescanError with on_unreadable "stop"; with "skip" its ref is appended to skipped
    (when given) and the stream goes on. A broken container (CSV, tfrecord, npy) always raises.
    Arguments are checked now; files are read lazily, one tile at a time.
    """
    require(on_unreadable in ON_UNREADABLE,
            f"prepare.on_unreadable: expected one of {', '.join(ON_UNREADABLE)}, got {on_unreadable!r}")
    require(keep_class is None or (isinstance(keep_class, (int, np.integer)) and not isinstance(keep_class, bool)),
            f"prepare.keep_class: expected an integer class or null, got {keep_class!r}")
    layout = _layout(fmt)
    _check_split(raw_dir, fmt, split)
    return _stream(Path(raw_dir), layout.entries(Path(raw_dir), split), keep_class, on_unreadable, skipped)


def count_tiles(raw_dir: Path, fmt: str, split: str, keep_class: int | None) -> int | None:
    """Return how many tiles iter_tiles will yield (before skips) when the layout says so cheaply, else None."""
    layout = _layout(fmt)
    _check_split(raw_dir, fmt, split)
    return layout.count(Path(raw_dir), split, keep_class)


def to_gray8(image: np.ndarray | Image.Image) -> np.ndarray:
    """Return image as a 2-D uint8 grayscale array.

    Accepts H x W or H x W x C arrays (C = 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA) of dtype uint8, uint16
    (scaled by 255/65535 and rounded), bool (0/255) or float in [0, 1]; or a PIL image of any mode.
    Colour becomes ITU-R 601 luma exactly as PIL's convert("L") computes it. Alpha is ignored (not
    composited), as PIL's convert("L") does, so transparent pixels keep their stored gray. (PIL itself
    reads 16-bit colour PNGs as 8 bits per channel, keeping the high byte: within 1 level of scaling.)
    """
    array = _pil_to_array(image) if isinstance(image, Image.Image) else np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    require(array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (2, 3, 4)),
            f"expected an H x W or H x W x C image with C in 1..4, got shape {array.shape}")
    require(array.size > 0, f"empty image (shape {array.shape})")
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    kind, size = array.dtype.kind, array.dtype.itemsize
    require((kind == "u" and size in (1, 2)) or kind == "f",
            f"unsupported pixel type {array.dtype}: expected uint8, uint16, bool or float in [0, 1]")
    if kind == "f":
        require(bool(np.isfinite(array).all()) and array.min() >= 0 and array.max() <= 1,
                "float pixels must lie in [0, 1]")
    if array.ndim == 3:
        array = array[:, :, 0] if array.shape[2] == 2 else _luma(array[:, :, :3])
    if kind == "f":
        return np.rint(array * 255).astype(np.uint8)
    if size == 2:
        # round(v * 255 / 65535) = floor((2v + 257) / 514) in integers; v / 257 is never a tie.
        return ((array.astype(np.uint32) * 2 + 257) // 514).astype(np.uint8)
    return np.ascontiguousarray(array, dtype=np.uint8)


def read_png(path: Path) -> np.ndarray:
    """Return the image file at path as a 2-D uint8 array; unreadable or missing → TilescanError naming it."""
    try:
        return to_gray8(_load_image(Path(path)))
    except TilescanError as exc:
        raise TilescanError(f"{path}: {exc}") from None


# ---- shared by the layouts --------------------------------------------------------------------------------

def _layout(fmt: str):
    """Return the module that reads fmt: it has splits(raw_dir), entries(raw_dir, split), count(...)."""
    from tilescan import io_npy, io_tfrecord  # they import TileRef from here

    layouts = {"png_csv": _PngCsv, "tfrecord": io_tfrecord, "npy": io_npy}
    require(fmt in layouts, f"data.format: expected one of {', '.join(FORMATS)} "
                            f"(resolve 'auto' with detect_format), got {fmt!r}")
    return layouts[fmt]


def _existing_dir(raw_dir: Path) -> Path:
    raw_dir = Path(raw_dir)
    require(raw_dir.exists(), f"data.raw_dir: {raw_dir} does not exist")
    require(raw_dir.is_dir(), f"data.raw_dir: {raw_dir} is not a directory")
    return raw_dir


def _check_split(raw_dir: Path, fmt: str, split: str) -> None:
    splits = list_splits(raw_dir, fmt)
    require(split in splits, f"split {split!r}: {fmt} dataset {raw_dir} has only {', '.join(splits)}")


def _stream(raw_dir: Path, entries: Iterator[Entry], keep_class: int | None, on_unreadable: str,
            skipped: list[TileRef] | None) -> Iterator[tuple[TileRef, np.ndarray]]:
    for ref, load in entries:
        if keep_class is not None and ref.label != keep_class:
            continue
        try:
            image = to_gray8(load())
        except TilescanError as exc:
            if on_unreadable == "stop":
                raise TilescanError(f"{raw_dir / ref.filename}: {exc}") from None
            if skipped is not None:
                skipped.append(ref)
            continue
        yield ref, image


def _load_image(path: Path, listed_in: str = "") -> np.ndarray:
    """Decode an image file to an array to_gray8 accepts; TilescanError (not naming the file) if it can't."""
    if not path.is_file():
        raise TilescanError("file not found" + (f" (listed in {listed_in})" if listed_in else ""))
    try:
        with Image.open(path) as image:
            image.load()
            return _pil_to_array(image)
    except TilescanError:
        raise
    except Exception as exc:  # PIL reports bad files as OSError, SyntaxError, ValueError, EOFError, zlib...
        raise TilescanError(f"not a readable image ({type(exc).__name__}: {exc})") from None


def _pil_to_array(image: Image.Image) -> np.ndarray:
    """Return a PIL image's pixels as gray, gray+alpha, RGB or RGBA in uint8/uint16/bool."""
    if image.mode in ("P", "PA"):
        has_alpha = image.mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    elif image.mode not in ("1", "L", "LA", "RGB", "RGBA", "I", "F") and not image.mode.startswith("I;16"):
        image = image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, premultiplied alpha
    array = np.asarray(image)
    if image.mode == "I":  # 32-bit integers; PNG only stores 16 bits in them
        require(array.size == 0 or (array.min() >= 0 and array.max() <= 65535),
                "32-bit integer pixels outside the 16-bit range 0..65535")
        array = array.astype(np.uint16)
    elif image.mode.startswith("I;16"):
        array = array.astype(np.uint16)  # native byte order
    return array


def _luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of an H x W x 3 array, in its own dtype (PIL's fixed-point weights and rounding)."""
    if rgb.dtype.kind == "f":
        weights = np.array(_LUMA_WEIGHTS) / 65536
        return rgb @ weights
    wide = rgb.astype(np.int64)
    luma = (wide[:, :, 0] * _LUMA_WEIGHTS[0] + wide[:, :, 1] * _LUMA_WEIGHTS[1]
            + wide[:, :, 2] * _LUMA_WEIGHTS[2] + 0x8000) >> 16
    return luma.astype(rgb.dtype)


# ---- png_csv: the research notebook's layout --------------------------------------------------------------

class _PngCsv:
    """train_images/<id>.png listed by training_data.csv (train); test_images/ by test_data.csv (val)."""

    @staticmethod
    def splits(raw_dir: Path) -> list[str]:
        return [split for split, (csv, _) in PNG_CSV_SPLITS.items() if (raw_dir / csv).is_file()]

    @staticmethod
    def entries(raw_dir: Path, split: str) -> Iterator[Entry]:
        csv, image_dir = PNG_CSV_SPLITS[split]
        for tile_id, label in _read_split_tables(raw_dir)[split]:
            filename = f"{image_dir}/{tile_id}.png"
            ref = TileRef(id=tile_id, filename=filename, split=split, label=label)
            yield ref, functools.partial(_load_image, raw_dir / filename, csv)

    @staticmethod
    def count(raw_dir: Path, split: str, keep_class: int | None) -> int:
        rows = _read_split_tables(raw_dir)[split]
        return sum(1 for _, label in rows if keep_class is None or label == keep_class)


def _read_split_tables(raw_dir: Path) -> dict[str, list[tuple[str, int]]]:
    """Return each split's (id, class) rows in CSV order; ids must be unique across all splits."""
    tables: dict[str, list[tuple[str, int]]] = {}
    first_seen: dict[str, Path] = {}
    for split, (csv, _) in PNG_CSV_SPLITS.items():
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
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise TilescanError(f"{path}: empty CSV file") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise TilescanError(f"{path}: not a readable CSV ({type(exc).__name__}: {exc})") from None
    columns = [str(column).strip() for column in frame.columns]
    frame.columns = columns
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
