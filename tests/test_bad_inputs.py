"""Every stage meets bad input with one `error:` line naming the file or parameter, exit status 1, and no
output: each case runs the stage script as a subprocess on a tiny hand-made input (see helpers)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from helpers import (
    RAW,
    TRAIN_ROWS,
    make_workdir,
    refused,
    set_params,
    snapshot,
    succeeded,
    tf_example,
    tile,
    write_clusters,
    write_latents,
    write_npy_pair,
    write_png_csv,
    write_prepared,
    write_tfrecords,
)


@pytest.fixture
def png_work(tmp_path):
    """A project root whose data.raw_dir is a valid png_csv dataset (5 train, 3 test tiles)."""
    work = make_workdir(tmp_path / "work")
    write_png_csv(work / RAW)
    return work


# ---- prepare: images ------------------------------------------------------------------------------

def truncate(path, keep: float = 0.6):
    """Cut the file off (a download that stopped), not at a record boundary."""
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])


def garble(path):
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 8)


def empty(path):
    path.write_bytes(b"")


@pytest.mark.parametrize("image, damage", [("train_images/c2.png", truncate), ("train_images/c5.png", empty),
                                           ("test_images/t3.png", garble)],  # val: after train was written
                         ids=["truncated", "empty", "garbled-val"])
def test_corrupt_or_truncated_png(png_work, image, damage):
    damage(png_work / RAW / image)
    message = refused(png_work, "prepare", f"{RAW}/{image}")
    assert "not a readable image" in message


def test_png_listed_in_the_csv_but_missing(png_work):
    (png_work / RAW / "train_images/c4.png").unlink()
    message = refused(png_work, "prepare", f"{RAW}/train_images/c4.png", "training_data.csv")
    assert "file not found" in message


def test_a_failing_run_leaves_the_previous_outputs_untouched(png_work):
    succeeded(png_work, "prepare")
    outputs = {path: digest for path, digest in snapshot(png_work).items()
               if path.startswith(("data/prepared/", "metrics/"))}
    assert "data/prepared/train.npy" in outputs and "metrics/prepare.json" in outputs
    garble(png_work / RAW / "test_images/t1.png")  # the val split fails after train was written
    refused(png_work, "prepare", f"{RAW}/test_images/t1.png")  # snapshot unchanged: old outputs intact


# ---- prepare: CSVs --------------------------------------------------------------------------------

@pytest.mark.parametrize("csv, rows, culprits", [
    ("training_data.csv", ",id,normal_class\n0,c1,1\n", ["training_data.csv", "missing required column 'class'"]),
    ("test_data.csv", ",name,class\n0,t1,0\n", ["test_data.csv", "missing required column 'id'"]),
    ("training_data.csv", ",id,class,normal_class\n0,c1,0,1\n1,c2,0,1\n2,c1,0,1\n",
     ["training_data.csv", "duplicate id 'c1'"]),
    ("test_data.csv", ",id,class\n0,t1,0\n1,c2,0\n", ["test_data.csv", "'c2'", "training_data.csv"]),
    ("training_data.csv", ",id,class,normal_class\n0,c1,0,1\n1,c2,zero,1\n",
     ["training_data.csv", "line 3", "'c2'", "class 'zero' is not an integer"]),
    ("training_data.csv", ",id,class,normal_class\n0,c1,0.5,1\n", ["training_data.csv", "class '0.5'"]),
    ("training_data.csv", "", ["training_data.csv", "empty CSV"]),
], ids=["no-class", "no-id", "duplicate-id", "id-in-both-splits", "class-word", "class-fraction",
        "empty-csv"])
def test_bad_csv(png_work, csv, rows, culprits):
    (png_work / RAW / csv).write_text(rows)
    refused(png_work, "prepare", f"{RAW}/{csv}", *culprits)


# ---- prepare: nothing left to scan ----------------------------------------------------------------

def test_no_tiles_of_the_kept_class(tmp_path):
    work = make_workdir(tmp_path / "work")
    write_png_csv(work / RAW, train=[(tile_id, 1) for tile_id, _ in TRAIN_ROWS])
    refused(work, "prepare", "data.raw_dir", "no train tiles of class 0", "prepare.keep_class")


def test_every_tile_mostly_black(tmp_path):
    work = make_workdir(tmp_path / "work")
    write_png_csv(work / RAW, pixels=lambda *_: tile(0, black=True))
    refused(work, "prepare", "no train tiles", f"{sum(c == 0 for _, c in TRAIN_ROWS)} are mostly-black",
            "prepare.max_black_fraction")


def test_every_tile_unreadable_under_skip(png_work):
    set_params(png_work, {"prepare.on_unreadable": "skip"})
    for tile_id, label in TRAIN_ROWS:
        garble(png_work / RAW / f"train_images/{tile_id}.png")
    n_class0 = sum(label == 0 for _, label in TRAIN_ROWS)
    refused(png_work, "prepare", "no train tiles", f"{n_class0} unreadable")


# ---- prepare: tfrecord and npy layouts ------------------------------------------------------------

@pytest.fixture
def tfrecord_work(tmp_path):
    """The Kaggle layout: training10_0.tfrecords (train) and the test10 npy pair (val)."""
    pytest.importorskip("tensorflow")
    work = make_workdir(tmp_path / "work")
    records = [tf_example(label, tile(n).tobytes()) for n, label in enumerate([0, 1, 0, 0])]
    write_tfrecords(work / RAW / "training10_0.tfrecords", records)
    write_npy_pair(work / RAW, "test10", [0, 0, 3])
    return work, records


def test_truncated_tfrecord(tfrecord_work):
    work, _ = tfrecord_work
    truncate(work / RAW / "training10_0.tfrecords")
    refused(work, "prepare", f"{RAW}/training10_0.tfrecords", "truncated or corrupt tfrecord")


def test_tfrecord_of_another_schema(tfrecord_work):
    work, records = tfrecord_work
    wrong = tf_example(b"0", tile(9).tobytes())  # label stored as bytes, not int64
    write_tfrecords(work / RAW / "training10_0.tfrecords", records[:2] + [wrong])
    refused(work, "prepare", f"{RAW}/training10_0.tfrecords", "record 2", "not a DDSM tf.train.Example")


def test_npy_data_and_labels_of_different_lengths(tmp_path):
    work = make_workdir(tmp_path / "work")
    write_npy_pair(work / RAW, "cv10", [0, 0, 1], n_tiles=4)
    write_npy_pair(work / RAW, "test10", [0, 0])
    refused(work, "prepare", f"{RAW}/cv10_data.npy holds 4 tiles", f"{RAW}/cv10_labels.npy holds 3 labels")


# ---- data.raw_dir ---------------------------------------------------------------------------------

@pytest.mark.parametrize("stage", ["prepare", "features", "export_clean"])
def test_raw_dir_that_does_not_exist(tmp_path, stage):
    work = make_workdir(tmp_path / "work", data__raw_dir="no/such/dir")
    write_prepared(work)  # what features and export_clean also read
    refused(work, stage, "data.raw_dir", "no/such/dir")


def test_raw_dir_that_is_a_file(tmp_path):
    work = make_workdir(tmp_path / "work", data__raw_dir="raw.zip")
    (work / "raw.zip").write_bytes(b"PK")
    refused(work, "prepare", "data.raw_dir: raw.zip is not a directory")


# ---- the skip policy ------------------------------------------------------------------------------

def test_skip_policy_counts_and_lists_unreadable_tiles(png_work):
    set_params(png_work, {"prepare.on_unreadable": "skip"})
    garble(png_work / RAW / "train_images/c2.png")
    (png_work / RAW / "test_images/t3.png").unlink()
    truncate(png_work / RAW / "train_images/c3.png")  # class 1: never read, so never skipped
    succeeded(png_work, "prepare")
    metrics = json.loads((png_work / "metrics/prepare.json").read_text())
    assert metrics["skipped_ids"] == ["c2", "t3"]
    assert metrics["splits"]["train"] == {"read": 4, "kept": 3, "dropped_black": 0, "skipped_unreadable": 1}
    assert metrics["splits"]["val"] == {"read": 2, "kept": 1, "dropped_black": 0, "skipped_unreadable": 1}
    index = pd.read_csv(png_work / "data/prepared/index.csv", dtype={"id": str})
    assert index["id"].tolist() == ["c1", "c4", "c5", "t1"]
    assert np.load(png_work / "data/prepared/train.npy").shape == (3, 16, 16)
    dropped = pd.read_csv(png_work / "data/prepared/dropped.csv", dtype={"id": str})
    assert dropped[["id", "reason"]].values.tolist() == [["c2", "unreadable"], ["t3", "unreadable"]]
    assert not list(png_work.rglob(".tmp-*")) and not list(png_work.rglob("*.rows"))


# ---- train_autoencoder ----------------------------------------------------------------------------

def test_img_size_not_a_multiple_of_8_is_refused_by_the_autoencoder(tmp_path):
    pytest.importorskip("tensorflow")
    work = make_workdir(tmp_path / "work", common__img_size=12)
    write_prepared(work, side=12)  # prepare accepts 12; the architecture cannot
    refused(work, "train_autoencoder", "common.img_size", "multiple of 8", "12")


# ---- scale ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, -np.inf])
def test_latents_that_are_not_finite(tmp_path, bad):
    work = make_workdir(tmp_path / "work")
    write_latents(work, "data/encoded", 8, bad=bad)
    refused(work, "scale", "data/encoded/latents.npy", "NaN or infinite")


# ---- dbscan and knn_report ------------------------------------------------------------------------

@pytest.fixture
def clustered_work(tmp_path):
    """Inputs of dbscan and knn_report: 9 prepared tiles, their scaled latents and cluster labels."""
    work = make_workdir(tmp_path / "work")
    ids = write_prepared(work)
    write_latents(work, "data/scaled", len(ids))
    write_clusters(work, len(ids))
    return work, ids


@pytest.mark.parametrize("stage", ["dbscan", "knn_report"])
def test_unknown_query_id(clustered_work, stage):
    work, ids = clustered_work
    set_params(work, {"knn_report.queries": [ids[0], "c9999"]})
    refused(work, stage, "knn_report.queries", "c9999", "not in data.raw_dir's (raw) readable class-0 tiles")


@pytest.mark.parametrize("param, value", [
    ("dbscan.eps", 0), ("dbscan.eps", -0.5), ("dbscan.eps", "big"), ("dbscan.min_samples", 0),
    ("dbscan.min_samples", -3), ("dbscan.min_samples", "abc"),
])
def test_bad_dbscan_parameter(clustered_work, param, value):
    work, _ = clustered_work
    set_params(work, {param: value})
    refused(work, "dbscan", param, repr(value))


def test_k_larger_than_the_number_of_tiles(clustered_work):
    work, ids = clustered_work
    set_params(work, {"knn_report.queries": [ids[0]], "knn_report.k": 50})
    refused(work, "knn_report", "knn_report.k = 50 is larger than the number of tiles (9)")


# ---- issue 11: ids kept exactly, header and row defects, params at stage level --------------------

NA_LIKE_ROWS = [("NA", 0), ("None", 0), ("null", 0), ("0053", 0), ("nan", 0), ("<NA>", 0), ("c7", 1)]


def test_na_like_ids_stay_exact_from_prepare_to_the_clean_csv(tmp_path):
    """Finding 2: a black tile named NA stayed in the clean CSV; a kept tile named NA crashed features."""
    work = make_workdir(tmp_path / "work", export_clean__drop_black=True)
    write_png_csv(work / RAW, train=NA_LIKE_ROWS,
                  pixels=lambda split, row, tile_id: tile(row, black=tile_id == "NA"))
    succeeded(work, "prepare")
    index = pd.read_csv(work / "data/prepared/index.csv", dtype=str, keep_default_na=False)
    dropped = pd.read_csv(work / "data/prepared/dropped.csv", dtype=str, keep_default_na=False)
    assert index.loc[index["split"] == "train", "id"].tolist() == ["NA", "None", "null", "0053", "nan", "<NA>"]
    assert index.loc[index["black"] == "1", "id"].tolist() == ["NA"] and dropped.empty  # black: scored, marked
    succeeded(work, "features")
    kept = index["id"].tolist()
    (work / "reports").mkdir()
    pd.DataFrame({"id": kept, "score": 0.5, "flagged": [int(i == "None") for i in kept], "cluster": 0}).to_csv(
        work / "reports/flagged.csv", index=False)
    succeeded(work, "export_clean")
    clean = pd.read_csv(work / "reports/training_data.clean.csv", dtype=str, keep_default_na=False)
    assert clean["id"].tolist() == ["null", "0053", "nan", "<NA>", "c7"]


def test_padded_header_names_are_read_at_prepare_and_export(tmp_path):
    """`, id , class`: prepare accepted it and export_clean failed after training."""
    work = make_workdir(tmp_path / "work")
    write_png_csv(work / RAW)
    for csv in ("training_data.csv", "test_data.csv"):
        path = work / RAW / csv
        lines = path.read_text().splitlines()
        path.write_text("\n".join([", ".join(f" {name} " for name in lines[0].split(","))] + lines[1:]) + "\n")
    succeeded(work, "prepare")
    ids = pd.read_csv(work / "data/prepared/index.csv", dtype=str)["id"].tolist()
    (work / "reports").mkdir()
    pd.DataFrame({"id": ids, "score": 0.5, "flagged": 0, "cluster": 0}).to_csv(work / "reports/flagged.csv",
                                                                                index=False)
    succeeded(work, "export_clean")
    assert pd.read_csv(work / "reports/training_data.clean.csv")["id"].tolist() == ["c1", "c2", "c3", "c4", "c5"]


def test_a_row_with_a_trailing_comma_names_its_line(png_work):
    path = png_work / RAW / "training_data.csv"
    lines = path.read_text().splitlines()
    lines[2] += ","  # the row of c2
    path.write_text("\n".join(lines) + "\n")
    refused(png_work, "prepare", f"{RAW}/training_data.csv", "line 3")


@pytest.mark.parametrize("stage, param, value", [
    ("train_autoencoder", "common.seed", -1), ("knn_report", "common.seed", -1),
    ("knn_report", "knn_report.k", "abc"), ("knn_report", "knn_report.k", -3),
    ("evaluate", "data.labels_csv", 5),
])
def test_bad_params_at_stage_start(clustered_work, stage, param, value):
    work, _ = clustered_work
    set_params(work, {param: value})
    refused(work, stage, f"{param} must be", repr(value))


def test_a_dollar_in_a_tile_id_does_not_break_the_neighbour_grid(clustered_work):
    work, ids = clustered_work
    index = work / "data/prepared/index.csv"
    index.write_text(index.read_text().replace("t0,", "$t_0^$,", 1).replace("t1,", "a$b,", 1))
    set_params(work, {"knn_report.queries": ["$t_0^$", "a$b"], "knn_report.k": 3})
    succeeded(work, "knn_report")
    knn = pd.read_csv(work / "reports/knn.csv", dtype=str)
    assert knn.loc[knn["rank"] == "0", "query"].tolist() == ["$t_0^$", "a$b"]


# ---- issue 11: tfrecord / npy labels and ids (finding 6) ------------------------------------------

@pytest.mark.parametrize("label", [7, -1])
def test_tfrecord_label_outside_the_ddsm_classes(tfrecord_work, label):
    work, records = tfrecord_work
    write_tfrecords(work / RAW / "training10_0.tfrecords", records + [tf_example(label, tile(9).tobytes())])
    refused(work, "prepare", f"{RAW}/training10_0.tfrecords", "record 4", f"label {label} is outside")


def test_npy_label_outside_the_ddsm_classes(tmp_path):
    work = make_workdir(tmp_path / "work")
    write_npy_pair(work / RAW, "cv10", [0, 0, 9])
    write_npy_pair(work / RAW, "test10", [0, 0])
    refused(work, "prepare", f"{RAW}/cv10_labels.npy", "outside the DDSM classes", "9 at position 2")


def test_tfrecord_filename_repeating_an_npy_id(tfrecord_work):
    work, records = tfrecord_work
    write_tfrecords(work / RAW / "training10_0.tfrecords",
                    records + [tf_example(0, tile(9).tobytes(), filename=b"test10-0")])
    refused(work, "prepare", "tile id 'test10-0' is given to two tiles", "training10_0.tfrecords#4",
            "test10_data.npy#0")
