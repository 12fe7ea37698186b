"""The comparison behind `make repro-check`, on hand-made dvc.lock pairs and results (no pipeline run)."""
import pytest

from tilescan.repro_check import AP_TOLERANCE, flagged_ids, hash_differences, jaccard, metric_differences


def lock(**outs_by_stage: dict) -> dict:
    """A parsed dvc.lock: stage -> {path: md5} of its outputs (deps left out: they are not compared)."""
    return {"schema": "2.0", "stages": {stage: {"cmd": f"python stages/{stage}.py",
                                                "outs": [{"path": p, "md5": m, "size": 1} for p, m in outs.items()]}
                                        for stage, outs in outs_by_stage.items()}}


COMMITTED = lock(prepare={"data/prepared": "a1.dir", "metrics/prepare.json": "a2"},
                 features={"data/features": "b1.dir"},
                 train_autoencoder={"models/autoencoder.weights.h5": "c1", "metrics/train.json": "c2"})


def test_identical_locks_have_no_difference():
    assert hash_differences(COMMITTED, lock(**{s: {o["path"]: o["md5"] for o in e["outs"]}
                                               for s, e in COMMITTED["stages"].items()})) == []


def test_every_differing_output_is_named_with_its_stage_in_pipeline_order():
    reproduced = lock(prepare={"data/prepared": "a1.dir", "metrics/prepare.json": "a2"},
                      features={"data/features": "XX.dir"},
                      train_autoencoder={"models/autoencoder.weights.h5": "YY", "metrics/train.json": "c2"})
    assert hash_differences(COMMITTED, reproduced) == [
        "features: data/features: committed b1.dir, reproduced XX.dir",
        "train_autoencoder: models/autoencoder.weights.h5: committed c1, reproduced YY"]


def test_an_output_only_one_lock_has_is_a_difference():
    reproduced = lock(prepare={"data/prepared": "a1.dir", "metrics/prepare.json": "a2", "metrics/new.json": "n"},
                      features={"data/features": "b1.dir"})
    assert hash_differences(COMMITTED, reproduced) == [
        "prepare: metrics/new.json: committed absent, reproduced n",
        "train_autoencoder: metrics/train.json: committed c2, reproduced absent",
        "train_autoencoder: models/autoencoder.weights.h5: committed c1, reproduced absent"]


def results(ap=0.99, loss=0.6, flagged=frozenset(f"c{i}" for i in range(100))):
    return {"quality": {"average_precision": ap}, "train": {"loss": loss}, "flagged": set(flagged)}


def test_results_within_tolerances_pass():
    near = results(ap=0.99 + AP_TOLERANCE * 0.9, loss=0.6 * 1.009,
                   flagged={f"c{i}" for i in range(1, 100)} | {"x"})  # 2 of 101 differ: Jaccard 99/101 = 0.980
    assert jaccard(results()["flagged"], near["flagged"]) == pytest.approx(99 / 101)
    assert metric_differences(results(), near) == []


@pytest.mark.parametrize("changed, culprit", [
    ({"ap": 0.99 - AP_TOLERANCE * 1.1}, "average_precision"),
    ({"ap": None}, "average_precision"),
    ({"loss": 0.6 * 1.011}, "loss"),
    ({"flagged": {f"c{i}" for i in range(3, 100)}}, "Jaccard index 0.9700"),
])
def test_each_tolerance_is_checked(changed, culprit):
    differences = metric_differences(results(), results(**changed))
    assert len(differences) == 1 and culprit in differences[0], differences


def test_flagged_ids_reads_the_flagged_column():
    assert flagged_ids("id,score,flagged,cluster\nc1,0.9,1,0\n007,0.8,1,-1\nc3,0.1,0,2\n") == {"c1", "007"}
    assert jaccard(set(), set()) == 1.0
