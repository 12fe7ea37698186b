"""A tiny end-to-end pipeline run in a temporary git + DVC repository, shared by the slow tests."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

TINY_PARAMS = {
    "common": {"img_size": 16},
    "synthesize": {"n_train": 160, "n_test": 60, "annotation_fraction": 0.15},
    "prepare": {"workers": 1},
    "train_autoencoder": {"filters": [4, 4, 4], "dense_units": 8, "latent_dim": 6, "batch_size": 32, "epochs": 2},
    "dbscan": {"eps": "auto"},
}


def run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command with this interpreter's environment first on PATH (as `make` does)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": "0"}
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def dvc(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "dvc", *args], cwd, check)


def make_repo(dest: Path) -> Path:
    """Copy the tracked project files into dest and make it a fresh git + DVC repository."""
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    for name in tracked:
        source = ROOT / name
        if name.startswith(("tests/", "benchmarks/")) or not (source.exists() or source.is_symlink()):
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            (dest / name).symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, dest / name)
    for cmd in (["git", "init", "-q"], ["git", "config", "user.email", "t@example.com"],
                ["git", "config", "user.name", "test"], ["git", "add", "-A"], ["git", "commit", "-qm", "project"]):
        run(cmd, dest)  # dvclive needs a commit to exist
    return dest


def set_params(repo: Path, updates: dict) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in updates.items():
        params[section].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def pick_queries(repo: Path, n: int = 2) -> list[str]:
    """Annotation tiles of the tiny synthetic set that prepare keeps (not mostly black)."""
    truth = pd.read_csv(repo / "data/synthetic/annotations.csv", dtype={"id": str})
    train = set(pd.read_csv(repo / "data/synthetic/training_data.csv", index_col=0, dtype={"id": str})["id"])
    candidates = truth[(truth["annotation"] == 1) & truth["id"].isin(train)
                       & truth["kind"].isin(["label_strip", "text_over_tissue", "text_low_contrast"])]
    return candidates["id"].head(n).tolist()


@pytest.fixture(scope="session")
def pipeline_repo(tmp_path_factory) -> Path:
    """A tiny synthetic run of the whole pipeline (`dvc repro`), committed."""
    repo = make_repo(tmp_path_factory.mktemp("pipeline"))
    set_params(repo, TINY_PARAMS)
    dvc("repro", "synthesize", cwd=repo)
    set_params(repo, {"knn_report": {"queries": pick_queries(repo), "k": 3}})
    dvc("repro", cwd=repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "tiny pipeline run"], repo)
    return repo
