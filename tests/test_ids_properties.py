"""Acceptance (issue 11): whatever a tile id looks like (digits only, leading zeros, NA-like words, spaces,
unicode, `$`, quotes, commas), the ids in flagged.csv and in the clean CSVs are exactly the input ids, each
once. Runs the library functions that read and write these CSVs, as the stages call them."""
from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tilescan.artifacts import read_csv
from tilescan.export import read_table, remove_ids, write_table
from tilescan.readers.png_csv import _read_id_class_csv

NA_LIKE = ["NA", "N/A", "NaN", "nan", "None", "null", "NULL", "#N/A", "<NA>", "-nan", "1.#IND", "", "n/a", "True"]
CHARS = st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="/\\")
PIECES = st.one_of(st.sampled_from([n for n in NA_LIKE if "/" not in n and n]), st.from_regex(r"0[0-9]{1,5}",
                   fullmatch=True), st.sampled_from(["$x_1$", "a$b", "it's", 'say "hi"', "a,b", "c 53", "é⁵中"]),
                   st.text(CHARS, min_size=1, max_size=8))
IDS = st.lists(PIECES.map(str.strip).filter(bool), min_size=1, max_size=8, unique=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=IDS, data=st.data())
def test_ids_survive_every_csv_tilescan_reads_and_writes(tmp_path_factory, ids, data):
    folder = tmp_path_factory.mktemp("ids")
    flags = data.draw(st.lists(st.booleans(), min_size=len(ids), max_size=len(ids)))
    # the user's CSV, as pandas writes it by default (index column), read as prepare reads it
    user_csv = folder / "training_data.csv"
    pd.DataFrame({"id": ids, "class": 0}).to_csv(user_csv)
    assert [tile_id for tile_id, _ in _read_id_class_csv(user_csv)] == ids
    # flagged.csv as knn_report writes it, read back as evaluate / export_clean / report read it
    flagged_csv = folder / "flagged.csv"
    pd.DataFrame({"id": ids, "score": 0.5, "flagged": [int(f) for f in flags], "cluster": 0}).to_csv(
        flagged_csv, index=False, float_format="%.6f")
    flagged = read_csv(flagged_csv)
    assert flagged["id"].tolist() == ids
    # the clean CSV as export_clean writes it
    drop = set(flagged.loc[flagged["flagged"] == 1, "id"])
    clean_csv = folder / "training_data.clean.csv"
    write_table(remove_ids(read_table(user_csv), drop, user_csv), clean_csv)
    clean = read_csv(clean_csv, dtype=str)
    assert clean["id"].tolist() == [tile_id for tile_id, flag in zip(ids, flags) if not flag]
    assert sorted(clean["id"].tolist() + sorted(drop)) == sorted(ids)  # each once, none lost
