"""params.yaml as typed, frozen dataclasses: one per section, each field with a declared constraint.

Checked once, when a stage starts (`load_params`); stages then pass typed values and the library trusts them.
Every error reads the same way: `dbscan.eps must be a number > 0, got 'abc'`. In the manner of
scikit-learn's `Interval` / `StrOptions` parameter validation.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tilescan.errors import TilescanError

# the detector's views at inference (tilescan.detect.model): the tile; + its mirror image; + its transpose and its
# 180-degree turn
DETECTOR_VIEWS = (1, 2, 4)

PARAMS_FILE = Path("params.yaml")


class _Invalid(Exception):
    """A value that breaks its constraint; the constraint's description makes the message."""


def _shown(value: Any) -> str:
    return f"the string {value!r}" if isinstance(value, str) else repr(value)


# ---- constraints --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Interval:
    """An int or float in [low, high] (either bound may be open or absent). A float field also takes a
    string that reads as a number (PyYAML reads `1e-3` as a string)."""

    kind: type
    low: float | None = None
    high: float | None = None
    closed: str = "both"  # both | left | right | neither

    def describe(self) -> str:
        noun = "an integer" if self.kind is int else "a number"
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            return f"{noun} in {'[' if left else '('}{self.low}, {self.high}{']' if right else ')'}"
        if self.low is not None:
            return f"{noun} {'>=' if left else '>'} {self.low}"
        if self.high is not None:
            return f"{noun} {'<=' if right else '<'} {self.high}"
        return noun

    def convert(self, value: Any) -> int | float:
        if isinstance(value, bool):
            raise _Invalid
        if self.kind is float and isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise _Invalid from None
        if self.kind is int:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int):
                raise _Invalid
        elif not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _Invalid
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and (value < self.low or (value == self.low and not left)):
            raise _Invalid
        if self.high is not None and (value > self.high or (value == self.high and not right)):
            raise _Invalid
        return self.kind(value)


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values (strings, or the integers of a choice such as a bit depth)."""

    values: tuple

    def describe(self) -> str:
        return "one of " + ", ".join(str(v) for v in self.values)

    def convert(self, value: Any) -> Any:
        if isinstance(value, bool) or value not in self.values:
            raise _Invalid
        return value


@dataclass(frozen=True)
class Flag:
    def describe(self) -> str:
        return "true or false"

    def convert(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise _Invalid
        return value


@dataclass(frozen=True)
class Text:
    """A string; `empty` says whether "" (meaning "none") is allowed."""

    empty: bool = False

    def describe(self) -> str:
        return "a string" if self.empty else "a non-empty string"

    def convert(self, value: Any) -> str:
        if value is None and self.empty:
            return ""
        if not isinstance(value, str) or (not value.strip() and not self.empty):
            raise _Invalid
        return value


@dataclass(frozen=True)
class IntList:
    """A non-empty list of integers >= low."""

    low: int = 1

    def describe(self) -> str:
        return f"a non-empty list of integers >= {self.low}"

    def convert(self, value: Any) -> tuple[int, ...]:
        if not isinstance(value, list) or not value:
            raise _Invalid
        return tuple(Interval(int, self.low).convert(v) for v in value)


@dataclass(frozen=True)
class IdList:
    """A list of tile ids, each a string exactly as written. YAML turns unquoted `0053`, `1_000`, `1e3` or
    `true` into numbers or booleans, which would name another tile: those are refused, not converted."""

    def describe(self) -> str:
        return "a list of quoted tile ids"

    def convert(self, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise _Invalid
        for item in value:
            if not isinstance(item, str):
                raise _NotString(item)
        return tuple(value)


class _NotString(_Invalid):
    def __init__(self, item: Any):
        super().__init__()
        self.item = item


@dataclass(frozen=True)
class AnyOf:
    """The first of several constraints that accepts the value."""

    choices: tuple

    def describe(self) -> str:
        return " or ".join(c.describe() for c in self.choices)

    def convert(self, value: Any) -> Any:
        for choice in self.choices:
            try:
                return choice.convert(value)
            except _Invalid:
                continue
        raise _Invalid


def spec(constraint, default: Any = dataclasses.MISSING) -> Any:
    """A dataclass field carrying its constraint (and, for parameters added later, a default)."""
    return field(default=default, metadata={"constraint": constraint})


# ---- the sections -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Common:
    seed: int = spec(Interval(int, 0, 2**32 - 1))
    img_size: int = spec(Interval(int, 8))
    channels: int = spec(Options((1, 3)))
    threads: int = spec(Interval(int, 1), default=2)

    def check(self) -> None:
        _require(self.img_size % 8 == 0, "common.img_size", self.img_size, "a multiple of 8 (the autoencoder "
                 "halves it three times)")


@dataclass(frozen=True)
class Synthesize:
    out_dir: str = spec(Text())
    n_train: int = spec(Interval(int, 1))
    n_test: int = spec(Interval(int, 1))
    tile_size: int = spec(Interval(int, 64))
    annotation_fraction: float = spec(Interval(float, 0, 1))
    style: str = spec(Options(("default", "holdout")))


@dataclass(frozen=True)
class Data:
    raw_dir: str = spec(Text())
    format: str = spec(Options(("auto", "png_csv", "tfrecord", "npy")))
    labels_csv: str = spec(Text(empty=True))
    bit_depth: int | str = spec(Options(("auto", 8, 10, 12, 14, 16)), default="auto")
    val_fraction: float = spec(Interval(float, 0, 1, closed="neither"), default=0.2)
    tone_gamma: float = spec(Interval(float, 0.2, 5), default=1.0)


@dataclass(frozen=True)
class Prepare:
    keep_class: int = spec(Interval(int, 0))
    black_level: int = spec(Interval(int, 0, 255))
    max_black_fraction: float = spec(Interval(float, 0, 1, closed="right"))
    on_unreadable: str = spec(Options(("stop", "skip")))
    workers: int = spec(Interval(int, 1))


@dataclass(frozen=True)
class TrainAutoencoder:
    filters: tuple[int, ...] = spec(IntList())
    dense_units: int = spec(Interval(int, 1))
    latent_dim: int = spec(Interval(int, 1))
    batch_size: int = spec(Interval(int, 1))
    epochs: int = spec(Interval(int, 1))
    max_train_tiles: int = spec(Interval(int, 1))
    max_val_tiles: int = spec(Interval(int, 1))
    patience: int = spec(Interval(int, 0))
    learning_rate: float = spec(Interval(float, 0, None, closed="neither"))
    mixed_precision: bool = spec(Flag())
    strategy: str = spec(Options(("auto", "one_device", "mirrored", "multi_worker")))

    def check(self) -> None:
        _require(len(self.filters) == 3, "train_autoencoder.filters", list(self.filters),
                 "three conv widths (one per encoder block)")


@dataclass(frozen=True)
class TrainDetector:
    n_examples: int = spec(Interval(int, 2))
    epochs: int = spec(Interval(int, 1))
    max_base_tiles: int = spec(Interval(int, 1))
    crop_size: int = spec(Interval(int, 16))
    input_size: int = spec(Interval(int, 16))
    batch_size: int = spec(Interval(int, 1))
    learning_rate: float = spec(Interval(float, 0, None, closed="neither"))
    label_smoothing: float = spec(Interval(float, 0, 0.5, closed="left"))
    query_share: float = spec(Interval(float, 0, 1))
    distractor_rate: float = spec(Interval(float, 0, 1))
    workers: int = spec(Interval(int, 1))
    views: int = spec(Options(DETECTOR_VIEWS), default=2)
    edge_padding: int = spec(Interval(int, 0), default=0)
    tile_padding: int = spec(Interval(int, 0), default=8)
    pseudo_positives: int = spec(Interval(int, 0), default=0)
    members: int = spec(Interval(int, 1), default=1)
    local_contrast_members: int = spec(Interval(int, 0), default=0)

    def check(self) -> None:
        _require(self.crop_size <= self.input_size, "train_detector.crop_size", self.crop_size,
                 f"<= train_detector.input_size ({self.input_size})")
        _require(self.edge_padding < self.crop_size, "train_detector.edge_padding", self.edge_padding,
                 f"< train_detector.crop_size ({self.crop_size}): the reflection needs that many pixels")
        _require(self.tile_padding < self.input_size, "train_detector.tile_padding", self.tile_padding,
                 f"< train_detector.input_size ({self.input_size}): the reflection needs that many pixels")
        _require(self.members <= self.views, "train_detector.members", self.members,
                 f"<= train_detector.views ({self.views}): each member scores its own view of a tile")
        _require(self.local_contrast_members <= self.members, "train_detector.local_contrast_members",
                 self.local_contrast_members, f"<= train_detector.members ({self.members})")


@dataclass(frozen=True)
class Encode:
    batch_size: int = spec(Interval(int, 1))
    max_error_tiles: int = spec(Interval(int, 1), default=2000)


@dataclass(frozen=True)
class Scale:
    pass


@dataclass(frozen=True)
class Dbscan:
    eps: float | str = spec(AnyOf((Interval(float, 0, None, closed="neither"), Options(("auto",)))))
    min_samples: int = spec(Interval(int, 1))
    metric: str = spec(Options(("euclidean", "manhattan", "chebyshev", "cosine")))


@dataclass(frozen=True)
class KnnReport:
    queries: tuple[str, ...] = spec(IdList())
    k: int = spec(Interval(int, 1))
    method: str = spec(Options(("baseline", "statistics", "detector", "combined", "tilescan")))
    min_line_glyphs: int = spec(Interval(int, 2))
    detector_threshold: float = spec(Interval(float, 0, 1))
    combined_threshold: float = spec(Interval(float, 0, 1))
    review_centre: float = spec(Interval(float, 0, 1))


@dataclass(frozen=True)
class ExportClean:
    drop_black: bool = spec(Flag())


@dataclass(frozen=True)
class Report:
    clusters_shown: int = spec(Interval(int, 1))
    tiles_per_cluster: int = spec(Interval(int, 1))
    noise_tiles: int = spec(Interval(int, 1))
    top_flagged: int = spec(Interval(int, 1))
    borderline_tiles: int = spec(Interval(int, 1))
    error_tiles: int = spec(Interval(int, 1))
    tile_px: int = spec(Interval(int, 16))
    review_tiles: int = spec(Interval(int, 1), default=24)


@dataclass(frozen=True)
class Review:
    verdicts: str = spec(Text(empty=True), default="")


@dataclass(frozen=True)
class Params:
    """The whole of params.yaml, validated."""

    common: Common
    synthesize: Synthesize
    data: Data
    prepare: Prepare
    train_autoencoder: TrainAutoencoder
    train_detector: TrainDetector
    encode: Encode
    scale: Scale
    dbscan: Dbscan
    knn_report: KnnReport
    export_clean: ExportClean
    report: Report
    review: Review


# ---- loading ------------------------------------------------------------------------------------------

def _require(condition: bool, name: str, value: Any, wanted: str) -> None:
    if not condition:
        raise TilescanError(f"{name} must be {wanted}, got {_shown(value)}")


def _raw_scalars(text: str) -> dict[tuple[str, str], list[str]]:
    """(section, key) -> the source text of each item of a list value, as written before YAML typed it."""
    raw: dict[tuple[str, str], list[str]] = {}
    root = yaml.compose(text)
    for section_key, section_node in getattr(root, "value", []):
        for key_node, value_node in getattr(section_node, "value", []) if isinstance(section_node,
                                                                                      yaml.MappingNode) else []:
            if isinstance(value_node, yaml.SequenceNode):
                raw[(section_key.value, key_node.value)] = [getattr(item, "value", "") for item in value_node.value]
    return raw


# parameters that were split or renamed: what a params.yaml that still names them should use instead
RENAMED = {"knn_report.flag_threshold": "knn_report.review_centre (the review queue's centre) and "
                                       "knn_report.min_line_glyphs (the statistics method's flag)"}


def _build_section(cls: type, name: str, values: Any, raw: dict) -> Any:
    if values is None and not dataclasses.fields(cls):
        values = {}
    if not isinstance(values, dict):
        raise TilescanError(f"params.yaml: section '{name}' must be a mapping, got {_shown(values)}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        former = RENAMED.get(f"{name}.{unknown[0]}")
        hint = f"; it is now {former}" if former else f" (known: {', '.join(sorted(known))})"
        raise TilescanError(f"params.yaml: unknown parameter {name}.{unknown[0]}{hint}")
    kwargs = {}
    for spec_field in dataclasses.fields(cls):
        dotted = f"{name}.{spec_field.name}"
        if spec_field.name not in values:
            if spec_field.default is dataclasses.MISSING:
                raise TilescanError(f"params.yaml: missing parameter {dotted}")
            continue
        constraint = spec_field.metadata["constraint"]
        value = values[spec_field.name]
        try:
            kwargs[spec_field.name] = constraint.convert(value)
        except _NotString as exc:
            written = raw.get((name, spec_field.name), [])
            position = value.index(exc.item)
            source = written[position] if position < len(written) else str(exc.item)
            raise TilescanError(f"{dotted} must hold tile ids as strings: YAML read {source} as "
                                f"{_shown(exc.item)}; quote it: '{source}'") from None
        except _Invalid:
            raise TilescanError(f"{dotted} must be {constraint.describe()}, got {_shown(value)}") from None
    section = cls(**kwargs)
    if hasattr(section, "check"):
        section.check()
    return section


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    """Read and validate params.yaml; any problem is a TilescanError naming the file or parameter."""
    path = Path(path)
    if not path.is_file():
        raise TilescanError(f"{path}: params file not found (run from the repository root)")
    try:
        text = path.read_text(encoding="utf-8")
        values = yaml.safe_load(text)
        raw = _raw_scalars(text)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise TilescanError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(values, dict):
        raise TilescanError(f"{path}: expected a mapping of sections")
    sections = {}
    for section_field in dataclasses.fields(Params):
        if section_field.name not in values:
            raise TilescanError(f"{path}: missing section '{section_field.name}'")
        sections[section_field.name] = _build_section(section_field.type if isinstance(section_field.type, type)
                                                      else globals()[section_field.type], section_field.name,
                                                      values[section_field.name], raw)
    return Params(**sections)
