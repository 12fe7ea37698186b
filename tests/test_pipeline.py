"""End to end on tiny params: every stage's outputs, byte-identical re-runs, experiments re-run only what
changed, and `dvc status` clean afterwards."""
import json

import pandas as pd
import pytest
import yaml

from helpers import dvc
from tilescan.repro_check import hash_differences

EXPECTED_STAGES = {"synthesize", "prepare", "train_autoencoder", "encode", "scale", "dbscan", "knn_report",
                   "evaluate"}


@pytest.mark.slow
def test_every_stage_ran_and_wrote_its_outputs(pipeline_repo):
    lock = yaml.safe_load((pipeline_repo / "dvc.lock").read_text())
    assert EXPECTED_STAGES <= set(lock["stages"])
    flagged = pd.read_csv(pipeline_repo / "reports/flagged.csv")
    assert flagged.columns.tolist()[:4] == ["id", "score", "flagged", "cluster"]
    assert flagged["score"].is_monotonic_decreasing and flagged["flagged"].isin([0, 1]).all()
    index = pd.read_csv(pipeline_repo / "data/prepared/index.csv")
    assert sorted(flagged["id"]) == sorted(index["id"])
    quality = json.loads((pipeline_repo / "metrics/quality.json").read_text())
    for key in ("average_precision", "precision", "recall", "f1", "recall_at_precision_0.9"):
        assert 0.0 <= quality[key] <= 1.0
    train = json.loads((pipeline_repo / "metrics/train.json").read_text())
    assert train["epochs_run"] == 2


@pytest.mark.slow
def test_each_query_is_its_own_first_neighbour(pipeline_repo):
    knn = pd.read_csv(pipeline_repo / "reports/knn.csv")
    firsts = knn[knn["rank"] == 0]
    assert len(firsts) == 2 and (firsts["neighbour"] == firsts["query"]).all() and (firsts["distance"] == 0).all()
    assert (knn.groupby("query")["distance"].apply(lambda d: d.is_monotonic_increasing)).all()


@pytest.mark.slow
def test_forced_rerun_is_byte_identical_and_status_clean(pipeline_repo):
    before = (pipeline_repo / "dvc.lock").read_text()
    dvc("repro", "-f", cwd=pipeline_repo)
    after = (pipeline_repo / "dvc.lock").read_text()
    changed = hash_differences(yaml.safe_load(before), yaml.safe_load(after))
    assert not changed, "outputs whose hash changed on a forced re-run:\n" + "\n".join(changed)
    status = dvc("status", cwd=pipeline_repo).stdout
    assert "up to date" in status, status


@pytest.mark.slow
def test_experiment_on_eps_reruns_only_downstream(pipeline_repo):
    result = dvc("exp", "run", "-S", "dbscan.eps=1.5", cwd=pipeline_repo)
    for stage in ("synthesize", "prepare", "train_autoencoder", "encode", "scale"):
        assert f"Stage '{stage}' didn't change, skipping" in result.stdout, result.stdout
    for stage in ("dbscan", "knn_report", "evaluate"):
        assert f"Running stage '{stage}'" in result.stdout, result.stdout
    shown = dvc("exp", "show", "--md", cwd=pipeline_repo).stdout
    assert "average_precision" in shown and "dbscan.eps" in shown
