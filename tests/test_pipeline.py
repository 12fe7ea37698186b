"""End to end on tiny params: every stage's outputs, byte-identical re-runs, experiments re-run only what
changed, and `dvc status` clean afterwards."""
import json
import shutil
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import ROOT, dvc, run
from tilescan.repro_check import hash_differences

EXPECTED_STAGES = {"synthesize", "prepare", "train_autoencoder", "train_detector", "encode", "scale", "dbscan",
                   "knn_report", "evaluate"}

DETECTOR_OUTPUTS = ("models/detector.weights.h5", "data/detector/probability.npy", "metrics/detector.json")


@pytest.mark.slow
def test_every_stage_ran_and_wrote_its_outputs(pipeline_repo):
    lock = yaml.safe_load((pipeline_repo / "dvc.lock").read_text())
    assert EXPECTED_STAGES <= set(lock["stages"])
    flagged = pd.read_csv(pipeline_repo / "reports/flagged.csv", dtype={"id": str})
    assert flagged.columns.tolist() == ["id", "score", "flagged", "cluster", "dropped_black", "statistics",
                                        "evidence", "query_similarity", "detector"]
    assert flagged["score"].is_monotonic_decreasing and flagged["flagged"].isin([0, 1]).all()
    # every class-0 tile of both splits has a row, mostly black ones included
    class0 = []
    for csv in ("training_data.csv", "test_data.csv"):
        table = pd.read_csv(pipeline_repo / "data/synthetic" / csv, index_col=0, dtype={"id": str})
        class0 += table.loc[table["class"] == 0, "id"].tolist()
    assert sorted(flagged["id"]) == sorted(class0)
    index = pd.read_csv(pipeline_repo / "data/prepared/index.csv", dtype={"id": str})
    assert sorted(flagged["id"]) == sorted(index["id"]) and flagged["dropped_black"].sum() == index["black"].sum() > 0
    probability = np.load(pipeline_repo / "data/detector/probability.npy")
    assert probability.dtype == np.float32 and len(probability) == len(index)
    assert np.allclose(flagged.set_index("id").loc[index["id"], "detector"], probability, atol=1e-6)
    quality = json.loads((pipeline_repo / "metrics/quality.json").read_text())
    for key in ("average_precision", "precision", "recall", "f1", "recall_at_precision_0.9"):
        assert 0.0 <= quality[key] <= 1.0
    train = json.loads((pipeline_repo / "metrics/train.json").read_text())
    assert train["epochs_run"] == 2
    detector = json.loads((pipeline_repo / "metrics/detector.json").read_text())
    assert detector["examples"] == 64 and detector["tiles_scored"] == len(index)
    pseudo = detector["pseudo_positive_tiles"]  # self-training: its surest train tiles, never a query
    queries = yaml.safe_load((pipeline_repo / "params.yaml").read_text())["knn_report"]["queries"]
    assert len(set(pseudo)) == 3 and not set(pseudo) & set(queries)
    assert (index.set_index("id").loc[pseudo, "split"] == "train").all()


@pytest.mark.slow
def test_a_mostly_black_query_is_scored_and_flagged(pipeline_repo):
    queries = yaml.safe_load((pipeline_repo / "params.yaml").read_text())["knn_report"]["queries"]
    index = pd.read_csv(pipeline_repo / "data/prepared/index.csv", dtype={"id": str}).set_index("id")
    black_queries = [q for q in queries if index.loc[q, "black"] == 1]
    assert black_queries, "the tiny run has no mostly black query"
    flagged = pd.read_csv(pipeline_repo / "reports/flagged.csv", dtype={"id": str}).set_index("id")
    assert (flagged.loc[black_queries, "flagged"] == 1).all()
    assert (flagged.loc[black_queries, "dropped_black"] == 1).all()


@pytest.mark.slow
def test_each_query_is_its_own_first_neighbour(pipeline_repo):
    knn = pd.read_csv(pipeline_repo / "reports/knn.csv")
    firsts = knn[knn["rank"] == 0]
    assert len(firsts) == 3 and (firsts["neighbour"] == firsts["query"]).all() and (firsts["distance"] == 0).all()
    assert (knn.groupby("query")["distance"].apply(lambda d: d.is_monotonic_increasing)).all()


@pytest.mark.slow
def test_forced_rerun_is_byte_identical_and_status_clean(pipeline_repo):
    before = (pipeline_repo / "dvc.lock").read_text()
    detector = [(pipeline_repo / path).read_bytes() for path in DETECTOR_OUTPUTS]
    dvc("repro", "-f", cwd=pipeline_repo)
    after = (pipeline_repo / "dvc.lock").read_text()
    assert [(pipeline_repo / path).read_bytes() for path in DETECTOR_OUTPUTS] == detector, \
        "the detector's weights, probabilities or metrics differ on a re-run"
    changed = hash_differences(yaml.safe_load(before), yaml.safe_load(after))
    assert not changed, "outputs whose hash changed on a forced re-run:\n" + "\n".join(changed)
    status = dvc("status", cwd=pipeline_repo).stdout
    assert "up to date" in status, status


@pytest.mark.slow
def test_experiment_on_eps_reruns_only_downstream(pipeline_repo):
    result = dvc("exp", "run", "-S", "dbscan.eps=0.01", cwd=pipeline_repo)  # every tile noise: labels change
    for stage in ("synthesize", "prepare", "train_autoencoder", "train_detector", "encode", "scale"):
        assert f"Stage '{stage}' didn't change, skipping" in result.stdout, result.stdout
    for stage in ("dbscan", "knn_report", "evaluate"):
        assert f"Running stage '{stage}'" in result.stdout, result.stdout
    shown = dvc("exp", "show", "--md", cwd=pipeline_repo).stdout
    assert "average_precision" in shown and "dbscan.eps" in shown


@pytest.mark.slow
def test_experiment_on_verdicts_reruns_only_the_stages_that_read_them(pipeline_repo, tmp_path):
    repo = tmp_path / "verdicts"
    shutil.copytree(pipeline_repo, repo, symlinks=True)
    flagged = pd.read_csv(repo / "reports/flagged.csv", dtype={"id": str})
    chosen = flagged.loc[flagged["flagged"] == 0, "id"].iloc[0]
    (repo / "verdicts/verdicts.csv").write_text(f"id,annotation,reviewed_at\n{chosen},1,\n")
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "verdicts"], repo)
    result = dvc("exp", "run", "-S", "review.verdicts=verdicts/verdicts.csv", cwd=repo)
    for stage in ("synthesize", "prepare", "features", "train_autoencoder", "encode", "scale", "dbscan"):
        assert f"Stage '{stage}' didn't change, skipping" in result.stdout, result.stdout
    for stage in ("train_detector", "knn_report", "evaluate", "report"):
        assert f"Running stage '{stage}'" in result.stdout, result.stdout
    detector = json.loads((repo / "metrics/detector.json").read_text())  # with queries, one positive is learned
    assert (detector["reviewed_lettering_tiles"], detector["reviewed_not_lettering_tiles"]) == (1, 0)
    after = pd.read_csv(repo / "reports/flagged.csv", dtype={"id": str}).set_index("id")
    assert after.loc[chosen, "flagged"] == 1
    reviewed = json.loads((repo / "metrics/quality.json").read_text())["reviewed"]
    assert reviewed["n_reviewed"] == 1 and "not an unbiased sample" in reviewed["note"]
    # editing the file in place is a change of the verdicts/ dependency: the same stages, and only they
    with (repo / "verdicts/verdicts.csv").open("a") as verdicts:
        verdicts.write(f"{flagged['id'].iloc[0]},0,\n")
    status = dvc("status", cwd=repo).stdout
    stale = {line.strip().rstrip(":") for line in status.splitlines() if line and not line.startswith((" ", "\t"))}
    assert stale == {"train_detector", "knn_report", "evaluate", "report"}, status


@pytest.mark.slow
def test_review_curve_can_retrain_the_detector_on_the_verdicts(pipeline_repo, tmp_path):
    repo = tmp_path / "curve"
    shutil.copytree(pipeline_repo, repo, symlinks=True)
    script = str(ROOT / "benchmarks/review_curve.py")
    run([sys.executable, script, "--out", "fixed.json"], repo)
    run([sys.executable, script, "--retrain-detector"], repo)
    fixed = json.loads((repo / "fixed.json").read_text())
    retrained = json.loads((repo / "metrics/review_curve_retrained.json").read_text())
    assert retrained["detector_retrained"] and not fixed["detector_retrained"]
    assert [point["reviewed"] for point in retrained["curve"]] == [point["reviewed"] for point in fixed["curve"]]
    assert retrained["curve"][0] == fixed["curve"][0]  # no verdicts yet: the pipeline's own detector
    assert retrained["curve"][1:] != fixed["curve"][1:]  # verdicts: a detector trained on them
    assert retrained["queue_without_queries"]["0"] != fixed["queue_without_queries"]["0"]  # trained without queries
    assert retrained["random_order_mean_of_3"] == fixed["random_order_mean_of_3"]  # the control keeps the pipeline's
