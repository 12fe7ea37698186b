"""The parameter layer: every parameter of params.yaml, given a value of the wrong type and one out of range,
is refused with the one wording `<section>.<name> must be <constraint>, got <value>`."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from tilescan import params as P
from tilescan.errors import TilescanError

ROOT = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((ROOT / "params.yaml").read_text())


def _bad_values(constraint) -> list:
    """A value of the wrong type and, where the constraint has a range or a set, one outside it."""
    if isinstance(constraint, P.Interval):
        wrong = ["abc", [1], True]
        if constraint.low is not None:
            wrong.append(constraint.low - 1 if constraint.kind is int else constraint.low - 0.5)
        if constraint.high is not None:
            wrong.append(constraint.high + 1)
        if constraint.kind is int:
            wrong.append(1.5)
        return wrong
    if isinstance(constraint, P.Options):
        return ["no-such-option", [constraint.values[0]], 3.5]
    if isinstance(constraint, P.Flag):
        return ["yes", 1]
    if isinstance(constraint, P.Text):
        return [5, ["a"]] + ([] if constraint.empty else ["", "  "])
    if isinstance(constraint, P.IntList):
        return ["abc", [], [constraint.low - 1], ["a"]]
    if isinstance(constraint, P.IdList):
        return ["c1", {"a": 1}]
    if isinstance(constraint, P.AnyOf):
        return ["no-such-option", [1], -1]
    raise AssertionError(f"no bad values for {constraint!r}")


def _cases():
    for section in dataclasses.fields(P.Params):
        for spec_field in dataclasses.fields(section.type if isinstance(section.type, type)
                                             else getattr(P, section.type)):
            for value in _bad_values(spec_field.metadata["constraint"]):
                name = f"{section.name}.{spec_field.name}"
                yield pytest.param(section.name, spec_field.name, value, id=f"{name}={value!r}")


def _write(tmp_path: Path, section: str, name: str, value) -> Path:
    values = yaml.safe_load(yaml.safe_dump(BASE))
    values[section][name] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return path


def test_repository_params_are_valid():
    params = P.load_params(ROOT / "params.yaml")
    assert params.common.seed == BASE["common"]["seed"]
    assert params.knn_report.queries == tuple(BASE["knn_report"]["queries"])


@pytest.mark.parametrize(("section", "name", "value"), list(_cases()))
def test_every_bad_value_is_one_line_naming_the_parameter(tmp_path, section, name, value):
    with pytest.raises(TilescanError) as caught:
        P.load_params(_write(tmp_path, section, name, value))
    message = str(caught.value)
    assert message.startswith(f"{section}.{name} must ")
    assert "\n" not in message
    assert (f"got the string {value!r}" if isinstance(value, str) else f"got {value!r}") in message


@pytest.mark.parametrize("written, typed", [("0053", "43"), ("1_000", "1000"), ("1.5e+3", "1500.0"),
                                            ("true", "True"), ("1:20", "80"), ("null", "None")])
def test_unquoted_query_ids_are_refused_with_the_text_as_written(tmp_path, written, typed):
    text = (ROOT / "params.yaml").read_text()
    path = tmp_path / "params.yaml"
    path.write_text(text.replace("queries: [c311", f"queries: [{written}"))
    with pytest.raises(TilescanError, match=re.escape(f"YAML read {written} as {typed}; quote it: '{written}'")):
        P.load_params(path)


def test_ids_that_yaml_keeps_as_strings_stay_exact(tmp_path):
    text = (ROOT / "params.yaml").read_text().replace("queries: [c311", "queries: [1e3, '0053', NA")
    path = tmp_path / "params.yaml"
    path.write_text(text)
    assert P.load_params(path).knn_report.queries[:3] == ("1e3", "0053", "NA")


def test_a_number_written_as_a_string_is_read_as_the_number(tmp_path):
    params = P.load_params(_write(tmp_path, "train_autoencoder", "learning_rate", "1e-3"))
    assert params.train_autoencoder.learning_rate == 0.001


def test_unknown_and_missing_parameters_are_named(tmp_path):
    values = yaml.safe_load(yaml.safe_dump(BASE))
    values["dbscan"]["epss"] = 1.0
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(values))
    with pytest.raises(TilescanError, match=r"unknown parameter dbscan\.epss"):
        P.load_params(path)
    del values["dbscan"]["epss"], values["dbscan"]["eps"]
    path.write_text(yaml.safe_dump(values))
    with pytest.raises(TilescanError, match=r"missing parameter dbscan\.eps"):
        P.load_params(path)


def test_a_renamed_parameter_says_what_replaced_it(tmp_path):
    values = yaml.safe_load(yaml.safe_dump(BASE))
    values["knn_report"]["flag_threshold"] = 0.94
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(values))
    with pytest.raises(TilescanError, match=r"knn_report\.flag_threshold; it is now knn_report\.review_centre .* "
                                            r"and knn_report\.min_line_glyphs"):
        P.load_params(path)


@pytest.mark.parametrize("section, name, value, wanted", [
    ("train_autoencoder", "filters", [8, 4], "three conv widths"),
    ("common", "img_size", 60, "a multiple of 8"),
    ("train_detector", "edge_padding", 96, "< train_detector.crop_size (96)"),
    ("train_detector", "tile_padding", 160, "< train_detector.input_size (160)"),
    ("train_detector", "members", 3, "<= train_detector.views (2)"),
    ("train_detector", "local_contrast_members", 3, "<= train_detector.members (2)"),
])
def test_cross_field_rules_use_the_same_wording(tmp_path, section, name, value, wanted):
    with pytest.raises(TilescanError, match=re.escape(f"{section}.{name} must be {wanted}")):
        P.load_params(_write(tmp_path, section, name, value))


def test_new_data_params_have_defaults(tmp_path):
    values = yaml.safe_load(yaml.safe_dump(BASE))
    del values["data"]["bit_depth"], values["data"]["val_fraction"]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(values))
    data = P.load_params(path).data
    assert (data.bit_depth, data.val_fraction) == ("auto", 0.2)
