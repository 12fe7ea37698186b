"""Quality metrics on hand-made cases whose values are worked out by hand."""
import re

import numpy as np
import pandas as pd
import pytest

from tilescan.errors import TilescanError
from tilescan.evaluate import (
    check_both_classes,
    evaluation_frame,
    label_usage,
    load_ground_truth,
    pr_curve_points,
    quality,
    recall_at_precision,
)


def test_quality_hand_computed():
    truth = [1, 0, 1, 0]
    score = [0.9, 0.8, 0.7, 0.1]
    flagged = [1, 1, 0, 0]
    result = quality(truth, score, flagged)
    # AP: positives at ranks 1 and 3 -> (1/1 + 2/3) / 2
    assert result["average_precision"] == pytest.approx((1 + 2 / 3) / 2, abs=1e-6)
    assert result["precision"] == 0.5 and result["recall"] == 0.5 and result["f1"] == 0.5
    # precision >= 0.9 only holds at the top threshold, which recalls one of two
    assert result["recall_at_precision_0.9"] == 0.5
    assert (result["n_tiles"], result["n_annotation"], result["n_flagged"]) == (4, 2, 2)


def test_perfect_and_inverted_rankings():
    truth = np.array([1, 1, 0, 0, 0])
    assert quality(truth, [5, 4, 3, 2, 1], truth)["average_precision"] == 1.0
    assert quality(truth, [5, 4, 3, 2, 1], truth)["recall_at_precision_0.9"] == 1.0
    worst = quality(truth, [1, 2, 3, 4, 5], [0, 0, 0, 0, 0])
    assert worst["average_precision"] == pytest.approx((1 / 4 + 2 / 5) / 2, abs=1e-6)
    assert worst["precision"] == 0.0 and worst["recall"] == 0.0 and worst["f1"] == 0.0
    assert worst["recall_at_precision_0.9"] == 0.0


def test_recall_at_precision_picks_the_best_threshold():
    # top 3 are positives, then a negative, then 1 positive: P>=0.9 reachable at recall 3/4
    truth = np.array([1, 1, 1, 0, 1, 0])
    score = np.array([6, 5, 4, 3, 2, 1])
    assert recall_at_precision(truth, score, 0.9) == 0.75


def test_quality_needs_a_positive():
    with pytest.raises(TilescanError, match="labels_csv"):
        quality([0, 0], [0.1, 0.2], [0, 0])


def test_dropped_tiles_count_as_missed():
    flagged = pd.DataFrame({"id": ["a", "b"], "score": [0.9, 0.2], "flagged": [1, 0]})
    truth = pd.DataFrame({"id": ["a", "b", "c", "z"], "annotation": [1, 0, 1, 1]})
    frame = evaluation_frame(flagged, ["a", "b", "c"], truth)  # c was dropped by prepare; z is not train
    assert frame["id"].tolist() == ["a", "b", "c"]
    assert frame.loc[2, "flagged"] == 0 and frame.loc[2, "score"] < 0.2
    assert quality(frame["annotation"], frame["score"], frame["flagged"])["recall"] == 0.5


def test_ground_truth_validation(tmp_path):
    bad = tmp_path / "labels.csv"
    bad.write_text("id,kind\na,text\n")
    with pytest.raises(TilescanError, match="labels.csv: missing column"):
        load_ground_truth(bad)
    bad.write_text("id,annotation\na,1\na,0\n")
    with pytest.raises(TilescanError, match="duplicate id 'a'"):
        load_ground_truth(bad)
    with pytest.raises(TilescanError, match="does not exist"):
        load_ground_truth(tmp_path / "none.csv")


def test_pr_curve_is_thinned_and_bounded():
    rng = np.random.default_rng(0)
    truth = rng.random(5000) < 0.05
    curve = pr_curve_points(truth, rng.random(5000), max_points=100)
    assert len(curve) <= 100
    assert curve["recall"].between(0, 1).all() and curve["precision"].between(0, 1).all()


def test_label_rows_used_and_ignored_are_counted(tmp_path):
    """Finding 4: label rows not in the data or of the val split vanished without a word; a padded id too."""
    labels = tmp_path / "labels.csv"
    labels.write_text("id,annotation\n c53 ,1\nNA,0\nt1,1\nghost,1\nc3,0\n")
    truth = load_ground_truth(labels)
    assert truth["id"].tolist() == ["c53", "NA", "t1", "ghost", "c3"]
    scanned = pd.DataFrame({"id": ["c53", "NA", "c3", "t1"], "split": ["train", "train", "train", "val"]})
    usage = label_usage(truth, scanned)
    assert usage == {"rows": 5, "used": 3, "ignored": {"other_split": 1, "not_scanned": 1},
                     "not_scanned_examples": ["ghost"]}


@pytest.mark.parametrize("annotations, missing", [([1, 1], "annotation = 0"), ([0, 0], "annotation = 1")])
def test_labels_of_one_kind_only_are_refused(annotations, missing):
    frame = pd.DataFrame({"id": ["a", "b"], "annotation": annotations})
    with pytest.raises(TilescanError, match=f"no {missing} rows among the 2 evaluated"):
        check_both_classes(frame, "labels.csv")


@pytest.mark.parametrize("content, message", [
    (b"", "empty CSV file"),
    (b"id,annotation\n\xff\xfe,1\n", "not UTF-8"),
    (b'id,annotation\n"a,1\n', "not a readable CSV"),
    (b"id,annotation\na,yes\n", "line 2 (id 'a'): annotation must be 0 or 1, got 'yes'"),
    (b"id,annotation\na,\n", "annotation must be 0 or 1, got ''"),
])
def test_bad_labels_csv_is_one_line(tmp_path, content, message):
    labels = tmp_path / "labels.csv"
    labels.write_bytes(content)
    with pytest.raises(TilescanError, match=re.escape(message)) as caught:
        load_ground_truth(labels)
    assert "\n" not in str(caught.value)
