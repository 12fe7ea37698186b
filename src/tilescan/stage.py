"""What every stage script shares: validated params (tilescan.params), the parameter bundles several stages read
the same way, and turning bad input into a one-line error."""
from __future__ import annotations

import signal
import sys
import traceback
from typing import Callable, NoReturn

from tilescan.errors import TilescanError
from tilescan.params import Params, load_params


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as an exception so that staged_outputs deletes the temporary outputs on its way out."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated


def fail(exc: TilescanError) -> NoReturn:
    """The one wording of bad input: one 'error:' line on stderr, exit status 1."""
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(1)


def run_stage(main: Callable[[Params], str]) -> None:
    """Run main(params) with params.yaml validated (tilescan.params); print its one-line summary, or one
    'error:' line and exit 1 on bad input. Ctrl-C and SIGTERM stop the stage without leaving temporary
    outputs (exit 130 and 143)."""
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        summary = main(load_params())
    except TilescanError as exc:
        fail(exc)
    except KeyboardInterrupt as exc:
        print("error: interrupted; no outputs were written", file=sys.stderr)
        sys.exit(143 if isinstance(exc, Terminated) else 130)
    except Exception:  # a bug, not bad input: keep the traceback for the report
        traceback.print_exc()
        sys.exit(2)
    print(summary)


def model_shape(params: Params) -> dict:
    """build_autoencoder's keyword arguments, as train_autoencoder, encode and report all need them."""
    return {"img_size": params.common.img_size, "channels": params.common.channels,
            "filters": list(params.train_autoencoder.filters), "dense_units": params.train_autoencoder.dense_units,
            "latent_dim": params.train_autoencoder.latent_dim}


def query_source(params: Params) -> str:
    """Where query ids are looked up, for the message that refuses an unknown one."""
    return f"data.raw_dir's ({params.data.raw_dir}) readable class-{params.prepare.keep_class} tiles"
