"""tilescan: find burned-in annotation tiles in mammography tile datasets."""
