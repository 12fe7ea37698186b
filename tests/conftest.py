"""Fixtures shared by the slow tests; their tools live in helpers.py."""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers import make_repo, pipeline_run


@pytest.fixture(scope="session")
def pipeline_repo(tmp_path_factory) -> Path:
    """A tiny synthetic run of the whole pipeline (`dvc repro`), committed."""
    return pipeline_run(make_repo(tmp_path_factory.mktemp("pipeline")))
