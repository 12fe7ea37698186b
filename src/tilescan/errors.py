"""The one exception type a stage turns into a one-line error and a non-zero exit."""


class TilescanError(Exception):
    """Bad input or parameter; the message names the file or parameter at fault."""


def require(condition: bool, message: str) -> None:
    """Raise TilescanError(message) unless condition holds."""
    if not condition:
        raise TilescanError(message)

