"""Quality against ground truth: how well `score` ranks and `flagged` picks the annotation tiles."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_curve

from tilescan.artifacts import read_csv
from tilescan.errors import TilescanError

TARGET_PRECISION = 0.9


def load_ground_truth(path: Path) -> pd.DataFrame:
    """The labels CSV: columns id and annotation (1 = shows burned-in annotation, 0 = does not)."""
    if not Path(path).is_file():
        raise TilescanError(f"data.labels_csv: {path} does not exist")
    truth = read_csv(path, dtype=str)
    missing = {"id", "annotation"} - set(truth.columns)
    if missing:
        raise TilescanError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    truth = truth[["id", "annotation"]].copy()
    truth["id"] = truth["id"].str.strip()  # as the dataset's own CSVs are read (readers.png_csv)
    if truth["id"].duplicated().any():
        raise TilescanError(f"{path}: duplicate id {truth.loc[truth['id'].duplicated(), 'id'].iloc[0]!r}")
    annotation = truth["annotation"].str.strip()
    bad = ~annotation.isin(["0", "1"])
    if bad.any():
        line = int(bad.to_numpy().argmax()) + 2
        raise TilescanError(f"{path}: line {line} (id {truth['id'].iloc[line - 2]!r}): annotation must be 0 or 1, "
                            f"got {truth['annotation'].iloc[line - 2]!r}")
    truth["annotation"] = annotation.astype(int)
    return truth.reset_index(drop=True)


def label_usage(truth: pd.DataFrame, scanned: pd.DataFrame, evaluated_split: str = "train") -> dict:
    """How many label rows are evaluated and why the others are not: `other_split` (a tile of the validation
    split), `not_scanned` (not among the tiles prepare read: not in the dataset, or not of the scanned class).
    scanned: id, split of every tile prepare read (the index and dropped.csv)."""
    split_of = dict(zip(scanned["id"], scanned["split"]))
    splits = truth["id"].map(split_of)
    not_scanned = truth.loc[splits.isna(), "id"]
    return {"rows": int(len(truth)), "used": int((splits == evaluated_split).sum()),
            "ignored": {"other_split": int((splits.notna() & (splits != evaluated_split)).sum()),
                        "not_scanned": int(len(not_scanned))},
            "not_scanned_examples": not_scanned.head(10).tolist()}


def check_both_classes(frame: pd.DataFrame, path: str) -> None:
    """Refuse labels that give no positive or no negative among the evaluated tiles: precision, recall and
    average precision would be 1.0 or undefined whatever the method does."""
    positives = int(frame["annotation"].sum())
    for count, kind in ((positives, "annotation = 1"), (len(frame) - positives, "annotation = 0")):
        if count == 0:
            raise TilescanError(f"data.labels_csv: {path}: no {kind} rows among the {len(frame)} evaluated "
                                "(scanned, training-split) tiles; label tiles of both kinds")


def recall_at_precision(truth: np.ndarray, score: np.ndarray, min_precision: float) -> float:
    """The highest recall reachable by a score threshold whose precision is >= min_precision."""
    precision, recall, _ = precision_recall_curve(truth, score)
    reachable = recall[precision >= min_precision]
    return float(reachable.max()) if reachable.size else 0.0


def quality(truth: np.ndarray, score: np.ndarray, flagged: np.ndarray) -> dict:
    """Average precision of score; precision/recall/F1 of flagged; recall at precision >= 0.9."""
    truth, flagged = np.asarray(truth, bool), np.asarray(flagged, bool)
    if truth.size == 0 or not truth.any():
        raise TilescanError("data.labels_csv: no annotation tiles among the evaluated tiles; "
                            "quality cannot be measured")
    true_pos = int(np.sum(truth & flagged))
    precision = true_pos / flagged.sum() if flagged.any() else 0.0
    recall = true_pos / truth.sum()
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "average_precision": round(float(average_precision_score(truth, score)), 6),
        "precision": round(float(precision), 6),
        "recall": round(float(recall), 6),
        "f1": round(float(f1), 6),
        "recall_at_precision_0.9": round(recall_at_precision(truth, score, TARGET_PRECISION), 6),
        "n_tiles": int(truth.size),
        "n_annotation": int(truth.sum()),
        "n_flagged": int(flagged.sum()),
    }


def pr_curve_points(truth: np.ndarray, score: np.ndarray, max_points: int = 400) -> pd.DataFrame:
    """The precision-recall curve, thinned to at most max_points rows, for `dvc plots`."""
    precision, recall, _ = precision_recall_curve(np.asarray(truth, bool), score)
    keep = np.unique(np.linspace(0, len(recall) - 1, min(max_points, len(recall))).round().astype(int))
    return pd.DataFrame({"recall": recall[keep].round(6), "precision": precision[keep].round(6)})


def evaluation_frame(flagged: pd.DataFrame, scanned_ids: list[str], truth: pd.DataFrame) -> pd.DataFrame:
    """One row per evaluated tile (id, annotation, score, flagged): every scanned train tile with ground
    truth. Every readable tile is scored; an unreadable one that prepare skipped is scored lowest and never
    flagged, so an annotation tile lost there counts as missed."""
    frame = pd.DataFrame({"id": scanned_ids}).merge(truth, on="id", how="inner")
    frame = frame.merge(flagged[["id", "score", "flagged"]], on="id", how="left")
    frame["score"] = frame["score"].fillna(float(flagged["score"].min()) - 1.0 if len(flagged) else 0.0)
    frame["flagged"] = frame["flagged"].fillna(0).astype(int)
    return frame


REVIEWED_NOTE = ("Reviewed tiles are not an unbiased sample: a reviewer picks them from the report's galleries and "
                 "its Review-next queue (tiles near the flag threshold, tiles the score is unsure of), and the "
                 "score has learned from them. These figures describe those hand-picked tiles, not the dataset; "
                 "their flags follow the verdicts, so only the score's ranking is measured.")


def reviewed_quality(frame: pd.DataFrame) -> dict:
    """Quality over the reviewed tiles (evaluation_frame with the verdicts as truth): counts, and the average
    precision of score where both verdicts occur; with REVIEWED_NOTE."""
    truth = frame["annotation"].to_numpy().astype(bool)
    both = truth.any() and not truth.all()
    return {"n_reviewed": int(len(frame)), "n_lettering": int(truth.sum()), "n_not_lettering": int((~truth).sum()),
            "average_precision": round(float(average_precision_score(truth, frame["score"])), 6) if both else None,
            "note": REVIEWED_NOTE}
