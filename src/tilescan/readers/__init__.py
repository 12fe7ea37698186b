"""Raw dataset layouts (png_csv, tfrecord, npy) read as one stream of 2-D uint8 grayscale tiles."""
from tilescan.readers._dispatch import (
           FORMATS,
           count_tiles,
           detect_bit_depth,
           detect_format,
           iter_tiles,
           list_splits,
           resolve_input,
)
from tilescan.readers._types import Entry, Layout, TileRef
from tilescan.readers.gray8 import to_gray8
from tilescan.readers.png_csv import read_png

__all__ = ["FORMATS", "Entry", "Layout", "TileRef", "count_tiles", "detect_bit_depth", "detect_format", "iter_tiles",
           "list_splits", "read_png", "resolve_input", "to_gray8"]
