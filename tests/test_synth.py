"""The synthetic DDSM-like dataset: the notebook's on-disk layout, determinism, labels and parameter checks."""
import importlib.util
import os
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers import set_params
from tilescan.errors import TilescanError
from tilescan.params import load_params
from tilescan.synth import (
    ANNOTATION_KINDS,
    MARKER,
    NOTEBOOK_QUERY_KINDS,
    TilePlan,
    lettering,
    lettering_style,
    plan_tile,
    render_tile,
    synthesize,
)

ROOT = Path(__file__).resolve().parents[1]
N_TRAIN, N_TEST, SEED = 60, 20, 7


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, dict]:
    out_dir = tmp_path_factory.mktemp("synth") / "data"
    return out_dir, synthesize(out_dir, N_TRAIN, N_TEST, SEED, workers=2)


def all_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_csvs_have_the_notebook_schema(dataset):
    out_dir, counts = dataset
    train = pd.read_csv(out_dir / "training_data.csv", index_col=0)
    assert train.columns.tolist() == ["id", "class", "normal_class"]
    assert train.index.tolist() == list(range(N_TRAIN))
    assert train["id"].tolist() == [f"c{i}" for i in range(1, N_TRAIN + 1)]
    assert train["class"].isin(range(5)).all()
    assert (train["normal_class"] == (train["class"] != 0).astype(int)).all()
    test = pd.read_csv(out_dir / "test_data.csv", index_col=0)
    assert test.columns.tolist() == ["id", "class"]
    assert test.index.tolist() == list(range(N_TEST))
    assert test["id"].tolist() == [f"img{i}" for i in range(1, N_TEST + 1)]
    truth = pd.read_csv(out_dir / "annotations.csv")
    assert truth.columns.tolist() == ["id", "annotation", "kind"]
    assert truth["id"].tolist() == train["id"].tolist() + test["id"].tolist()
    assert (truth["annotation"] == truth["kind"].isin(list(ANNOTATION_KINDS)).astype(int)).all()
    classes = pd.concat([train, test]).set_index("id")["class"]
    assert (classes[truth.loc[truth["annotation"] == 1, "id"]] == 0).all(), "annotations are class 0 only"
    assert counts["n_annotation_train"] + counts["n_annotation_test"] == truth["annotation"].sum()


def test_images_are_8bit_grayscale_tiles_one_per_id(dataset):
    out_dir, _ = dataset
    for split, csv, n in (("train_images", "training_data.csv", N_TRAIN), ("test_images", "test_data.csv", N_TEST)):
        ids = pd.read_csv(out_dir / csv, index_col=0)["id"]
        assert sorted(p.stem for p in (out_dir / split).iterdir()) == sorted(ids)
        for tile_id in ids[:5]:
            with Image.open(out_dir / split / f"{tile_id}.png") as image:
                assert image.mode == "L" and image.size == (299, 299)


def test_same_seed_gives_identical_bytes_serial_or_parallel(dataset, tmp_path):
    out_dir, _ = dataset
    synthesize(tmp_path / "again", N_TRAIN, N_TEST, SEED, workers=1)
    assert all_files(tmp_path / "again") == all_files(out_dir)


def test_different_seed_gives_different_data():
    lettering = lettering_style("default")
    plans = [plan_tile(SEED, "train", i, 0.04) for i in range(200)]
    assert plans != [plan_tile(SEED + 1, "train", i, 0.04) for i in range(200)]
    plan = TilePlan("train", 0, 0, "tissue")
    assert not np.array_equal(render_tile(plan, SEED, 64, lettering), render_tile(plan, SEED + 1, 64, lettering))


@pytest.mark.parametrize("seed", [0, 42])
def test_notebook_query_ids_are_varied_annotation_tiles_that_survive_the_black_rule(seed):
    lettering = lettering_style("default")
    plans = [plan_tile(seed, "train", int(tile_id) - 1, 0.04) for tile_id in NOTEBOOK_QUERY_KINDS]
    assert [p.tile_id for p in plans] == ["c311", "c545", "c578", "c596", "c1191"]
    assert all(p.annotation == 1 and p.tile_class == 0 for p in plans)
    assert len({p.kind for p in plans}) == 5
    for plan in plans:  # prepare drops tiles with more than 90% of pixels darker than 20
        assert (render_tile(plan, seed, 299, lettering) < 20).mean() < 0.9, plan


@pytest.mark.parametrize("split", ["train", "test"])
def test_class_mix_and_annotation_share(split):
    plans = [plan_tile(SEED, split, i, 0.04) for i in range(10_000, 14_000)]
    normal = [p for p in plans if p.tile_class == 0]
    assert 0.66 < len(normal) / len(plans) < 0.74
    assert 0.025 < sum(p.annotation for p in normal) / len(normal) < 0.055
    assert {p.kind for p in normal if p.annotation} == set(ANNOTATION_KINDS)
    assert {p.kind for p in plans if p.tile_class in (1, 3)} == {"calcification"}
    assert {p.kind for p in plans if p.tile_class in (2, 4)} == {"mass"}


def test_refuses_a_non_empty_out_dir(tmp_path):
    (tmp_path / "stale.png").write_bytes(b"")
    with pytest.raises(TilescanError, match="synthesize.out_dir"):
        synthesize(tmp_path, 4, 2, 0, tile_size=64)


@pytest.mark.skipif(not Path("/usr/share/fonts/truetype/liberation").is_dir() and not os.environ.get("CI"),
                    reason="apt-get install fonts-liberation (CI installs it)")
def test_holdout_style_uses_other_fonts_words_and_angles():
    default, holdout = lettering_style("default"), lettering_style("holdout")
    assert {f.name for f in default.fonts}.isdisjoint(f.name for f in holdout.fonts)
    assert all(f.name.startswith("DejaVu") for f in default.fonts)
    assert all(f.name.startswith("Liberation") for f in holdout.fonts)
    assert set(default.words).isdisjoint(holdout.words) and set(default.singles).isdisjoint(holdout.singles)
    assert default.axis_aligned != holdout.axis_aligned
    plan = TilePlan("train", 3, 0, "text_rotated")
    assert not np.array_equal(render_tile(plan, SEED, 128, default), render_tile(plan, SEED, 128, holdout))


def test_missing_holdout_fonts_say_how_to_install_them(tmp_path, monkeypatch):
    monkeypatch.setattr(lettering, "LIBERATION_DIR", tmp_path)
    with pytest.raises(TilescanError, match="LiberationSans-Bold.ttf.*apt-get install fonts-liberation"):
        lettering_style("holdout")


def load_stage():
    spec = importlib.util.spec_from_file_location("synthesize_stage", ROOT / "stages" / "synthesize.py")
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    return stage


def stage_params(out_dir: Path) -> dict:
    return {"common.seed": 1, "synthesize.out_dir": str(out_dir), "synthesize.n_train": 6, "synthesize.n_test": 3,
            "synthesize.tile_size": 64, "synthesize.annotation_fraction": 0.5, "synthesize.style": "default"}


def load_params_with(tmp_path: Path, updates: dict):
    """The repository's params.yaml with updates, validated as a stage reads it."""
    workdir = tmp_path / "project"
    workdir.mkdir()
    set_params(workdir, updates)
    return load_params(workdir / "params.yaml")


def test_stage_writes_through_a_temporary_dir_and_prints_a_summary(tmp_path, monkeypatch):
    stage = load_stage()
    monkeypatch.setattr(stage, "synthesize", partial(synthesize, workers=1))  # no worker start-up: faster
    out_dir = tmp_path / "synthetic"
    summary = stage.main(load_params_with(tmp_path, stage_params(out_dir)))
    assert summary.startswith("synthesize: wrote 6 train + 3 test tiles (") and summary.endswith(str(out_dir))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project", "synthetic"], "no temporary dir left behind"
    assert len(list((out_dir / "train_images").iterdir())) == 6


def test_stage_names_a_bad_parameter_before_writing(tmp_path):
    updates = {**stage_params(tmp_path / "synthetic"), "synthesize.style": "fancy"}
    with pytest.raises(TilescanError, match=r"synthesize\.style must be one of default, holdout"):
        load_stage().main(load_params_with(tmp_path, updates))
    assert not (tmp_path / "synthetic").exists()


def test_stage_never_replaces_a_folder_it_did_not_make(tmp_path):
    """Finding 1: synthesize.out_dir naming a user's dataset replaced it with synthetic tiles, exit 0."""
    mine = tmp_path / "mine"
    (mine / "train_images").mkdir(parents=True)
    (mine / "train_images/c1.png").write_bytes(b"user tile")
    (mine / "training_data.csv").write_text("id,class\nc1,0\n")
    before = sorted(str(p.relative_to(mine)) for p in mine.rglob("*"))
    with pytest.raises(TilescanError, match=r"synthesize\.out_dir: .*mine exists and was not made by synthesize"):
        load_stage().main(load_params_with(tmp_path, stage_params(mine)))
    assert sorted(str(p.relative_to(mine)) for p in mine.rglob("*")) == before
    assert (mine / "train_images/c1.png").read_bytes() == b"user tile"


def test_stage_replaces_its_own_folder(tmp_path, monkeypatch):
    stage = load_stage()
    monkeypatch.setattr(stage, "synthesize", partial(synthesize, workers=1))
    out_dir = tmp_path / "synthetic"
    stage.main(load_params_with(tmp_path, stage_params(out_dir)))
    assert (out_dir / MARKER).is_file()
    (tmp_path / "project" / "params.yaml").unlink()
    (tmp_path / "project").rmdir()
    stage.main(load_params_with(tmp_path, {**stage_params(out_dir), "synthesize.n_train": 4}))
    assert len(list((out_dir / "train_images").iterdir())) == 4  # replaced, nothing stale left beside
