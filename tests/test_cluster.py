"""Scaling, DBSCAN helpers and the kNN look-up that the notebook got wrong."""
import numpy as np
import pytest

from tilescan.cluster import (
    cluster_summary,
    fit_scaler,
    k_distance_curve,
    knee,
    load_scaler,
    nearest_neighbours,
    query_positions,
    resolve_eps,
    run_dbscan,
    save_scaler,
)
from tilescan.errors import TilescanError


def test_scaler_round_trips_through_json(tmp_path):
    latents = np.random.default_rng(1).normal(3.0, 2.0, size=(200, 6)).astype(np.float32)
    scaler = fit_scaler(latents)
    scaled = scaler.transform(latents)
    assert np.allclose(scaled.mean(axis=0), 0, atol=1e-6) and np.allclose(scaled.std(axis=0), 1, atol=1e-5)
    save_scaler(scaler, tmp_path / "scaler.json")
    assert np.array_equal(load_scaler(tmp_path / "scaler.json").transform(latents), scaled)


def test_scaler_refuses_nan_latents():
    latents = np.ones((4, 3))
    latents[2, 1] = np.nan
    with pytest.raises(TilescanError, match="NaN"):
        fit_scaler(latents)


def test_knn_first_neighbour_is_the_query_itself():
    points = np.random.default_rng(2).normal(size=(300, 5))
    rows = np.array([7, 150, 299])
    distances, positions = nearest_neighbours(points, rows, k=5)
    assert positions[:, 0].tolist() == rows.tolist()
    assert np.all(distances[:, 0] == 0)
    assert np.all(np.diff(distances, axis=1) >= 0)


def test_query_positions_are_positional_not_labels():
    # ids are not 0..n-1 (the notebook filtered rows): positions must come from the id list
    ids = ["c7", "c3", "c311", "c2"]
    assert query_positions(ids, ["c311", "c7"]).tolist() == [2, 0]
    with pytest.raises(TilescanError, match="knn_report.queries: unknown tile id\\(s\\) c999: not in data.raw_dir"):
        query_positions(ids, ["c999"], "data.raw_dir's (raw) readable class-0 tiles")


def test_knn_rejects_bad_k():
    points = np.zeros((4, 2))
    with pytest.raises(TilescanError, match="knn_report.k = 5 is larger than the number of tiles"):
        nearest_neighbours(points, np.array([0]), 5)


def test_dbscan_metric_error_is_named():
    points = np.random.default_rng(3).normal(size=(50, 2))
    with pytest.raises(TilescanError, match="dbscan.metric"):
        run_dbscan(points, 0.5, 5, "no-such-metric")


def test_two_blobs_and_an_outlier():
    rng = np.random.default_rng(4)
    points = np.vstack([rng.normal(0, 0.1, (40, 2)), rng.normal(5, 0.1, (40, 2)), [[20.0, 20.0]]])
    labels = run_dbscan(points, 0.5, 5, "euclidean")
    ids = [f"t{i}" for i in range(len(points))]
    summary = cluster_summary(labels, ids, ["t80", "t0"])
    assert summary["n_clusters"] == 2 and summary["largest_clusters"] == [40, 40]
    assert summary["query_clusters"]["t80"] == -1 and summary["noise_fraction"] == pytest.approx(1 / 81, abs=1e-6)


def test_auto_eps_is_the_knee_of_the_k_distance_curve():
    curve = np.concatenate([np.linspace(0.1, 0.2, 90), np.linspace(1, 10, 10)])
    assert knee(curve) == pytest.approx(0.2)
    assert resolve_eps("auto", curve) == pytest.approx(0.2)
    points = np.random.default_rng(5).normal(size=(30, 3))
    assert np.all(np.diff(k_distance_curve(points, 4)) >= 0)
