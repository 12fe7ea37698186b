"""Write outputs to temporary paths and rename them into place only when every one is complete.

A temporary path is `.tmp-<pid>.<name>` beside its target. A run that fails, or is stopped with Ctrl-C or
SIGTERM (tilescan.stage turns SIGTERM into an exception), deletes its own; a run killed outright (SIGKILL,
power loss) cannot, so the next run of the stage deletes every `.tmp-<pid>.<name>` of its targets whose
process is gone.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path
from typing import Iterator


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temps(target: Path) -> list[Path]:
    """Delete the temporary siblings of target (`.tmp-<pid>.<name>`) left by runs whose process is gone, or
    by this process; return what was deleted. A live process's temporaries (a concurrent run) are kept."""
    pattern = re.compile(rf"\.tmp-(\d+)\.{re.escape(target.name)}")
    removed = []
    if not target.parent.is_dir():
        return removed
    for sibling in target.parent.iterdir():
        match = pattern.fullmatch(sibling.name)
        if match and (int(match.group(1)) == os.getpid() or not _alive(int(match.group(1)))):
            _remove(sibling)
            removed.append(sibling)
    return removed


@contextlib.contextmanager
def staged_outputs(*paths: str | os.PathLike) -> Iterator[list[Path]]:
    """Yield one temporary path per output; rename all into place on success, delete all on failure.

    The temporary paths sit beside their targets (same file system, so the rename is atomic) and keep the
    target's name as a suffix, so libraries that look at extensions (.weights.h5) behave. Directories are
    supported: create them.
    """
    targets = [Path(p) for p in paths]
    temps = [t.with_name(f".tmp-{os.getpid()}.{t.name}") for t in targets]
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(target)
    try:
        yield temps
        missing = [str(t) for t, tmp in zip(targets, temps) if not tmp.exists()]
        if missing:
            raise RuntimeError(f"stage did not write {', '.join(missing)}")
    except BaseException:
        for temp in temps:
            _remove(temp)
        raise
    for target, temp in zip(targets, temps):
        _remove(target)
        os.replace(temp, target)
