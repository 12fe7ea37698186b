"""On a handful of real film tiles (../shared/realdev, read in place; skipped when the folder is absent): the
lettering that a black filter used to drop is there, the compositor draws on real tiles, and the statistics
and an untrained-size detector score every tile, the mostly black ones included."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers import ROOT
from tilescan.detect import LETTERING_KINDS, build_core, build_detector, composite_lettering
from tilescan.features import FEATURE_NAMES, tile_features
from tilescan.prepare import black_fraction
from tilescan.score import text_evidence
from tilescan.scoring_input import tone_table

REALDEV = ROOT.parent / "shared" / "realdev"
pytestmark = pytest.mark.skipif(not (REALDEV / "annotations.csv").is_file(), reason=f"{REALDEV} not present")


@pytest.fixture(scope="module")
def tiles() -> dict[str, tuple[np.ndarray, int]]:
    """Eight train tiles: four with lettering (two of them mostly black), four without (one mostly black)."""
    truth = pd.read_csv(REALDEV / "annotations.csv", dtype={"id": str}).set_index("id")
    train = pd.read_csv(REALDEV / "training_data.csv", index_col=0, dtype={"id": str})["id"]
    images = {i: np.asarray(Image.open(REALDEV / "train_images" / f"{i}.png").convert("L")) for i in train}
    black = {i: black_fraction(image, 20) > 0.9 for i, image in images.items()}
    picked = []
    for annotation, n_black, n_other in ((1, 2, 2), (0, 1, 3)):
        ids = [i for i in train if truth.loc[i, "annotation"] == annotation]
        picked += [i for i in ids if black[i]][:n_black] + [i for i in ids if not black[i]][:n_other]
    return {i: (images[i], int(truth.loc[i, "annotation"])) for i in picked}


def test_real_lettering_sits_on_mostly_black_tiles(tiles):
    assert sum(1 for image, label in tiles.values() if label == 1 and black_fraction(image, 20) > 0.9) == 2


@pytest.mark.parametrize("kind", LETTERING_KINDS)
def test_compositor_draws_on_real_tiles(tiles, kind):
    for seed, (image, _) in enumerate(tiles.values()):
        out, drawn = composite_lettering(image, np.random.default_rng(seed), kind)
        assert drawn in LETTERING_KINDS and out.shape == image.shape
        assert (np.abs(out.astype(int) - image) > 15).sum() > 10


def test_every_tile_is_scored(tiles):
    images = [image for image, _ in tiles.values()]
    features = np.stack([tile_features(image) for image in images])
    evidence = text_evidence(features, list(FEATURE_NAMES))
    probability = np.asarray(build_detector(build_core(), 64)(np.stack(images)[..., None].astype(np.float32)))
    assert np.isfinite(features).all() and evidence.shape == (len(images),)
    assert probability.shape == (len(images), 1) and np.isfinite(probability).all()


def test_real_lettering_stands_in_rows_and_the_rest_does_not():
    """Session 19's measurement, kept: on realdev's train tiles (through the features stage's tone curve) a line
    of two or more glyphs marks about half of the lettering tiles (31 of 61) and 1 of the 451 others. Since
    session 20 this is the statistics method's flag (knn_report.min_line_glyphs: 2), queries aside."""
    truth = pd.read_csv(REALDEV / "annotations.csv", dtype={"id": str}).set_index("id")["annotation"]
    train = pd.read_csv(REALDEV / "training_data.csv", index_col=0, dtype={"id": str})
    train = train[train["class"] == 0]["id"]
    curve = tone_table(0.7)
    lines = {i: tile_features(curve[np.asarray(Image.open(REALDEV / "train_images" / f"{i}.png").convert("L"))])
             [FEATURE_NAMES.index("line_glyphs")] for i in train}
    lettered = [lines[i] >= 2 for i in train if truth.get(i, 0) == 1]
    plain = [lines[i] >= 2 for i in train if truth.get(i, 0) == 0]
    assert len(lettered) > 40 and len(plain) > 400
    assert np.mean(lettered) > 0.4 and np.mean(plain) < 0.02
