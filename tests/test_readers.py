"""Reading the three raw layouts (png_csv, tfrecord, npy) from small files written in their real schema."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers import write_png_csv
from tilescan import readers
from tilescan.errors import TilescanError
from tilescan.readers import TileRef


def tile(value: int, side: int = 5) -> np.ndarray:
    """A tile whose first pixel is value and whose other pixels differ, so a mix-up shows."""
    return ((np.arange(side * side, dtype=np.int64).reshape(side, side) + value) % 256).astype(np.uint8)


def ids_and_images(raw_dir, fmt, split, keep_class=None, **kwargs):
    return [(ref, image) for ref, image in readers.iter_tiles(raw_dir, fmt, split, keep_class, **kwargs)]


def read_error(raw_dir, fmt, split="train", **kwargs) -> str:
    with pytest.raises(TilescanError) as caught:
        list(readers.iter_tiles(raw_dir, fmt, split, None, **kwargs))
    return str(caught.value)


# ---- png_csv ----------------------------------------------------------------------------------------------

def pattern(split_number: int, row: int, tile_id: str) -> np.ndarray:
    """write_png_csv's pixels: a distinct tile per row, so a mix-up shows."""
    return tile(10 * row + len(tile_id))


@pytest.fixture
def png_dir(tmp_path):
    write_png_csv(tmp_path, train=[("c3", 0), ("c1", 1), ("c2", 0)], test=[("t1", 0), ("t2", 2)], pixels=pattern)
    return tmp_path


def test_png_csv_streams_rows_in_csv_order_with_their_pixels(png_dir):
    assert readers.detect_format(png_dir) == "png_csv"
    assert readers.list_splits(png_dir, "png_csv") == ["train", "val"]
    tiles = ids_and_images(png_dir, "png_csv", "train", keep_class=0)
    assert [ref for ref, _ in tiles] == [TileRef("c3", "train_images/c3.png", "train", 0),
                                         TileRef("c2", "train_images/c2.png", "train", 0)]
    assert np.array_equal(tiles[0][1], tile(2)) and np.array_equal(tiles[1][1], tile(22))
    assert tiles[0][1].dtype == np.uint8 and tiles[0][1].ndim == 2
    val = ids_and_images(png_dir, "png_csv", "val")
    assert [(r.id, r.filename, r.split, r.label) for r, _ in val] == [
        ("t1", "test_images/t1.png", "val", 0), ("t2", "test_images/t2.png", "val", 2)]
    assert readers.count_tiles(png_dir, "png_csv", "train", 0) == 2
    assert readers.count_tiles(png_dir, "png_csv", "train", None) == 3
    assert readers.count_tiles(png_dir, "png_csv", "val", 2) == 1


def test_png_csv_without_index_column_with_extra_columns_and_train_only(tmp_path):
    write_png_csv(tmp_path, train=[("a", 0), ("b", 1)], test=None, index=False, pixels=pattern)
    frame = pd.read_csv(tmp_path / "training_data.csv").assign(notes="x")
    frame[["notes", "class", "id"]].to_csv(tmp_path / "training_data.csv", index=False)
    assert readers.list_splits(tmp_path, "png_csv") == ["train"]
    assert [(r.id, r.label) for r, _ in ids_and_images(tmp_path, "png_csv", "train")] == [("a", 0), ("b", 1)]
    with pytest.raises(TilescanError, match="split 'val'"):
        readers.iter_tiles(tmp_path, "png_csv", "val", None)


def test_png_csv_tiles_of_any_bit_depth_and_mode_come_out_gray8(png_dir):
    Image.fromarray(np.full((3, 4), 65535 // 3, np.uint16)).save(png_dir / "train_images" / "c1.png")
    Image.fromarray(np.full((2, 2, 3), (255, 0, 0), np.uint8)).convert("P").save(png_dir / "train_images" / "c2.png")
    images = {ref.id: image for ref, image in readers.iter_tiles(png_dir, "png_csv", "train", None)}
    assert images["c1"].tolist() == [[85] * 4] * 3
    assert images["c2"].tolist() == [[76, 76]] * 2  # 0.299 * 255


def test_tiles_of_other_classes_are_never_decoded(png_dir):
    (png_dir / "train_images" / "c1.png").write_bytes(b"not a png")  # class 1
    assert [r.id for r, _ in ids_and_images(png_dir, "png_csv", "train", keep_class=0)] == ["c3", "c2"]


@pytest.mark.parametrize("damage, expected", [
    (lambda path: path.unlink(), "file not found (listed in training_data.csv)"),
    (lambda path: path.write_bytes(path.read_bytes()[:40]), "not a readable image"),
    (lambda path: path.write_bytes(b"\x89PNG garbage"), "not a readable image"),
])
def test_unreadable_png_stops_naming_the_file_or_is_skipped(png_dir, damage, expected):
    damage(png_dir / "train_images" / "c1.png")
    message = read_error(png_dir, "png_csv")
    assert "train_images/c1.png: " + expected in message
    skipped: list[TileRef] = []
    kept = ids_and_images(png_dir, "png_csv", "train", on_unreadable="skip", skipped=skipped)
    assert [r.id for r, _ in kept] == ["c3", "c2"]
    assert skipped == [TileRef("c1", "train_images/c1.png", "train", 1)]


@pytest.mark.parametrize("csv_text, expected", [
    ("", "empty CSV file"),
    (",id,class\n", "no rows"),
    (",id,label\n0,c1,0\n", "missing required column 'class'"),
    ("name,class\nc1,0\n", "missing required column 'id'"),
    (",id,class\n0,c1,0\n1,c2,1\n2,c1,0\n", "duplicate id 'c1'"),
    (",id,class\n0,c1,0\n1,c2,benign\n", "line 3 (id 'c2'): class 'benign' is not an integer"),
    (",id,class\n0,c1,0\n1,c2,1.5\n", "line 3 (id 'c2'): class '1.5' is not an integer"),
    (",id,class\n0,c1,\n", "line 2 (id 'c1'): class '' is not an integer"),
    (",id,class\n0,../x,0\n", "no path separator"),
    ('id,class\n"c1,0\n', "not a readable CSV"),
])
def test_bad_csv_names_the_file_and_the_culprit(png_dir, csv_text, expected):
    (png_dir / "training_data.csv").write_text(csv_text)
    for call in (lambda: list(readers.iter_tiles(png_dir, "png_csv", "train", None)),
                 lambda: readers.count_tiles(png_dir, "png_csv", "train", None)):
        with pytest.raises(TilescanError) as caught:
            call()
        assert str(caught.value).startswith(str(png_dir / "training_data.csv"))
        assert expected in str(caught.value)


def test_an_id_in_both_splits_is_an_error(tmp_path):
    write_png_csv(tmp_path, train=[("c1", 0), ("c2", 0)], test=[("c2", 0)], pixels=pattern)
    message = read_error(tmp_path, "png_csv", split="val")
    assert "test_data.csv: id 'c2' is also listed in" in message and "training_data.csv" in message


# ---- arguments --------------------------------------------------------------------------------------------

def test_missing_raw_dir_is_named_by_every_entry_point(tmp_path):
    missing = tmp_path / "nope"
    for call in (lambda: readers.detect_format(missing), lambda: readers.list_splits(missing, "npy"),
                 lambda: readers.iter_tiles(missing, "png_csv", "train", 0),
                 lambda: readers.count_tiles(missing, "tfrecord", "train", 0)):
        with pytest.raises(TilescanError, match=f"data.raw_dir: {missing} does not exist"):
            call()


def test_bad_arguments_are_refused_before_any_file_is_read(png_dir, tmp_path):
    with pytest.raises(TilescanError, match="data.format: .*'auto'"):
        readers.iter_tiles(png_dir, "auto", "train", 0)
    with pytest.raises(TilescanError, match="data.format"):
        readers.count_tiles(png_dir, "jpeg", "train", 0)
    with pytest.raises(TilescanError, match="split 'test'"):
        readers.iter_tiles(png_dir, "png_csv", "test", 0)
    with pytest.raises(TilescanError, match="holds no npy dataset"):
        readers.list_splits(png_dir, "npy")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TilescanError, match=r"no known dataset layout \(looked for \*.tfrecords, training_data.csv"):
        readers.detect_format(tmp_path / "empty")


# ---- to_gray8 ---------------------------------------------------------------------------------------------

def test_16_bit_values_are_scaled_and_rounded_not_truncated():
    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    expected = np.array([round(Fraction(v * 255, 65535)) for v in range(65536)], dtype=np.uint8)
    assert np.array_equal(readers.to_gray8(values).ravel(), expected)


def test_rgb_is_pil_luma_and_alpha_is_ignored():
    rgba = np.random.default_rng(0).integers(0, 256, (9, 7, 4), dtype=np.uint8)
    luma = np.asarray(Image.fromarray(rgba[:, :, :3]).convert("L"))
    assert np.array_equal(readers.to_gray8(rgba[:, :, :3]), luma)
    assert np.array_equal(readers.to_gray8(rgba), luma)
    assert np.array_equal(readers.to_gray8(rgba[:, :, :2]), rgba[:, :, 0])
    assert np.array_equal(readers.to_gray8(rgba[:, :, :1]), rgba[:, :, 0])


def test_other_pixel_types():
    assert readers.to_gray8(np.array([[True, False]])).tolist() == [[255, 0]]
    assert readers.to_gray8(np.array([[0.0, 0.5, 1.0]])).tolist() == [[0, 128, 255]]
    assert readers.to_gray8(Image.new("I;16", (2, 1), 65535)).tolist() == [[255, 255]]
    for bad, message in ((np.zeros((2, 2), np.int64), "unsupported pixel type int64"),
                         (np.full((2, 2), 2.0), r"float pixels must lie in \[0, 1\]"),
                         (np.zeros((2, 2, 5), np.uint8), "got shape"), (np.zeros((0, 3), np.uint8), "empty")):
        with pytest.raises(TilescanError, match=message):
            readers.to_gray8(bad)


# ---- npy --------------------------------------------------------------------------------------------------

def write_npy_pair(raw_dir: Path, prefix: str, labels: list[int], side: int = 5, channel_axis: bool = True):
    data = np.stack([tile(i, side) for i in range(len(labels))]) if labels else np.zeros((0, side, side), np.uint8)
    np.save(raw_dir / f"{prefix}_data.npy", data[..., None] if channel_axis else data)
    np.save(raw_dir / f"{prefix}_labels.npy", np.array(labels, dtype=np.int64))


def test_npy_maps_cv10_to_train_and_test10_to_val(tmp_path):
    write_npy_pair(tmp_path, "cv10", [0, 3, 0])
    write_npy_pair(tmp_path, "test10", [4, 0], channel_axis=False)
    assert readers.detect_format(tmp_path) == "npy"
    assert readers.list_splits(tmp_path, "npy") == ["train", "val"]
    train = ids_and_images(tmp_path, "npy", "train", keep_class=0)
    assert [r for r, _ in train] == [TileRef("cv10-0", "cv10_data.npy#0", "train", 0),
                                     TileRef("cv10-2", "cv10_data.npy#2", "train", 0)]
    assert np.array_equal(train[1][1], tile(2)) and type(train[1][1]) is np.ndarray
    assert [(r.id, r.label) for r, _ in ids_and_images(tmp_path, "npy", "val")] == [("test10-0", 4), ("test10-1", 0)]
    assert readers.count_tiles(tmp_path, "npy", "train", 0) == 2
    assert readers.count_tiles(tmp_path, "npy", "val", None) == 2


def test_npy_with_only_one_pair_has_only_that_split(tmp_path):
    write_npy_pair(tmp_path, "test10", [0])
    np.save(tmp_path / "test10_labels.npy", np.array([[0]]))  # N x 1 labels are accepted
    assert readers.list_splits(tmp_path, "npy") == ["val"]
    assert [r.id for r, _ in ids_and_images(tmp_path, "npy", "val")] == ["test10-0"]


@pytest.mark.parametrize("damage, expected", [
    (lambda d: np.save(d / "cv10_labels.npy", np.zeros(2, np.int64)),
     "cv10_data.npy holds 3 tiles but {d}/cv10_labels.npy holds 2 labels"),
    (lambda d: (d / "cv10_labels.npy").unlink(), "cv10_labels.npy: missing (it must accompany"),
    (lambda d: (d / "cv10_data.npy").unlink(), "cv10_data.npy: missing (it must accompany"),
    (lambda d: np.save(d / "cv10_labels.npy", np.array([0, 1, "x"], dtype=object)), "cv10_labels.npy: not a readable"),
    (lambda d: np.save(d / "cv10_labels.npy", np.array([0.5, 1, 2])), "cv10_labels.npy: labels must be integer"),
    (lambda d: np.save(d / "cv10_data.npy", np.zeros((3, 4), np.uint8)), "cv10_data.npy: expected N x H x W"),
    (lambda d: (d / "cv10_data.npy").write_bytes((d / "cv10_data.npy").read_bytes()[:100]),
     "cv10_data.npy: not a readable .npy array"),
])
def test_bad_npy_names_the_files(tmp_path, damage, expected):
    write_npy_pair(tmp_path, "cv10", [0, 1, 2])
    write_npy_pair(tmp_path, "test10", [0])
    damage(tmp_path)
    message = read_error(tmp_path, "npy")
    assert expected.format(d=tmp_path) in message and str(tmp_path) in message


# ---- tfrecord ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


def example(tf, label: int, image: np.ndarray | bytes, filename: str | None = None, label_type="int64") -> bytes:
    """A record in the Kaggle DDSM schema."""
    def ints(value):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    def raw(value):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    feature = {"label": ints(label) if label_type == "int64" else raw(b"%d" % label),
               "label_normal": ints(int(label != 0)),
               "image": raw(image if isinstance(image, bytes) else image.tobytes())}
    if filename is not None:
        feature["filename"] = raw(filename.encode())
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_records(tf, path: Path, records: list[bytes]) -> None:
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)


@pytest.fixture
def tf_dir(tmp_path, tf):
    # Written out of name order: files are read sorted.
    write_records(tf, tmp_path / "training10_1.tfrecords", [example(tf, 2, tile(7)[..., None])])
    write_records(tf, tmp_path / "training10_0.tfrecords",
                  [example(tf, label, tile(n)[..., None]) for n, label in enumerate([0, 1, 0])])
    return tmp_path


def test_tfrecord_streams_records_in_file_and_record_order(tf_dir):
    assert readers.detect_format(tf_dir) == "tfrecord"
    assert readers.list_splits(tf_dir, "tfrecord") == ["train"]
    tiles = ids_and_images(tf_dir, "tfrecord", "train")
    assert [r for r, _ in tiles] == [TileRef("training10_0-0", "training10_0.tfrecords#0", "train", 0),
                                     TileRef("training10_0-1", "training10_0.tfrecords#1", "train", 1),
                                     TileRef("training10_0-2", "training10_0.tfrecords#2", "train", 0),
                                     TileRef("training10_1-0", "training10_1.tfrecords#0", "train", 2)]
    for (_, image), value in zip(tiles, [0, 1, 2, 7]):
        assert image.dtype == np.uint8 and np.array_equal(image, tile(value))
    assert [r.id for r, _ in ids_and_images(tf_dir, "tfrecord", "train", keep_class=0)] == [
        "training10_0-0", "training10_0-2"]
    assert readers.count_tiles(tf_dir, "tfrecord", "train", 0) is None


def test_tfrecord_full_size_tile_with_filename_feature_and_npy_validation(tmp_path, tf):
    full = np.random.default_rng(1).integers(0, 256, (299, 299, 1), dtype=np.uint8)
    write_records(tf, tmp_path / "training10_0.tfrecords",
                  [example(tf, 0, full, "A_1234_1.LEFT_CC.png"), example(tf, 3, tile(1), "")])
    write_npy_pair(tmp_path, "cv10", [0, 1])
    write_npy_pair(tmp_path, "test10", [0])
    assert readers.detect_format(tmp_path) == "tfrecord"
    assert readers.list_splits(tmp_path, "tfrecord") == ["train", "val"]
    (first, image), (second, _) = ids_and_images(tmp_path, "tfrecord", "train")
    assert first.id == "A_1234_1.LEFT_CC.png" and second.id == "training10_0-1"
    assert np.array_equal(image, full[:, :, 0])
    assert [r.id for r, _ in ids_and_images(tmp_path, "tfrecord", "val", keep_class=0)] == ["cv10-0", "test10-0"]
    assert readers.count_tiles(tmp_path, "tfrecord", "val", None) == 3


def test_tfrecord_non_square_image_stops_or_is_skipped(tmp_path, tf):
    write_records(tf, tmp_path / "training10_0.tfrecords",
                  [example(tf, 0, tile(0)), example(tf, 0, b"\x00" * 12), example(tf, 0, b"")])
    assert "training10_0.tfrecords#1: image holds 12 bytes, not a square" in read_error(tmp_path, "tfrecord")
    skipped: list[TileRef] = []
    kept = ids_and_images(tmp_path, "tfrecord", "train", on_unreadable="skip", skipped=skipped)
    assert [r.id for r, _ in kept] == ["training10_0-0"]
    assert [r.filename for r in skipped] == ["training10_0.tfrecords#1", "training10_0.tfrecords#2"]


def test_broken_tfrecords_name_the_file_and_record(tmp_path, tf):
    path = tmp_path / "training10_0.tfrecords"
    records = [example(tf, 0, tile(n), f"f{n}") for n in range(3)]
    write_records(tf, path, records)
    whole = path.read_bytes()
    cases = [
        (whole[:-5], "record 2: truncated or corrupt tfrecord file"),
        (whole[:len(whole) - len(records[2]) - 16 + 5], "record 2: truncated or corrupt tfrecord file"),
        (whole[:5], "record 0: truncated or corrupt tfrecord file"),
        (whole[:30] + bytes([whole[30] ^ 0xFF]) + whole[31:], "record 0: truncated or corrupt tfrecord file"),
    ]
    for content, expected in cases:
        path.write_bytes(content)
        assert f"{path}: {expected}" in read_error(tmp_path, "tfrecord")
    for bad_record, position in ((example(tf, 1, tile(0), label_type="bytes"), 1), (b"not an example", 1),
                                 (tf.train.Example().SerializeToString(), 1)):
        write_records(tf, path, [records[0], bad_record])
        assert f"{path}: record {position}: not a DDSM tf.train.Example" in read_error(tmp_path, "tfrecord")


def test_duplicate_filename_feature_is_an_error(tmp_path, tf):
    write_records(tf, tmp_path / "training10_0.tfrecords", [example(tf, 0, tile(0), "same.png")])
    write_records(tf, tmp_path / "training10_1.tfrecords",
                  [example(tf, 0, tile(1), "x"), example(tf, 0, tile(2), "same.png")])
    message = read_error(tmp_path, "tfrecord")
    assert f"{tmp_path / 'training10_1.tfrecords'}: record 1: duplicate tile id 'same.png'" in message
    assert "training10_0.tfrecords#0" in message
