"""Write outputs to temporary paths and rename them into place only when every one is complete."""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def staged_outputs(*paths: str | os.PathLike) -> Iterator[list[Path]]:
    """Yield one temporary path per output; rename all into place on success, delete all on failure.

    The temporary paths sit beside their targets (same file system, so the rename is atomic) and keep the
    target's name as a suffix, so libraries that look at extensions (.weights.h5) behave. Directories are
    supported: create them.
    """
    targets = [Path(p) for p in paths]
    temps = [t.with_name(f".tmp-{os.getpid()}.{t.name}") for t in targets]
    for target, temp in zip(targets, temps):
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove(temp)
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
