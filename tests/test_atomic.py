"""Outputs appear only when complete; a stopped or killed stage leaves nothing that the next run keeps."""
import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import RAW, make_workdir, succeeded, tile, write_png_csv
from tilescan.atomic import remove_stale_temps, staged_outputs


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


def _slow_prepare_work(tmp_path):
    work = make_workdir(tmp_path / "work")
    rows = [(f"c{i}", 0) for i in range(150)]
    write_png_csv(work / RAW, train=rows, pixels=lambda split, row, _: tile(row, side=299))
    return work


def _start_and_wait_for_temp(work):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONDONTWRITEBYTECODE": "1"}
    process = subprocess.Popen([sys.executable, "stages/prepare.py"], cwd=work, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    temp = work / f"data/.tmp-{process.pid}.prepared"
    deadline = time.monotonic() + 120
    while not (temp / "train.rows").exists():
        assert process.poll() is None, f"prepare ended before it was stopped: {process.communicate()}"
        assert time.monotonic() < deadline, "prepare never started writing"
        time.sleep(0.05)
    return process, temp


def test_sigterm_removes_the_temporary_outputs(tmp_path):
    work = _slow_prepare_work(tmp_path)
    process, temp = _start_and_wait_for_temp(work)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr and stderr.strip().splitlines()[-1].startswith("error: interrupted")
    assert not list(work.rglob(".tmp-*")) and not (work / "data/prepared").exists()


def test_sigkill_leftovers_are_removed_by_the_next_run(tmp_path):
    work = _slow_prepare_work(tmp_path)
    process, temp = _start_and_wait_for_temp(work)
    process.kill()
    process.communicate(timeout=60)
    assert temp.is_dir(), "SIGKILL leaves the temporary folder (nothing can clean up in the process itself)"
    succeeded(work, "prepare")
    assert not list(work.rglob(".tmp-*")), "the next run removed the dead run's temporaries"
    assert (work / "data/prepared/train.npy").is_file()


def test_a_live_runs_temporaries_are_kept(tmp_path):
    target = tmp_path / "out.csv"
    live = tmp_path / f".tmp-{os.getppid()}.out.csv"  # the parent process is alive
    live.write_text("another run's")
    dead = tmp_path / ".tmp-999999999.out.csv"
    dead.write_text("left by a killed run")
    assert remove_stale_temps(target) == [dead]
    assert live.exists() and not dead.exists()
