"""The architecture as a test: every module imports, no import cycle (lazy or not), and imports
point down the layers: common ← simulator ← llm_validation and figures; benchmarks and the tests
sit on top. Inside llm_validation the rooms point one way too:

    core ← sources ← config, presets ← training ← measure, trl, alignment ← backends ← cli

(`measure`, `trl` and `alignment` import none of each other.) No folder of source holds more than
14 modules or 2,500 lines, and every package of llm_validation says in its docstring what it holds."""

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "simulator", "llm_validation", "figures", "benchmarks")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imported(name: str, path: Path) -> set[str]:
    """Project modules that `name` imports anywhere in its file (function bodies included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from pkg import mod` imports the module; `from pkg import name` runs pkg/__init__
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        else:
            continue
        out |= {t for t in targets if t in MODULES and t != name}
    return out


GRAPH = {name: imported(name, path) for name, path in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_planted_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_of_any_package_is_in_an_import_cycle():
    assert sum(map(len, GRAPH.values())) > 150  # the graph is real: every import is an edge
    assert cycles(GRAPH) == []


ROOMS = (  # llm_validation's rooms, bottom up; a room imports only rooms of the levels below
    ("core",),
    ("sources",),
    ("config", "presets"),
    ("training",),
    ("measure", "trl", "alignment"),
    ("backends",),
    ("cli",),
)
LLM = [f"llm_validation.{room}" for level in ROOMS for room in level]


def not_below(level: int, room: str) -> tuple[str, ...]:
    """What a module of `room` (in `ROOMS[level]`) may not import: the rooms of its own level and
    of every level above, and what sits above llm_validation (figures draws, the CLI calls it)."""
    rooms = [f"llm_validation.{r}" for lvl in ROOMS[level:] for r in lvl if r != room]
    return (*rooms, *(() if room == "cli" else ("figures",)), "benchmarks")


LAYERS = {  # a module under the key may import nothing under the values
    "common": ("simulator", "llm_validation", "figures", "benchmarks"),
    "simulator": ("llm_validation", "figures", "benchmarks"),
    **{f"llm_validation.{r}": not_below(i, r) for i, level in enumerate(ROOMS) for r in level},
    "figures": ("llm_validation", "benchmarks"),
    "figures.paper": ("figures.runs",),  # run-folder plots borrow the paper's panels, not back
}


def test_the_rooms_cover_llm_validation():
    """Every module of llm_validation but its own __init__ and __main__ lies in one room."""
    rooms = [m for m in MODULES if m.startswith("llm_validation.")]
    homeless = [m for m in rooms if not any(m == r or m.startswith(r + ".") for r in LLM)]
    assert homeless == ["llm_validation.__main__"]


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_imports_point_down_the_layers(layer):
    below = lambda m, p: m == p or m.startswith(p + ".")
    bad = [
        (name, target)
        for name, targets in GRAPH.items()
        if below(name, layer)
        for target in targets
        if any(below(target, forbidden) for forbidden in LAYERS[layer])
    ]
    assert bad == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_imports(name):
    if name.endswith("__main__"):
        pytest.skip("running it is the entry point's own test")
    importlib.import_module(name)


def test_one_definition_of_each_shared_concept():
    """One UserError, one relative error, one run-folder rule, one probe vocabulary and one set
    of metric columns in the whole tree (a grep, as a test)."""
    sources = {n: p.read_text() for n, p in MODULES.items()}
    count = lambda needle: sorted(n for n, s in sources.items() if needle in s)
    assert count("class UserError") == ["common.errors"]
    assert count("def relative_error") == ["simulator.step"]
    assert count('Path("runs")') == ["common.runs"]
    assert count("ProbeType(") == ["common.probes"]
    spelled_out = [n for n, s in sources.items() if re.search(r'"irr_train",\s*"irr_test"', s)]
    assert spelled_out == []  # no second list of the probe types
    for name in ("metrics.csv", "predictions.csv", "influence.csv", "drift.json", "kernel.csv"):
        assert count(f'"{name}"') == ["common.runs"], name  # run files named once
    assert count('("step", "examples_seen", "probe_type", "metric", "value")') == ["common.runs"]


SOURCE_ROOTS = (*PACKAGES, "tests", "theory_tests", "examples")
FOLDERS = sorted(
    {
        p.parent
        for root in SOURCE_ROOTS
        for p in (ROOT / root).rglob("*.py")
        if not any(part.startswith(".") for part in p.relative_to(ROOT).parts)
    }
)


@pytest.mark.parametrize("folder", [pytest.param(f, id=str(f.relative_to(ROOT))) for f in FOLDERS])
def test_no_folder_holds_more_than_14_modules_or_2500_lines(folder):
    """A folder a newcomer can read: at most 14 modules (`__init__` and `conftest` counted) and
    2,500 lines of Python in all."""
    modules = sorted(folder.glob("*.py"))
    lines = sum(len(m.read_text().splitlines()) for m in modules)
    assert len(modules) <= 14, [m.name for m in modules]
    assert lines <= 2500


def test_the_folder_limits_see_an_oversized_folder(tmp_path):
    for i in range(15):
        (tmp_path / f"m{i}.py").write_text("x = 1\n")
    with pytest.raises(AssertionError):
        test_no_folder_holds_more_than_14_modules_or_2500_lines(tmp_path)


@pytest.mark.parametrize(
    "init",
    sorted(
        n for n, p in MODULES.items() if n.startswith("llm_validation") and p.name == "__init__.py"
    ),
)
def test_every_package_of_llm_validation_says_what_its_room_holds(init):
    docstring = ast.get_docstring(ast.parse(MODULES[init].read_text())) or ""
    assert len(docstring.strip().splitlines()) > 1, f"{init}: {docstring!r}"
