"""Outputs appear only when complete."""
import pytest

from tilescan.atomic import staged_outputs


def test_outputs_renamed_into_place_on_success(tmp_path):
    target_file, target_dir = tmp_path / "out" / "a.json", tmp_path / "dir"
    target_file.parent.mkdir()
    target_file.write_text("old")
    with staged_outputs(target_file, target_dir) as (temp_file, temp_dir):
        assert temp_file.suffix == ".json" and temp_file.parent == target_file.parent
        temp_file.write_text("new")
        temp_dir.mkdir()
        (temp_dir / "x").write_text("1")
        assert target_file.read_text() == "old" and not target_dir.exists()
    assert target_file.read_text() == "new" and (target_dir / "x").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "out"]


def test_nothing_left_behind_on_failure(tmp_path):
    target = tmp_path / "a.npy"
    with pytest.raises(ValueError):
        with staged_outputs(target) as (temp,):
            temp.write_text("half")
            raise ValueError("boom")
    assert list(tmp_path.iterdir()) == []


def test_an_unwritten_output_is_an_error(tmp_path):
    with pytest.raises(RuntimeError, match="did not write"):
        with staged_outputs(tmp_path / "a.csv", tmp_path / "b.csv") as (a, _):
            a.write_text("only one")
    assert list(tmp_path.iterdir()) == []
