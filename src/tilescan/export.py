"""The user's input CSVs, in their own format, with the flagged tiles removed."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from tilescan.artifacts import read_csv
from tilescan.errors import TilescanError


def read_table(path: Path) -> pd.DataFrame:
    """A CSV exactly as written (all text, no NaN guessing: artifacts.read_csv), the unnamed pandas index
    column kept."""
    return read_csv(path, dtype=str)


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write back in the input's format: an unnamed index column keeps its empty header."""
    header = ["" if str(c).startswith("Unnamed: 0") else c for c in frame.columns]
    frame.to_csv(path, index=False, header=header)


def remove_ids(frame: pd.DataFrame, drop: set[str], source: Path) -> pd.DataFrame:
    """The rows of frame whose id is not in drop."""
    if "id" not in frame.columns:
        raise TilescanError(f"{source}: missing required column 'id'")
    return frame[~frame["id"].str.strip().isin(drop)]
