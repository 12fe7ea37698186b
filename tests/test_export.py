"""The clean CSVs keep the input's own format."""
import pandas as pd

from tilescan.export import read_table, remove_ids, write_table


def test_round_trip_keeps_the_unnamed_index_column(tmp_path):
    source = tmp_path / "training_data.csv"
    pd.DataFrame({"id": ["c1", "c2", "c3"], "class": [0, 0, 1], "normal_class": [0, 0, 1]}).to_csv(source)
    table = read_table(source)
    write_table(table, tmp_path / "same.csv")
    assert (tmp_path / "same.csv").read_text() == source.read_text()
    write_table(remove_ids(table, {"c2"}, source), tmp_path / "clean.csv")
    lines = (tmp_path / "clean.csv").read_text().splitlines()
    assert lines == [",id,class,normal_class", "0,c1,0,0", "2,c3,1,1"]


def test_extra_columns_and_no_index_survive(tmp_path):
    source = tmp_path / "t.csv"
    source.write_text("id,class,site\nimg1,0,A\nimg2,0,\n")
    write_table(remove_ids(read_table(source), {"img1"}, source), tmp_path / "clean.csv")
    assert (tmp_path / "clean.csv").read_text() == "id,class,site\nimg2,0,\n"
