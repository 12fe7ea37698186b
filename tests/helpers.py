"""The tests' one toolkit: params editing, raw datasets in the three layouts, what upstream stages write, one
stage run in a work directory, and a whole pipeline run in a fresh git + DVC repository.

A work directory holds a copy of params.yaml (edited per case), a link to the real `stages/`, and whatever
inputs a case writes: a raw dataset in one of the three layouts, or the files an upstream stage would have
produced. `refused` checks the contract for bad input: exit status 1, one `error:` line naming the culprit,
no traceback, and not one file added, removed or changed in the work directory. The stage scripts import
the installed `tilescan` package (`pip install -e .`).
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
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
    """A project root at path: params.yaml (BASE_PARAMS, then updates with "__" for "."), stages/."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "stages").symlink_to(ROOT / "stages", target_is_directory=True)
    set_params(path, {**BASE_PARAMS, **{key.replace("__", "."): value for key, value in updates.items()}})
    return path


def set_params(workdir: Path, updates: dict) -> None:
    """Set dotted keys ("dbscan.eps") in workdir/params.yaml (the repository's file when it has none yet)."""
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
    """Every file under workdir (not inside the stages link) -> digest of its bytes."""
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


def write_png_csv(raw_dir: Path, train=TRAIN_ROWS, test=TEST_ROWS, index: bool = True, pixels=None) -> Path:
    """The notebook's layout: <split>_images/<id>.png listed by training_data.csv / test_data.csv (id, class;
    training_data.csv also normal_class), written by pandas with its index column unless index=False; test=None
    writes no test split. pixels(split_number, row_number, tile_id) -> uint8 tile; default a bright random one."""
    pixels = pixels or (lambda split_number, row, _: tile(100 * split_number + row))
    layout = (("training_data.csv", "train_images", train), ("test_data.csv", "test_images", test))
    for n, (csv, image_dir, rows) in enumerate(layout):
        if rows is None:
            continue
        (raw_dir / image_dir).mkdir(parents=True, exist_ok=True)
        frame = pd.DataFrame({"id": [r[0] for r in rows], "class": [r[1] for r in rows]})
        if csv == "training_data.csv":
            frame["normal_class"] = (frame["class"] == 0).astype(int)
        frame.to_csv(raw_dir / csv, index=index)
        for i, (tile_id, _) in enumerate(rows):
            Image.fromarray(pixels(n, i, tile_id)).save(raw_dir / image_dir / f"{tile_id}.png")
    return raw_dir


def write_npy_pair(raw_dir: Path, prefix: str, labels: list[int], n_tiles: int | None = None) -> None:
    """The Kaggle release's `<prefix>_data.npy` (N x H x W x 1 uint8) and `<prefix>_labels.npy`."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    n_tiles = len(labels) if n_tiles is None else n_tiles
    data = np.stack([tile(i + len(prefix)) for i in range(n_tiles)])[..., None]
    np.save(raw_dir / f"{prefix}_data.npy", data)
    np.save(raw_dir / f"{prefix}_labels.npy", np.asarray(labels, np.int64))


def tf_example(label, image: bytes, filename: bytes | None = None) -> bytes:
    """A record in the Kaggle DDSM schema (label, label_normal, raw image bytes, optionally filename); label as
    bytes = wrong."""
    import tensorflow as tf

    def feature(value):
        if isinstance(value, bytes):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    label_normal = int(label != 0) if isinstance(label, int) else 0
    features = {"label": feature(label), "label_normal": feature(label_normal), "image": feature(image)}
    if filename is not None:
        features["filename"] = feature(filename)
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def write_tfrecords(path: Path, records: list[bytes]) -> None:
    import tensorflow as tf

    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)


# ---- what upstream stages would have written ------------------------------------------------------

def write_prepared(workdir: Path, n_train: int = 6, n_val: int = 3, side: int = 16) -> list[str]:
    """data/prepared as prepare writes it: train.npy, val.npy (uint8 N x S x S), index.csv (none mostly black),
    dropped.csv, pixels.json."""
    out = workdir / "data/prepared"
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for split, n in (("train", n_train), ("val", n_val)):
        np.save(out / f"{split}.npy", np.stack([tile(i, side) for i in range(n)]))
        rows += [(f"{split[0]}{i}", f"{split}_images/{split[0]}{i}.png", split, i, 0) for i in range(n)]
    pd.DataFrame(rows, columns=["id", "filename", "split", "row", "black"]).to_csv(out / "index.csv", index=False)
    pd.DataFrame(columns=["id", "filename", "split", "reason"]).to_csv(out / "dropped.csv", index=False)
    (out / "pixels.json").write_text(json.dumps({"bit_depth": 8}))
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
    (workdir / "data/detector").mkdir(parents=True, exist_ok=True)
    np.save(workdir / "data/detector/probability.npy", np.linspace(0, 1, n, dtype=np.float32))


# ---- a whole pipeline run -------------------------------------------------------------------------

TINY_PARAMS = {
    "common.img_size": 16,
    "synthesize.n_train": 160, "synthesize.n_test": 60, "synthesize.annotation_fraction": 0.15,
    "prepare.workers": 1,
    "train_autoencoder.filters": [4, 4, 4], "train_autoencoder.dense_units": 8, "train_autoencoder.latent_dim": 6,
    "train_autoencoder.batch_size": 32, "train_autoencoder.epochs": 2,
    "train_detector.n_examples": 64, "train_detector.max_base_tiles": 40, "train_detector.crop_size": 48,
    "train_detector.input_size": 64, "train_detector.batch_size": 16, "train_detector.workers": 1,
    "train_detector.pseudo_positives": 3,  # the optional self-training runs too (off by default)
    "dbscan.eps": "auto",
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


def pick_queries(repo: Path, n: int = 2) -> list[str]:
    """n annotation tiles of the tiny synthetic set's train split, then one mostly black train tile (a query
    that prepare marks black must still be scored and flagged)."""
    truth = pd.read_csv(repo / "data/synthetic/annotations.csv", dtype={"id": str})
    table = pd.read_csv(repo / "data/synthetic/training_data.csv", index_col=0, dtype={"id": str})
    train = set(table.loc[table["class"] == 0, "id"])
    candidates = truth[(truth["annotation"] == 1) & truth["id"].isin(train)
                       & truth["kind"].isin(["label_strip", "text_over_tissue", "text_low_contrast"])]
    black = [tile_id for tile_id in sorted(train)
             if np.mean(np.asarray(Image.open(repo / f"data/synthetic/train_images/{tile_id}.png")) < 20) > 0.95]
    return candidates["id"].head(n).tolist() + black[:1]


def pipeline_run(repo: Path) -> Path:
    """A tiny synthetic run of the whole pipeline (`dvc repro`) in repo, committed."""
    set_params(repo, TINY_PARAMS)
    dvc("repro", "synthesize", cwd=repo)
    set_params(repo, {"knn_report.queries": pick_queries(repo), "knn_report.k": 3})
    dvc("repro", cwd=repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "tiny pipeline run"], repo)
    return repo


# ---- the package's import graph (read with ast, nothing imported) ------------------------------------------

SRC = ROOT / "src"


def module_file(name: str) -> Path | None:
    """src/<name>.py, or src/<name>/__init__.py for a package; None when name is not a tilescan module."""
    base = SRC / name.replace(".", "/")
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_modules(path: Path) -> set[str]:
    """The tilescan modules and packages that the file at path imports, anywhere in it (functions too):
    `from a.b import c` names a.b.c when c is a module (as `import a.b.c` does), else a.b."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tilescan":
            assert node.level == 0, f"{path}: relative import"
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                names.add(submodule if module_file(submodule) else node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.split(".")[0] == "tilescan")
    return {name for name in names if module_file(name)}
