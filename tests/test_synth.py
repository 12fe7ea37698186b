"""The synthetic DDSM-like dataset: the notebook's on-disk layout, determinism, labels and parameter checks."""
import ast
import importlib.util
import os
import sys
import types
from functools import partial
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFont
from scipy import ndimage

from helpers import set_params
from tilescan.errors import TilescanError
from tilescan.params import load_params
from tilescan.synth import (
    ANNOTATION_KINDS,
    MARKER,
    NOTEBOOK_QUERY_KINDS,
    TilePlan,
    feeds_pipeline,
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
    """stages/synthesize.py as a module, its main callable in this process. Its first import pins the math, which
    refuses to run once NumPy is loaded (as here); tests/test_runtime.py checks the pins in fresh processes."""
    spec = importlib.util.spec_from_file_location("synthesize_stage", ROOT / "stages" / "synthesize.py")
    stage = importlib.util.module_from_spec(spec)
    with mock.patch.dict(sys.modules, {"tilescan.pinned": types.ModuleType("tilescan.pinned")}):
        spec.loader.exec_module(stage)
    return stage


def stage_params(out_dir: Path) -> dict:
    return {"common.seed": 1, "synthesize.out_dir": str(out_dir), "synthesize.n_train": 6, "synthesize.n_test": 3,
            "synthesize.tile_size": 64, "synthesize.annotation_fraction": 0.5, "synthesize.style": "default",
            "data.raw_dir": str(out_dir), "data.labels_csv": str(out_dir / "annotations.csv")}


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


@pytest.mark.parametrize("labels_inside", [False, True])
def test_stage_skips_the_set_when_the_pipeline_reads_other_data(tmp_path, monkeypatch, labels_inside):
    """Issue 13: with data.raw_dir elsewhere nothing reads the synthetic tiles, so none are written; ground truth
    kept in out_dir still needs them."""
    stage = load_stage()
    monkeypatch.setattr(stage, "synthesize", partial(synthesize, workers=1))
    out_dir = tmp_path / "synthetic"
    labels = out_dir / "annotations.csv" if labels_inside else tmp_path / "mine" / "labels.csv"
    updates = {**stage_params(out_dir), "data.raw_dir": str(tmp_path / "mine"), "data.labels_csv": str(labels)}
    summary = stage.main(load_params_with(tmp_path, updates))
    if labels_inside:
        assert summary.startswith("synthesize: wrote 6 train + 3 test tiles")
        return
    assert summary.startswith("synthesize: skipped, data.raw_dir (") and "SKIPPED.txt" in summary
    assert sorted(p.name for p in out_dir.iterdir()) == sorted([MARKER, "SKIPPED.txt"])
    (tmp_path / "project" / "params.yaml").unlink()
    (tmp_path / "project").rmdir()
    stage.main(load_params_with(tmp_path, stage_params(out_dir)))  # pointed back at it: the note is replaced
    assert len(list((out_dir / "train_images").iterdir())) == 6 and not (out_dir / "SKIPPED.txt").exists()


def test_feeds_pipeline_looks_inside_out_dir_not_at_names(tmp_path):
    out_dir = tmp_path / "data" / "synthetic"
    assert feeds_pipeline(out_dir, str(out_dir), "")
    assert feeds_pipeline(out_dir, str(out_dir / "sub"), "")
    assert feeds_pipeline(out_dir, str(tmp_path / "mine"), str(out_dir / "annotations.csv"))
    assert not feeds_pipeline(out_dir, str(tmp_path / "data" / "synthetic2"), "")
    assert not feeds_pipeline(out_dir, str(tmp_path / "data"), "")


# ---- what real film shows besides bright text (issue 10) ----

NEW_ANNOTATION_KINDS = ("dark_on_tag", "margin_digits", "faint_text", "mirrored_text", "edge_text")


def kind_tiles(kind: str, n: int = 8, style: str = "default") -> list[np.ndarray]:
    style_ = lettering_style(style)
    return [render_tile(TilePlan("train", i, 0, kind), SEED, 299, style_) for i in range(n)]


def test_new_lettering_kinds_are_annotations_and_markers_are_hard_negatives():
    assert set(NEW_ANNOTATION_KINDS) <= set(ANNOTATION_KINDS)
    assert all(TilePlan("train", 0, 0, kind).annotation == 1 for kind in NEW_ANNOTATION_KINDS)
    assert TilePlan("train", 0, 0, "marker").annotation == 0
    new_share = sum(ANNOTATION_KINDS[kind] for kind in NEW_ANNOTATION_KINDS) / sum(ANNOTATION_KINDS.values())
    assert 0.4 <= new_share <= 0.6, "about half of the lettering is what the older sets lacked"


@pytest.mark.parametrize("style", ["default", "holdout"])
def test_dark_on_tag_is_a_bright_rectangle_holding_dark_letters(style):
    if style == "holdout" and not lettering.LIBERATION_DIR.is_dir():
        pytest.skip("apt-get install fonts-liberation")
    for i, tile in enumerate(kind_tiles("dark_on_tag", style=style)):
        smooth = ndimage.median_filter(tile, 3)
        labels, n = ndimage.label(smooth > 150)
        tags = []  # bright regions that are rectangles holding dark letters (which may run off a cut tag)
        for box in ndimage.find_objects(labels):
            inner = smooth[box][4:-4, 4:-4]  # clear of the film a slight tilt shows in the box's corners
            bright, dark = (inner > 150).mean() if inner.size else 0, (inner < 110).sum()
            tags.append(inner.size >= 200 and bright > 0.6 and 15 <= dark <= 0.4 * inner.size)
        assert any(tags), f"tile {i}: no bright rectangle with dark letters"


def test_margin_digits_are_small_strokes_on_a_mostly_black_tile():
    tiles = kind_tiles("margin_digits", n=12)
    black = [(tile < 20).mean() for tile in tiles]
    assert sum(share > 0.9 for share in black) >= 6, "like real film, most such tiles are over 90% black"
    for tile, share in zip(tiles, black):
        if share > 0.9:  # small grey strokes, apart from any sliver of breast
            labels, _ = ndimage.label(ndimage.median_filter(tile, 3) > np.median(tile) + 18)
            sizes = np.bincount(labels.ravel())[1:]
            assert ((sizes >= 3) & (sizes <= 0.02 * tile.size)).any()


def test_faint_text_is_a_few_tens_of_levels_above_the_film():
    style = lettering_style("default")
    flat = np.full((299, 299), 10.0, dtype=np.float32)
    for i in range(6):
        ink = lettering.draw_text(flat, "faint_text", style, np.random.default_rng(i)) - flat
        text = ink > 0.9 * ink.max()
        assert 12 <= ink.max() <= 40 and text.sum() >= 40


def test_mirrored_text_is_the_mirror_image_of_the_plain_rendering():
    font = lettering_style("default").fonts[0]
    plain = lettering.text_mask("MAY 25", font, 40, angle=0, stroke=0)
    mirrored = lettering.text_mask("MAY 25", font, 40, angle=0, stroke=0, mirror=True)
    assert not np.allclose(mirrored, plain)
    np.testing.assert_array_equal(mirrored, np.fliplr(plain))
    for tile in kind_tiles("mirrored_text", n=4):  # drawn bright, as burned-in text is
        assert (ndimage.median_filter(tile, 3) > 180).sum() >= 40


def test_edge_text_is_lettering_beside_a_bright_film_edge():
    for tile in kind_tiles("edge_text"):
        smooth = ndimage.median_filter(tile, 3)
        sides = [smooth[:, -2:], smooth[-2:, :].T, smooth[:, :2], smooth[:2, :].T]  # right, bottom, left, top
        assert max(side.mean() for side in sides) > 150, "a bright film edge along one side"
        labels, _ = ndimage.label(smooth > 120)
        edge_side = int(np.argmax([side.mean() for side in sides]))
        strip = [labels[:, -2:], labels[-2:, :], labels[:, :2], labels[:2, :]][edge_side]
        edge_label = np.bincount(strip[strip > 0]).argmax()
        assert ((labels > 0) & (labels != edge_label)).sum() >= 30, "lettering apart from the edge"


def test_marker_is_a_bright_compact_blob_without_annotation():
    assert TilePlan("train", 0, 0, "marker").annotation == 0
    for tile in kind_tiles("marker"):
        smooth = ndimage.median_filter(tile, 3).astype(float)
        peak = np.unravel_index(np.argmax(smooth), smooth.shape)
        assert smooth[peak] > 180
        labels, _ = ndimage.label(smooth > smooth[peak] - 25)  # the flat top of the metal, not glaring tissue
        blob = ndimage.binary_fill_holes(labels == labels[peak])
        rows, cols = np.nonzero(blob)
        assert blob.sum() >= 6 and max(np.ptp(rows), np.ptp(cols)) < 0.35 * tile.shape[0], "small"
        assert blob.sum() / ((np.ptp(rows) + 1) * (np.ptp(cols) + 1)) > 0.5, "compact and solid"


def test_new_kinds_render_identically_from_the_same_seed():
    style = lettering_style("default")
    for kind in (*NEW_ANNOTATION_KINDS, "marker"):
        plan = TilePlan("test", 2, 0, kind)
        assert render_tile(plan, SEED, 128, style).tobytes() == render_tile(plan, SEED, 128, style).tobytes()


def test_annotations_csv_names_every_kind_and_is_reproducible(tmp_path):
    synthesize(tmp_path / "a", 240, 60, SEED, tile_size=64, annotation_fraction=0.5, workers=2)
    truth = pd.read_csv(tmp_path / "a" / "annotations.csv")
    counts = truth["kind"].value_counts()
    assert set(ANNOTATION_KINDS) | {"marker"} <= set(counts.index), counts
    assert (truth.loc[truth["kind"].isin(NEW_ANNOTATION_KINDS), "annotation"] == 1).all()
    assert (truth.loc[truth["kind"] == "marker", "annotation"] == 0).all()
    synthesize(tmp_path / "b", 240, 60, SEED, tile_size=64, annotation_fraction=0.5, workers=1)
    assert all_files(tmp_path / "b") == all_files(tmp_path / "a")


@pytest.mark.skipif(not Path("/usr/share/fonts/truetype/liberation").is_dir() and not os.environ.get("CI"),
                    reason="apt-get install fonts-liberation (CI installs it)")
@pytest.mark.parametrize("kind", NEW_ANNOTATION_KINDS)
def test_holdout_style_draws_every_new_kind_with_liberation_fonts_only(kind, monkeypatch):
    used = []
    truetype = ImageFont.truetype
    monkeypatch.setattr(ImageFont, "truetype", lambda font, *args, **kw: used.append(Path(font).name)
                        or truetype(font, *args, **kw))
    holdout = lettering_style("holdout")
    assert set(holdout.digits).isdisjoint(lettering_style("default").digits)
    for i in range(4):
        render_tile(TilePlan("train", i, 0, kind), SEED, 128, holdout)
    assert used and all(name.startswith("Liberation") for name in used), used


def test_the_generator_shares_no_code_with_the_detector():
    """The detector's compositor draws its own lettering; a check on this set is honest only if nothing of
    the compositor (fonts, words, drawing) leaks into the generator."""
    for module in (ROOT / "src" / "tilescan" / "synth").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0 and node.module.startswith(("tilescan.synth", "tilescan.errors",
                                                                   "tilescan.parallel", "__future__", "typing",
                                                                   "dataclasses", "pathlib", "PIL", "scipy")), module
            elif isinstance(node, ast.Import):
                assert not any(alias.name.startswith("tilescan.detect") for alias in node.names), module
