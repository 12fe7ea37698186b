"""dvc.yaml declares, for each stage, exactly the library modules its script imports (transitively),
so an experiment re-runs only the stages a code change touches."""
import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tilescan"):
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("tilescan"))
    return {name for name in names if (ROOT / "src" / (name.replace(".", "/") + ".py")).is_file()}


def library_modules(script: Path) -> set[str]:
    seen, todo = set(), [script]
    while todo:
        for module in _imports(todo.pop()):
            if module not in seen:
                seen.add(module)
                todo.append(ROOT / "src" / (module.replace(".", "/") + ".py"))
    return {f"src/{m.replace('.', '/')}.py" for m in seen} - {"src/tilescan/__init__.py"}


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_declares_exactly_its_code(name):
    stage = STAGES[name]
    script = stage["cmd"].split()[1]
    assert stage["cmd"] == f"python stages/{name}.py"
    declared = {d for d in stage["deps"] if d.startswith("src/")}
    assert script in stage["deps"]
    actual = library_modules(ROOT / script)
    assert declared == actual, f"{name}: add {sorted(actual - declared)}, remove {sorted(declared - actual)}"
