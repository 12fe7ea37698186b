"""Every file the stages exchange (relative to the repository root; dvc.yaml lists the same paths), one loader
per artifact with a one-line error naming the stage that makes a missing file, and the metrics writer."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from tilescan.errors import TilescanError

SPLITS = ("train", "val")

# prepare
PREPARED = Path("data/prepared")                 # <split>.npy (uint8 N x S x S), index.csv, dropped.csv
PREPARED_INDEX = PREPARED / "index.csv"          # id, filename, split, row, black (train rows, then val rows)
PREPARED_DROPPED = PREPARED / "dropped.csv"      # unreadable tiles prepare skipped: id, filename, split, reason
PREPARED_PIXELS = PREPARED / "pixels.json"       # {"bit_depth": the significant bits prepare read the raw data with}
# train_autoencoder
MODEL_WEIGHTS = Path("models/autoencoder.weights.h5")
TRAIN_LIVE = Path("dvclive/train")               # dvclive loss curves
LOSS_FILES = {split: TRAIN_LIVE / f"plots/metrics/{split}/loss.tsv" for split in ("train", "eval")}
# train_detector
DETECTOR_WEIGHTS = Path("models/detector.weights.h5")
DETECTOR = Path("data/detector")
DETECTOR_PROBABILITY = DETECTOR / "probability.npy"  # float32 N: lettering probability per prepared tile
# encode
ENCODED = Path("data/encoded")
ENCODED_LATENTS = ENCODED / "latents.npy"        # float32 N x latent_dim
RECON_ERROR = ENCODED / "recon_error.npy"        # float32 N
# scale
SCALED = Path("data/scaled")
SCALED_LATENTS = SCALED / "latents.npy"          # standardised latents
SCALER = SCALED / "scaler.json"
# features
FEATURES = Path("data/features")
FEATURES_ARRAY = FEATURES / "features.npy"       # float32 N x len(FEATURE_NAMES)
FEATURE_NAMES_FILE = FEATURES / "names.json"
# dbscan
CLUSTERS = Path("data/clusters")
CLUSTER_LABELS = CLUSTERS / "labels.npy"         # int32 DBSCAN label per tile, -1 = noise
K_DISTANCE = CLUSTERS / "k_distance.csv"         # rank, k_distance
# knn_report, evaluate, export_clean, report
REPORTS = Path("reports")
FLAGGED = REPORTS / "flagged.csv"                # id, score, flagged, cluster, dropped_black, statistics,
                                                 # evidence, [query_similarity,] detector (score descending)
KNN = REPORTS / "knn.csv"                        # query, rank, neighbour, distance
KNN_GRID = REPORTS / "knn_grid.png"
PR_CURVE = REPORTS / "pr_curve.csv"              # recall, precision
CLEAN_CSVS = {"train": REPORTS / "training_data.clean.csv", "val": REPORTS / "test_data.clean.csv"}
REPORT_HTML = REPORTS / "index.html"
# metrics of every stage that writes one (metrics/bench.json is not a pipeline output)
METRICS = Path("metrics")
METRICS_MADE_BY = {"prepare": "prepare", "train": "train_autoencoder", "runtime": "train_autoencoder",
                   "detector": "train_detector", "dbscan": "dbscan", "knn_report": "knn_report",
                   "quality": "evaluate", "export_clean": "export_clean"}
METRICS_FILES = {name: METRICS / f"{name}.json" for name in METRICS_MADE_BY}


ID_COLUMNS = ("id", "query", "neighbour", "filename", "split", "reason")  # always text, exactly as written


def read_csv(path: Path, dtype: dict | type | None = None, **kwargs) -> pd.DataFrame:
    """Every CSV tilescan reads (inputs, labels, its own outputs) goes through here, so that an id is the exact
    string in the file: no NaN guessing (`NA`, `None`, `null`, `nan`, `N/A`, "" stay text), id-like columns
    (ID_COLUMNS) read as str (`0053` stays `0053`), header names stripped of surrounding spaces (` id ` is
    `id`), and a trailing comma on a line is not taken for an index column. A file pandas cannot parse, that
    is empty or not UTF-8 is a one-line TilescanError naming it."""
    types = dtype if dtype is str else {**{column: str for column in ID_COLUMNS}, **(dtype or {})}
    try:
        with warnings.catch_warnings():  # a trailing comma on every line: pandas warns, and drops the empty field
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            frame = pd.read_csv(path, dtype=types, keep_default_na=False, na_filter=False, encoding="utf-8",
                                index_col=False, **kwargs)
    except FileNotFoundError:
        raise TilescanError(f"{path}: file not found") from None
    except pd.errors.EmptyDataError:
        raise TilescanError(f"{path}: empty CSV file") from None
    except UnicodeDecodeError as exc:
        raise TilescanError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except (pd.errors.ParserError, ValueError) as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise TilescanError(f"{path}: not a readable CSV ({detail})") from None
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame


def split_file(split: str) -> Path:
    """The prepared uint8 array of one split."""
    return PREPARED / f"{split}.npy"


def require_file(path: Path, made_by: str) -> Path:
    """path, which must exist; else a TilescanError naming it and the stage that makes it."""
    if not Path(path).is_file():
        raise TilescanError(f"{path}: not found (run the {made_by} stage: dvc repro)")
    return Path(path)


# --- loaders -------------------------------------------------------------------------------------------

def load_index(path: Path = PREPARED_INDEX) -> pd.DataFrame:
    """The prepared index: one row per readable tile in (train rows, then val rows) order: id, filename, split,
    row, black (1 = mostly black: scored, but not used to train the autoencoder)."""
    if not path.is_file():
        raise TilescanError(f"{path}: prepared index not found (run the prepare stage)")
    return read_csv(path, dtype={"row": np.int64, "black": np.int64})


def load_dropped() -> pd.DataFrame:
    """The tiles prepare left out (unreadable, with prepare.on_unreadable = skip): id, filename, split, reason."""
    if not PREPARED_DROPPED.is_file():
        raise TilescanError(f"{PREPARED_DROPPED}: not found (run the prepare stage)")
    return read_csv(PREPARED_DROPPED)


def load_array(path: Path, made_by: str, mmap: bool = False) -> np.ndarray:
    """np.load without pickle; a missing file is a TilescanError naming it and the stage that makes it."""
    return np.load(require_file(path, made_by), mmap_mode="r" if mmap else None, allow_pickle=False)


def load_aligned(path: Path, made_by: str, n: int) -> np.ndarray:
    """load_array of an array that must hold one row per prepared tile (n of them)."""
    array = load_array(path, made_by)
    if len(array) != n:
        raise TilescanError(f"{path} has {len(array)} rows but {PREPARED_INDEX} lists {n} tiles: "
                            "re-run the upstream stages (dvc repro)")
    return array


def open_split(split: str) -> np.ndarray:
    """Memory-map one split's uint8 array (N, S, S) without reading it."""
    return load_array(split_file(split), "prepare", mmap=True)


def tile_reader(index: pd.DataFrame):
    """A function: global position in the index -> that tile's uint8 image (memory-mapped read)."""
    arrays = {split: open_split(split) for split in index["split"].unique()}
    splits, rows = index["split"].to_numpy(), index["row"].to_numpy()
    return lambda position: np.asarray(arrays[splits[position]][rows[position]])


def load_bit_depth() -> int:
    """The bit depth prepare read the raw tiles with: stages that read raw tiles again must use the same."""
    return int(json.loads(require_file(PREPARED_PIXELS, "prepare").read_text())["bit_depth"])


def load_feature_names() -> list[str]:
    return json.loads(require_file(FEATURE_NAMES_FILE, "features").read_text())


def autoencoder_rows(index: pd.DataFrame, split: str) -> np.ndarray:
    """Rows of split's prepared array that train (and validate) the autoencoder: those not mostly black."""
    rows = index.loc[index["split"] == split]
    return rows.loc[rows["black"] == 0, "row"].to_numpy()


def load_flagged() -> pd.DataFrame:
    """reports/flagged.csv: id, score, flagged, cluster, dropped_black, then the score components
    (statistics, evidence, query_similarity, detector); highest score first."""
    return read_csv(require_file(FLAGGED, "knn_report"))


def load_knn() -> pd.DataFrame:
    """reports/knn.csv: query, rank, neighbour, distance."""
    return read_csv(require_file(KNN, "knn_report"))


def load_pr_curve() -> pd.DataFrame:
    return read_csv(require_file(PR_CURVE, "evaluate"))


def load_loss(split: str) -> pd.DataFrame:
    """The dvclive loss curve of split ("train" or "eval"): step, loss."""
    return read_csv(require_file(LOSS_FILES[split], "train_autoencoder"), sep="\t")


def load_metrics(name: str) -> dict:
    """metrics/<name>.json."""
    return json.loads(require_file(METRICS_FILES[name], METRICS_MADE_BY[name]).read_text())


def write_metrics(path: Path, values: dict) -> None:
    """A small JSON metrics file, as `dvc metrics` reads it."""
    Path(path).write_text(json.dumps(values, indent=2) + "\n")
