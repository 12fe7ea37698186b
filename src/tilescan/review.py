"""A reviewer's verdicts (review.verdicts: a CSV of id, annotation[, reviewed_at], as the report's "Download
verdicts" writes it), how they enter the score, and which tiles to review next.

Verdicts are labels the user gave: a tile marked 1 ("lettering") joins the query tiles the logistic regression
learns from and is always flagged; a tile marked 0 ("not lettering") joins its negatives and is never flagged.

The review queue is uncertainty sampling over reports/flagged.csv: the tiles whose score lies nearest the flag
threshold (a verdict there moves the flag line), interleaved with the tiles on which the score's components
disagree most (a verdict there tells the learned part which component is right). Components are whatever
numeric columns flagged.csv has besides id, score, flagged, cluster and dropped_black, so a new component
joins the queue without a change here.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from tilescan import artifacts
from tilescan.errors import TilescanError
from tilescan.ranks import percentile_rank

COLUMNS = ("id", "annotation")
# without query tiles, the learned parts wait for this many reviewed lettering tiles (as many as the default
# queries): the queue's first positives are atypical, and a regression fitted on 2-3 of them ranks worse than the
# evidence alone (make review-curve, no queries, learning from 1 on: AP 0.787 -> 0.709 after 20 verdicts;
# docs/experiments.md)
MIN_REVIEWED_POSITIVES = 5
FIRST_COLUMNS = ("id", "score", "flagged", "cluster", "dropped_black")  # flagged.csv; score components follow


# --- reading ---------------------------------------------------------------------------------------

def load_verdicts(path: str | Path, known_ids) -> pd.DataFrame:
    """The verdicts file as (id, annotation) with annotation 0/1 int, one row per id, in file order.

    Ids are read as exact strings ("NA", "0053" and "" are ids, not missing values or numbers). Identical
    duplicate rows are fine (a verdict given twice); conflicting ones, unknown ids, values other than 0/1 and
    files that are not UTF-8 CSV are refused with one line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise TilescanError(f"review.verdicts: {path} does not exist")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise TilescanError(f"{path}: cannot read the verdicts file ({exc.strerror or exc.__class__.__name__})"
                            ) from None
    except UnicodeDecodeError as exc:
        raise TilescanError(f"{path}: not UTF-8 text (byte {exc.start}); save the verdicts file as UTF-8") from None
    if not text.strip():
        raise TilescanError(f"{path}: the verdicts file is empty (expected the header id,annotation)")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise TilescanError(f"{path}: not a readable CSV ({reason})") from None
    missing = [column for column in COLUMNS if column not in frame.columns]
    if missing:
        raise TilescanError(f"{path}: missing column(s) {', '.join(missing)} (found: "
                            f"{', '.join(map(repr, frame.columns))})")
    frame = frame[list(COLUMNS)]
    annotation = frame["annotation"].str.strip()
    bad = ~annotation.isin(["0", "1"])
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise TilescanError(f"{path}: annotation must be 0 or 1, got {frame['annotation'].iloc[row]!r} for id "
                            f"{frame['id'].iloc[row]!r} (row {row + 2})")
    frame = frame.assign(annotation=annotation.astype(int))
    conflicting = frame.groupby("id", sort=False)["annotation"].nunique()
    conflicting = conflicting[conflicting > 1]
    if len(conflicting):
        raise TilescanError(f"{path}: conflicting verdicts for id {conflicting.index[0]!r} (marked both 0 and 1; "
                            "keep one row per tile)")
    known = set(known_ids)
    unknown = [tile_id for tile_id in frame["id"].drop_duplicates() if tile_id not in known]
    if unknown:
        more = f" and {len(unknown) - 1} more" if len(unknown) > 1 else ""
        raise TilescanError(f"{path}: unknown tile id {unknown[0]!r}{more} (not among the dataset's scanned tiles; "
                            "verdicts from another dataset?)")
    return frame.drop_duplicates("id").reset_index(drop=True)


def verdict_rows(verdicts: pd.DataFrame | None, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(positives, negatives): rows of ids marked 1 and 0. Verdicts on tiles that are not in ids (prepare
    dropped them) have no row and are left out."""
    if verdicts is None or not len(verdicts):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    position = {tile_id: i for i, tile_id in enumerate(ids)}
    rows = verdicts["id"].map(position)
    present = rows.notna().to_numpy()
    rows, marks = rows[present].astype(np.int64).to_numpy(), verdicts["annotation"].to_numpy()[present]
    return np.sort(rows[marks == 1]), np.sort(rows[marks == 0])


def reviewed_rows(verdicts_path: str, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(rows marked lettering, rows marked not lettering) of ids, from review.verdicts (none when it is "").
    A verdict may name a tile prepare did not keep (it then has no row); any other unknown id is refused."""
    if not verdicts_path:
        return verdict_rows(None, ids)
    return verdict_rows(load_verdicts(verdicts_path, ids + artifacts.load_dropped()["id"].tolist()), ids)


def learned_positives(query_rows: np.ndarray, positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """The rows the learned parts (the statistics' regression, the detector) take as lettering: the query tiles
    not marked 0, in the order given, then the reviewed positives; without query tiles, those only from
    MIN_REVIEWED_POSITIVES on."""
    query_rows = np.asarray(query_rows, dtype=np.int64)
    user_queries = query_rows[~np.isin(query_rows, negatives)]
    reviewed = np.setdiff1d(positives, query_rows)
    if len(user_queries) == 0 and len(reviewed) < MIN_REVIEWED_POSITIVES:
        reviewed = np.zeros(0, np.int64)
    return np.concatenate([user_queries, reviewed]).astype(np.int64)


def apply_verdicts(flagged: np.ndarray, positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """The flags with the reviewer's word last: marked 1 always flagged, marked 0 never."""
    flagged = np.array(flagged, dtype=bool)
    flagged[positives] = True
    flagged[negatives] = False
    return flagged


# --- the review queue ------------------------------------------------------------------------------

def component_columns(flagged_frame: pd.DataFrame) -> list[str]:
    """The score components in flagged.csv: the numeric columns after id, score, flagged, cluster, dropped_black."""
    return [column for column in flagged_frame.columns
            if column not in FIRST_COLUMNS and pd.api.types.is_numeric_dtype(flagged_frame[column])]


def disagreement(flagged_frame: pd.DataFrame) -> np.ndarray:
    """Per tile: the spread (max - min) of its components' percentile ranks; 0 with fewer than 2 components."""
    columns = component_columns(flagged_frame)
    if len(columns) < 2 or not len(flagged_frame):
        return np.zeros(len(flagged_frame))
    ranks = np.stack([percentile_rank(flagged_frame[c].to_numpy()) for c in columns])
    return ranks.max(axis=0) - ranks.min(axis=0)


def queue_centre(method: str, thresholds: dict[str, float]) -> float:
    """The score the review queue centres on: for `detector` its flag threshold (its score is the probability);
    for the other methods knn_report.review_centre (`thresholds["review"]`, 0.94), a score near the top where
    lettering and look-alikes mix. Their flags are no threshold on the score (combined: on (p + evidence) / 2;
    statistics: glyphs in a row), so they cannot be the centre; make review-curve measured 0.94 there (README,
    "Does reviewing pay?")."""
    return thresholds["detector"] if method == "detector" else thresholds["review"]


def review_queue(flagged_frame: pd.DataFrame, threshold: float, n: int, reviewed=()) -> pd.DataFrame:
    """The n tiles to review next, most useful first: (id, score, flagged, distance, disagreement, reason).

    Alternates between the tile nearest the threshold (`distance` = |score - threshold|; reason "near the
    threshold") and the tile whose components disagree most (reason "components disagree"), skipping tiles
    already taken and the ids in `reviewed`. With fewer than two components, only nearness counts. Ties go to
    the tile higher in flagged.csv, so the queue is deterministic."""
    frame = flagged_frame.reset_index(drop=True).assign(
        distance=lambda f: (f["score"] - threshold).abs(), disagreement=disagreement(flagged_frame))
    frame = frame[~frame["id"].isin(set(reviewed))]
    by_distance = frame.sort_values("distance", kind="stable").index.tolist()
    by_disagreement = (frame[frame["disagreement"] > 0].sort_values("disagreement", ascending=False, kind="stable")
                       .index.tolist())
    taken, reasons, lists = [], {}, [(by_distance, "near the threshold"), (by_disagreement, "components disagree")]
    cursors = [0, 0]
    while len(taken) < min(n, len(frame)):
        progressed = False
        for which, (order, reason) in enumerate(lists):
            while cursors[which] < len(order) and order[cursors[which]] in reasons:
                cursors[which] += 1
            if cursors[which] < len(order) and len(taken) < n:
                row = order[cursors[which]]
                taken.append(row)
                reasons[row] = reason
                progressed = True
        if not progressed:
            break
    queue = frame.loc[taken, ["id", "score", "flagged", "distance", "disagreement"]].assign(
        reason=[reasons[row] for row in taken])
    return queue.reset_index(drop=True)
