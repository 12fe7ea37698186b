"""The layout itself: the package imports without cycles, and nothing reaches it but the installed package."""
import re

from helpers import ROOT, SRC, imported_modules


def import_graph() -> dict[str, set[str]]:
    """module -> the tilescan modules it imports. A submodule importing a sibling by its full name is no edge to
    the package's __init__.py (Python has that package half-imported already); an explicit package import is."""
    graph = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        graph[name] = imported_modules(path) - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as [a, b, ..., a], or [] when there is none (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = "done"
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_no_import_cycle_in_the_package():
    graph = import_graph()
    assert "tilescan.readers._dispatch" in graph and "tilescan.readers.npy" in graph["tilescan.readers.tfrecord"]
    assert find_cycle(graph) == [], " -> ".join(find_cycle(graph))


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []


def test_nothing_edits_the_import_path():
    pattern = re.compile("sys" + r"\.path|PYTHON" + "PATH")  # spelt apart, so this file does not match
    offenders = [str(path.relative_to(ROOT)) for folder in ("src", "stages", "tests", "benchmarks")
                 for path in (ROOT / folder).rglob("*.py")
                 if pattern.search(path.read_text())]
    assert offenders == []
    assert not (ROOT / "stages/tilescan").exists()
