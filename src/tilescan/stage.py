"""What every stage script shares: reading params.yaml (and the parameter bundles several stages read the same
way) and turning bad input into a one-line error."""
from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any, Callable, NoReturn

import yaml

from tilescan.errors import TilescanError

PARAMS_FILE = Path("params.yaml")


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """Return params.yaml as a dict; a missing or malformed file is a TilescanError naming it."""
    path = Path(path)
    if not path.is_file():
        raise TilescanError(f"{path}: params file not found (run from the repository root)")
    try:
        params = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise TilescanError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(params, dict):
        raise TilescanError(f"{path}: expected a mapping of sections")
    return params


def section(params: dict[str, Any], name: str) -> dict[str, Any]:
    """Return params[name], which must be a mapping."""
    value = params.get(name)
    if not isinstance(value, dict):
        raise TilescanError(f"params.yaml: missing section '{name}'")
    return value


def param(params: dict[str, Any], dotted: str, kind: type | None = None) -> Any:
    """params["a"]["b"] for "a.b", converted to kind (int, float, bool, str, list); a missing key or a value
    of the wrong type is a TilescanError naming the parameter."""
    section_name, _, key = dotted.partition(".")
    values = section(params, section_name)
    if key not in values:
        raise TilescanError(f"params.yaml: missing parameter {dotted}")
    value = values[key]
    if kind is None:
        return value
    if kind is int and not isinstance(value, bool) and isinstance(value, (int, float)) and float(value).is_integer():
        return int(value)
    if kind is float and not isinstance(value, bool) and isinstance(value, (int, float)):
        return float(value)
    if kind in (bool, str, list) and isinstance(value, kind):
        return value
    raise TilescanError(f"{dotted} must be {'a list' if kind is list else f'a {kind.__name__}'}, got {value!r}")


def fail(exc: TilescanError) -> NoReturn:
    """The one wording of bad input: one 'error:' line on stderr, exit status 1."""
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(1)


def run_stage(main: Callable[[dict[str, Any]], str]) -> None:
    """Run main(params); print its one-line summary, or one 'error:' line and exit 1 on bad input."""
    try:
        summary = main(load_params())
    except TilescanError as exc:
        fail(exc)
    except KeyboardInterrupt:
        print("error: interrupted; no outputs were written", file=sys.stderr)
        sys.exit(130)
    except Exception:  # a bug, not bad input: keep the traceback for the report
        traceback.print_exc()
        sys.exit(2)
    print(summary)


def model_shape(params: dict) -> dict:
    """build_autoencoder's keyword arguments, as train_autoencoder, encode and report all need them."""
    filters = param(params, "train_autoencoder.filters", list)
    if not all(isinstance(f, int) and not isinstance(f, bool) for f in filters):
        raise TilescanError(f"train_autoencoder.filters must be a list of integers, got {filters!r}")
    return {"img_size": param(params, "common.img_size", int), "channels": param(params, "common.channels", int),
            "filters": filters, "dense_units": param(params, "train_autoencoder.dense_units", int),
            "latent_dim": param(params, "train_autoencoder.latent_dim", int)}
