"""The end-to-end scale benchmark (benchmarks/scale_e2e.py) on a tiny input: same code path as `make
bench-scale`, so it cannot rot."""
import importlib.util
import json
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import ROOT


def benchmark_module(name: str):
    """benchmarks/<name>.py as a module; registered by name, since scale_e2e imports scale_dataset as a script
    beside it does."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


scale_dataset = benchmark_module("scale_dataset")
scale_e2e = benchmark_module("scale_e2e")

TINY = ["common.img_size=16", "synthesize.n_train=30", "synthesize.n_test=10", "prepare.workers=1",
        "train_autoencoder.filters=[4,4,4]", "train_autoencoder.dense_units=8", "train_autoencoder.latent_dim=6",
        "train_autoencoder.batch_size=16", "train_autoencoder.epochs=1", "train_autoencoder.max_train_tiles=20",
        "train_detector.n_examples=32", "train_detector.max_base_tiles=20", "train_detector.crop_size=48",
        "train_detector.input_size=64", "train_detector.batch_size=16", "train_detector.workers=1",
        "dbscan.eps=auto", "dbscan.min_samples=2", "knn_report.k=3"]


def test_fitted_exponent_of_a_power_law():
    tiles = [1000, 4000, 16000]
    assert scale_e2e.exponent(tiles, [2.0 * t ** 1.5 for t in tiles]) == pytest.approx(1.5)
    assert scale_e2e.exponent([1000], [5.0]) is None


def test_dataset_is_the_release_schema_and_deterministic(tmp_path):
    from tilescan.readers import iter_tiles, list_splits

    first = scale_dataset.ensure_dataset(tmp_path / "a", 40, 7, workers=1, log=lambda _: None)
    again = scale_dataset.ensure_dataset(tmp_path / "b", 40, 7, workers=1, log=lambda _: None)
    assert sorted(p.name for p in first.glob("*.tfrecords")) == [f"training10_{k}.tfrecords" for k in range(5)]
    for name in ("training10_3.tfrecords", "cv10_data.npy", "test10_labels.npy", "annotations.csv"):
        assert (first / name).read_bytes() == (again / name).read_bytes(), name
    assert list_splits(first, "tfrecord") == ["train", "val"]
    kept = list(iter_tiles(first, "tfrecord", "train", 0))
    assert all(image.shape == (299, 299) for _, image in kept)
    assert sorted(ref.id for ref, _ in kept) == sorted(pd.read_csv(first / "annotations.csv")["id"])
    assert np.load(first / "cv10_data.npy", mmap_mode="r").shape[1:] == (299, 299, 1)


@pytest.mark.slow
def test_scale_benchmark_runs_the_whole_pipeline_on_a_tiny_input(tmp_path):
    out = tmp_path / "bench_scale.json"
    args = ["--sizes", "40", "--out", str(out), "--data-dir", str(tmp_path / "data")]
    assert scale_e2e.main(args + [arg for item in TINY for arg in ("--set", item)]) == 0
    report = json.loads(out.read_text())
    run = report["runs"][0]
    stages = set(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
    assert set(run["stages"]) == stages, "every stage of dvc.yaml timed"
    data = tmp_path / "data" / "ddsm-40"
    class0 = len(pd.read_csv(data / "annotations.csv")) + sum(
        int((np.load(data / f"{prefix}_labels.npy") == 0).sum()) for prefix in ("cv10", "test10"))
    assert run["tiles"] == class0
    for figures in run["stages"].values():
        assert figures["seconds"] > 0 and figures["peak_rss_mb"] > 0 and figures["tiles_per_s"] > 0
    assert run["peak_rss_mb"] >= run["peak_stage_rss_mb"] and run["total_seconds"] >= max(
        figures["seconds"] for figures in run["stages"].values())
    assert run["train"]["sample"]["train"]["used"] <= 20
    assert report["exponent_total"] is None and "targets_met" not in report  # one size, not the size
