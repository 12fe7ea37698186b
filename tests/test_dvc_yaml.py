"""dvc.yaml declares, for each stage, exactly the library files its script imports (transitively), so an
experiment re-runs only the stages a code change touches. Importing a module runs its packages' __init__.py
first, and an __init__.py imports the modules it re-exports: both count."""
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, imported_modules, module_file

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def with_packages(name: str) -> set[str]:
    """name and every package above it (tilescan.readers.npy -> tilescan, tilescan.readers, itself)."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def library_files(script: Path) -> set[str]:
    seen, todo = set(), [script]
    while todo:
        for name in imported_modules(todo.pop()):
            for module in with_packages(name) - seen:
                seen.add(module)
                todo.append(module_file(module))
    # tilescan/__init__.py holds only the package docstring: no stage depends on it
    return {str(module_file(m).relative_to(ROOT)) for m in seen} - {"src/tilescan/__init__.py"}


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_declares_exactly_its_code(name):
    stage = STAGES[name]
    script = stage["cmd"].split()[1]
    assert stage["cmd"] == f"python stages/{name}.py"
    declared = {d for d in stage["deps"] if d.startswith("src/")}
    assert script in stage["deps"]
    actual = library_files(ROOT / script)
    assert declared == actual, f"{name}: add {sorted(actual - declared)}, remove {sorted(declared - actual)}"


def test_a_package_import_reaches_its_init_and_what_it_re_exports():
    files = library_files(ROOT / "stages/prepare.py")
    assert {"src/tilescan/readers/__init__.py", "src/tilescan/readers/_types.py", "src/tilescan/readers/npy.py",
            "src/tilescan/readers/tfrecord.py", "src/tilescan/readers/png_csv.py"} <= files
