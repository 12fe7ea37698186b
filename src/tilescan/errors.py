"""The one exception type a stage turns into a one-line error and a non-zero exit."""


class TilescanError(Exception):
    """Bad input or parameter; the message names the file or parameter at fault."""


def require(condition: bool, message: str) -> None:
    """Raise TilescanError(message) unless condition holds."""
    if not condition:
        raise TilescanError(message)


def load_array(path, made_by: str):
    """np.load without pickle; a missing file is a TilescanError naming it and the stage that makes it."""
    import numpy as np
    from pathlib import Path

    if not Path(path).is_file():
        raise TilescanError(f"{path}: not found (run the {made_by} stage: dvc repro)")
    return np.load(path, allow_pickle=False)
