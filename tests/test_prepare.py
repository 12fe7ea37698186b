"""prepare: resize, black rule, streaming .npy writing, and the parallel map it runs on."""
import json

import numpy as np
import pandas as pd
import pytest

from helpers import RAW, make_workdir, run_stage, succeeded, tf_example, tile, write_png_csv, write_tfrecords
from tilescan.parallel import chunked_map
from tilescan.prepare import PrepareConfig, black_fraction, prepare_split, resize_tile


def test_black_fraction_and_resize():
    tile = np.zeros((40, 40), np.uint8)
    tile[:, :10] = 200
    assert black_fraction(tile, 20) == 0.75
    small = resize_tile(tile, 8)
    assert small.shape == (8, 8) and small.dtype == np.uint8
    assert small[:, 0].min() > 150 and small[:, -1].max() == 0
    assert resize_tile(tile, 40) is tile


def write_dataset(root, n=12):
    """A png_csv train split of n 30 x 30 tiles: every fourth one black, every third one of class 2."""
    rows = [(f"c{i}", 0 if i % 3 else 2) for i in range(n)]
    write_png_csv(root, train=rows, test=None,
                  pixels=lambda _, i, tile_id: np.full((30, 30), 0 if i % 4 == 0 else 120, np.uint8))
    return rows


def test_prepare_split_keeps_class_and_marks_black(tmp_path):
    rows = write_dataset(tmp_path / "raw")
    config = PrepareConfig(img_size=8, keep_class=0, black_level=20, max_black_fraction=0.9, workers=2)
    result = prepare_split(tmp_path / "raw", "png_csv", "train", config, tmp_path / "train.npy")
    class0 = [tile_id for tile_id, label in rows if label == 0]
    assert sorted(r.id for r in result.kept) == sorted(class0)  # every class-0 tile is written, black or not
    assert all(int(r.id[1:]) % 4 == 0 for r in result.black) and result.black
    assert {r.id for r in result.black} <= {r.id for r in result.kept}
    array = np.load(tmp_path / "train.npy", mmap_mode="r")
    assert array.shape == (len(result.kept), 8, 8) and array.dtype == np.uint8
    bright = [i for i, r in enumerate(result.kept) if r not in result.black]
    assert (array[bright] == 120).all()
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".rows"] == []


def test_workers_do_not_change_the_result(tmp_path):
    write_dataset(tmp_path / "raw")
    outputs = []
    for workers in (1, 2):
        config = PrepareConfig(img_size=8, keep_class=0, black_level=20, max_black_fraction=0.9, workers=workers)
        prepare_split(tmp_path / "raw", "png_csv", "train", config, tmp_path / f"w{workers}.npy")
        outputs.append((tmp_path / f"w{workers}.npy").read_bytes())
    assert outputs[0] == outputs[1]


def test_chunked_map_keeps_order():
    items = list(range(23))
    assert [out for _, out in chunked_map(abs, (-i for i in items), workers=2, chunk=5)] == items


def test_tfrecord_alone_holds_out_a_seeded_validation_share(tmp_path):
    """Finding 7: training10_*.tfrecords without the cv10/test10 npy pairs was refused ("no val split")."""
    pytest.importorskip("tensorflow")
    work = make_workdir(tmp_path / "work", data__val_fraction=0.25)
    records = [tf_example(label, tile(n).tobytes()) for n, label in enumerate([0, 0, 1, 0, 0, 0, 0, 0, 0])]
    write_tfrecords(work / RAW / "training10_0.tfrecords", records)
    succeeded(work, "prepare")
    index = pd.read_csv(work / "data/prepared/index.csv", dtype={"id": str})
    first = index.to_dict("list")
    assert (index["split"] == "val").sum() == 2 and (index["split"] == "train").sum() == 6
    assert np.load(work / "data/prepared/val.npy").shape[0] == 2
    metrics = json.loads((work / "metrics/prepare.json").read_text())
    assert metrics["validation"] == {"source": "held out of train", "fraction": 0.25, "seed": 42}
    assert metrics["splits"]["train"]["kept"] == 6 and metrics["splits"]["val"]["kept"] == 2
    succeeded(work, "prepare")
    assert pd.read_csv(work / "data/prepared/index.csv", dtype={"id": str}).to_dict("list") == first  # seeded
    succeeded(work, "features")  # finds the held-out tiles in the raw train records


def _write_16bit(work, top: int, sbit: int | None = None):
    """png_csv tiles of 12-bit-style data in 16-bit PNGs: bright tissue up to `top`; optionally an sBIT chunk."""
    from PIL import Image, PngImagePlugin

    write_png_csv(work / RAW)
    info = PngImagePlugin.PngInfo()
    if sbit:
        info.add(b"sBIT", bytes([sbit]))
    for path in (work / RAW).rglob("*.png"):
        pixels = np.random.default_rng(len(path.name)).integers(top // 3, top + 1, (32, 32)).astype(np.uint16)
        Image.fromarray(pixels).save(path, pnginfo=info)


@pytest.mark.parametrize("top, sbit, setting, used, source", [
    (4095, None, "auto", 12, "maximum pixel value over the dataset"),
    (1000, 12, "auto", 12, "PNG sBIT chunk"),
    (4095, None, 16, 16, "data.bit_depth"),
])
def test_12_bit_data_in_16_bit_pngs(tmp_path, top, sbit, setting, used, source):
    """Finding 5: 12-bit tiles scaled by 255/65535 became 0-15 and were all dropped as black, exit 0."""
    work = make_workdir(tmp_path / "work", data__bit_depth=setting)
    _write_16bit(work, top, sbit)
    result = run_stage(work, "prepare")
    if used == 16:  # forcing 16 bits reproduces the old scaling: every tile is black
        assert result.returncode == 1 and "mostly-black" in result.stderr
        return
    assert result.returncode == 0, result.stderr
    metrics = json.loads((work / "metrics/prepare.json").read_text())
    assert metrics["bit_depth"] == {"used": used, "from": source}
    assert metrics["splits"]["train"]["dropped_black"] == 0
    assert json.loads((work / "data/prepared/pixels.json").read_text()) == {"bit_depth": used}
    assert np.load(work / "data/prepared/train.npy").max() > 40  # 16-bit scaling gives at most 16
