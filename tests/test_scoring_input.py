"""The tiles as scoring sees them: prepare's bit depth for both scorers, the tone curve for the statistics only."""
import json

import numpy as np
import pytest
from PIL import Image

from helpers import RAW, make_workdir, write_png_csv
from tilescan.detect.dataset import tile_reader
from tilescan.params import load_params
from tilescan.readers import to_gray8
from tilescan.scoring_input import statistics_tiles, tone_table


def test_gamma_1_leaves_tiles_unchanged():
    assert tone_table(1.0) is None


@pytest.mark.parametrize("gamma", [0.5, 0.7, 1.4])
def test_tone_table_is_the_rounded_power_curve_and_keeps_black_and_white(gamma):
    table = tone_table(gamma)
    assert table.dtype == np.uint8 and table.shape == (256,)
    assert table[0] == 0 and table[255] == 255
    assert np.all(np.diff(table.astype(int)) >= 0)
    assert table[64] == round(255 * (64 / 255) ** gamma)


def test_a_gamma_below_1_lifts_faint_strokes_on_the_black_margin_more_than_bright_ones():
    table = tone_table(0.7).astype(int)
    faint = table[40] - table[10]       # a faint digit on the margin: 30 levels above the film
    bright = table[230] - table[200]    # a bright stroke on bright tissue: 30 levels too
    assert faint > 30 > bright


def _raw_12_bit(work):
    """png_csv tiles of 12-bit data in 16-bit PNGs, each a ramp from black to white."""
    write_png_csv(work / RAW)
    ramp = np.linspace(0, 4095, 32 * 32).reshape(32, 32).astype(np.uint16)
    for path in (work / RAW).rglob("*.png"):
        Image.fromarray(ramp).save(path)
    return ramp


def test_statistics_see_the_tone_curve_and_the_detector_the_raw_tiles_both_at_prepares_bit_depth(
        tmp_path, monkeypatch):
    """The detector read 16-bit PNGs at 16 bits whatever prepare found: 12-bit tiles came out 16 times too dark.
    Since session 12 the tone curve is the statistics' only: the detector trained on curved tiles lost AP
    without queries on the independent synthetic style."""
    work = make_workdir(tmp_path / "work", data__tone_gamma=0.7)
    ramp = _raw_12_bit(work)
    (work / "data/prepared").mkdir(parents=True)
    (work / "data/prepared/pixels.json").write_text(json.dumps({"bit_depth": 12}))
    monkeypatch.chdir(work)
    params = load_params()
    raw = to_gray8(ramp, 12)
    assert raw.max() == 255  # read at 12 bits: the ramp reaches white
    seen = dict(statistics_tiles(params))
    assert sorted(ref.id for ref in seen) == ["c1", "c2", "c4", "c5", "t1", "t3"]  # class 0, both splits
    assert all(np.array_equal(image, tone_table(0.7)[raw]) for image in seen.values())
    ids = [ref.id for ref in seen]
    detector_sees = dict(tile_reader(params, ids)())
    assert sorted(detector_sees) == list(range(len(ids)))
    assert all(np.array_equal(image, raw) for image in detector_sees.values())
