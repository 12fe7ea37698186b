"""Run one stage script as `dvc repro` would (a subprocess in a project root), on hand-made inputs.

A work directory holds a copy of params.yaml (edited per case), links to the real `stages/` and `src/`, and
whatever inputs a case writes: a raw dataset in one of the three layouts, or the files an upstream stage
would have produced. `refused` checks the contract for bad input: exit status 1, one `error:` line naming
the culprit, no traceback, and not one file added, removed or changed in the work directory.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image

from tilescan.features import FEATURE_NAMES

ROOT = Path(__file__).resolve().parents[1]
RAW = "raw"  # data.raw_dir, relative to the work directory, as the messages show it

# Small enough that a stage which wrongly accepts its input still finishes in seconds.
BASE_PARAMS = {
    "common.img_size": 16,
    "data.raw_dir": RAW,
    "data.format": "auto",
    "data.labels_csv": "",
    "prepare.workers": 1,
    "train_autoencoder.filters": [4, 4, 4],
    "train_autoencoder.dense_units": 8,
    "train_autoencoder.latent_dim": 6,
    "train_autoencoder.batch_size": 4,
    "train_autoencoder.epochs": 1,
    "dbscan.eps": 0.9,
    "dbscan.min_samples": 2,
    "knn_report.queries": [],
    "knn_report.k": 3,
}


# ---- the work directory and the stage run ---------------------------------------------------------

def make_workdir(path: Path, **updates) -> Path:
    """A project root at path: params.yaml (BASE_PARAMS, then updates with "__" for "."), stages/, src/."""
    path.mkdir(parents=True, exist_ok=True)
    for name in ("stages", "src"):
        (path / name).symlink_to(ROOT / name, target_is_directory=True)
    set_params(path, {**BASE_PARAMS, **{key.replace("__", "."): value for key, value in updates.items()}})
    return path


def set_params(workdir: Path, updates: dict) -> None:
    """Set dotted keys ("dbscan.eps") in workdir/params.yaml, starting from the repository's file."""
    target = workdir / "params.yaml"
    params = yaml.safe_load((target if target.exists() else ROOT / "params.yaml").read_text())
    for dotted, value in updates.items():
        section, key = dotted.split(".", 1)
        params.setdefault(section, {})[key] = value
    target.write_text(yaml.safe_dump(params, sort_keys=False))


def run_stage(workdir: Path, stage: str) -> subprocess.CompletedProcess:
    """`python stages/<stage>.py` in workdir, as dvc.yaml's cmd runs it."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
           "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run([sys.executable, f"stages/{stage}.py"], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=300)


def snapshot(workdir: Path) -> dict[str, str]:
    """Every file under workdir (not inside the stages/src links) -> digest of its bytes."""
    files = {}
    for folder, dirs, names in os.walk(workdir):
        base = Path(folder)
        for name in names + [d for d in dirs if (base / d).is_symlink()]:
            path = base / name
            relative = str(path.relative_to(workdir))
            files[relative] = "link" if path.is_symlink() else hashlib.sha1(path.read_bytes()).hexdigest()
    return files


def stage_outputs(stage: str) -> list[str]:
    """The outs and metrics dvc.yaml declares for stage."""
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]
    entries = spec.get("outs", []) + spec.get("metrics", [])
    return [entry if isinstance(entry, str) else next(iter(entry)) for entry in entries]


def refused(workdir: Path, stage: str, *culprits: str) -> str:
    """Run stage, expect the bad-input contract, and return its error line."""
    before = snapshot(workdir)
    result = run_stage(workdir, stage)
    report = f"stages/{stage}.py exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 1, report
    assert "Traceback" not in result.stderr, report
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), report
    message = lines[-1]
    assert "\n" not in message
    for culprit in culprits:
        assert culprit in message, f"{culprit!r} not named in: {message}"
    # Nothing produced, nothing half-written, nothing removed or changed.
    after = snapshot(workdir)
    assert after == before, (f"files changed by a refused run: added {sorted(set(after) - set(before))}, "
                             f"removed {sorted(set(before) - set(after))}, changed "
                             f"{sorted(k for k in set(after) & set(before) if after[k] != before[k])}")
    for out in stage_outputs(stage):
        if not any(path == out or path.startswith(f"{out}/") for path in before):
            assert not (workdir / out).exists(), f"{out} exists after a refused run"
    assert not list(workdir.rglob(".tmp-*")), "temporary outputs left behind"
    return message


def succeeded(workdir: Path, stage: str) -> subprocess.CompletedProcess:
    result = run_stage(workdir, stage)
    assert result.returncode == 0, f"stages/{stage}.py failed:\n{result.stdout}\n{result.stderr}"
    return result


# ---- raw datasets ---------------------------------------------------------------------------------

def tile(seed: int, side: int = 32, black: bool = False) -> np.ndarray:
    """A bright-enough uint8 tile (prepare keeps it), or an all-black one (prepare drops it)."""
    if black:
        return np.zeros((side, side), np.uint8)
    return np.random.default_rng(seed).integers(40, 256, (side, side), dtype=np.uint8)


TRAIN_ROWS = [("c1", 0), ("c2", 0), ("c3", 1), ("c4", 0), ("c5", 0)]
TEST_ROWS = [("t1", 0), ("t2", 2), ("t3", 0)]


def write_png_csv(raw_dir: Path, train=TRAIN_ROWS, test=TEST_ROWS, black: bool = False) -> Path:
    """The notebook's layout: <split>_images/<id>.png and CSVs written by pandas (index column first)."""
    layout = (("training_data.csv", "train_images", train), ("test_data.csv", "test_images", test))
    for n, (csv, image_dir, rows) in enumerate(layout):
        (raw_dir / image_dir).mkdir(parents=True, exist_ok=True)
        frame = pd.DataFrame({"id": [r[0] for r in rows], "class": [r[1] for r in rows]})
        if csv == "training_data.csv":
            frame["normal_class"] = (frame["class"] == 0).astype(int)
        frame.to_csv(raw_dir / csv)
        for i, (tile_id, _) in enumerate(rows):
            Image.fromarray(tile(100 * n + i, black=black)).save(raw_dir / image_dir / f"{tile_id}.png")
    return raw_dir


def write_npy_pair(raw_dir: Path, prefix: str, labels: list[int], n_tiles: int | None = None) -> None:
    """The Kaggle release's `<prefix>_data.npy` (N x H x W x 1 uint8) and `<prefix>_labels.npy`."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    n_tiles = len(labels) if n_tiles is None else n_tiles
    data = np.stack([tile(i + len(prefix)) for i in range(n_tiles)])[..., None]
    np.save(raw_dir / f"{prefix}_data.npy", data)
    np.save(raw_dir / f"{prefix}_labels.npy", np.asarray(labels, np.int64))


def tf_example(label, image: bytes) -> bytes:
    """A record in the Kaggle DDSM schema (label, label_normal, raw image bytes); label as bytes = wrong."""
    import tensorflow as tf

    def feature(value):
        if isinstance(value, bytes):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    label_normal = int(label != 0) if isinstance(label, int) else 0
    return tf.train.Example(features=tf.train.Features(feature={
        "label": feature(label), "label_normal": feature(label_normal), "image": feature(image),
    })).SerializeToString()


def write_tfrecords(path: Path, records: list[bytes]) -> None:
    import tensorflow as tf

    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)


# ---- what upstream stages would have written ------------------------------------------------------

def write_prepared(workdir: Path, n_train: int = 6, n_val: int = 3, side: int = 16) -> list[str]:
    """data/prepared as prepare writes it: train.npy, val.npy (uint8 N x S x S), index.csv, dropped.csv."""
    out = workdir / "data/prepared"
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for split, n in (("train", n_train), ("val", n_val)):
        np.save(out / f"{split}.npy", np.stack([tile(i, side) for i in range(n)]))
        rows += [(f"{split[0]}{i}", f"{split}_images/{split[0]}{i}.png", split, i) for i in range(n)]
    pd.DataFrame(rows, columns=["id", "filename", "split", "row"]).to_csv(out / "index.csv", index=False)
    pd.DataFrame(columns=["id", "filename", "split", "reason"]).to_csv(out / "dropped.csv", index=False)
    return [row[0] for row in rows]


def write_latents(workdir: Path, folder: str, n: int, dim: int = 6, bad: float | None = None) -> None:
    """<folder>/latents.npy (float32 n x dim): two tight groups; bad (NaN, inf) put in one cell."""
    rng = np.random.default_rng(0)
    latents = np.concatenate([rng.normal(0, 0.05, (n // 2, dim)), rng.normal(3, 0.05, (n - n // 2, dim))])
    if bad is not None:
        latents[1, 2] = bad
    (workdir / folder).mkdir(parents=True, exist_ok=True)
    np.save(workdir / folder / "latents.npy", latents.astype(np.float32))


def write_clusters(workdir: Path, n: int) -> None:
    (workdir / "data/clusters").mkdir(parents=True, exist_ok=True)
    np.save(workdir / "data/clusters/labels.npy", (np.arange(n) >= n // 2).astype(np.int32))
    (workdir / "data/features").mkdir(parents=True, exist_ok=True)
    np.save(workdir / "data/features/features.npy", np.zeros((n, len(FEATURE_NAMES)), dtype=np.float32))
    (workdir / "data/features/names.json").write_text(json.dumps(FEATURE_NAMES))
