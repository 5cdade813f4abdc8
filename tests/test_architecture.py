"""The library's shape: imports only go downwards, no cycle, no module picked by name, small units.

Floors, lowest first: strict_config, medtasks, data_prep, biomedlm (its core below
biomedlm.finetune), eval_gauntlet, and the benchmarks on top of them all. The imports are read with ``ast``, at module level and
inside functions alike: ``import a.b`` is an edge to ``a.b``, ``from a import b`` to ``a.b``
when that is a module, else to ``a``; importing a module also runs its packages' ``__init__``,
so the edge reaches those too (the importer's own packages excepted: they ran first).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FLOORS = ("strict_config", "medtasks", "data_prep", "biomedlm", "eval_gauntlet", "benchmarks")
CORE, EXTENSION = "biomedlm", "biomedlm.finetune"
MAX_FILE_LINES, MAX_FUNCTION_LINES = 400, 60


@dataclass
class Library:
    """The modules of ``floors`` under ``root``: their files and the project modules they import."""

    root: Path
    floors: tuple[str, ...] = FLOORS
    files: dict[str, Path] = field(default_factory=dict)
    edges: dict[str, set[str]] = field(default_factory=dict)
    dynamic: list[str] = field(default_factory=list)  # importlib picking a project module

    def __post_init__(self) -> None:
        for floor in self.floors:
            for path in sorted((self.root / floor).rglob("*.py")):
                parts = path.relative_to(self.root).with_suffix("").parts
                self.files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
        for name, path in self.files.items():
            self.edges[name] = self._imports(name, path)

    def module(self, dotted: str) -> str | None:
        """The project module ``dotted`` names: itself, or its longest known prefix."""
        parts = dotted.split(".")
        for end in range(len(parts), 0, -1):
            if ".".join(parts[:end]) in self.files:
                return ".".join(parts[:end])
        return None

    def _imports(self, name: str, path: Path) -> set[str]:
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in self.files else base
                    for a in node.names
                ]
            else:
                if isinstance(node, ast.Call) and self._picks_a_module(node):
                    self.dynamic.append(f"{path.relative_to(self.root)}:{node.lineno}")
                continue
            for target in targets:
                module = self.module(target)
                while module:  # the module and the packages whose __init__ runs before it
                    if module != name and not name.startswith(module + "."):
                        found.add(module)
                    module = module.rpartition(".")[0] or None
        return found

    def _picks_a_module(self, call: ast.Call) -> bool:
        """``import_module(<a project module's name>)`` or ``import_module(TABLE[key])``."""
        func = call.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if called != "import_module" or not call.args:
            return False
        arg = call.args[0]
        if isinstance(arg, ast.Subscript):
            return True
        if isinstance(arg, ast.JoinedStr) and arg.values:  # f"biomedlm.{name}"
            arg = arg.values[0]
        return isinstance(arg, ast.Constant) and str(arg.value).split(".")[0] in self.floors

    def floor(self, module: str) -> int:
        return self.floors.index(module.split(".")[0])


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def in_extension(module: str) -> bool:
    return module == EXTENSION or module.startswith(EXTENSION + ".")


def import_problems(library: Library) -> list[str]:
    """Every import against the floors: cycles, the core reaching up, a floor reaching up."""
    problems = [f"import cycle: {' <-> '.join(c)}" for c in cycles(library.edges)]
    for module, targets in sorted(library.edges.items()):
        for target in sorted(targets):
            core = module.split(".")[0] == CORE and not in_extension(module)
            if core and in_extension(target):
                problems.append(f"biomedlm core imports its extension: {module} -> {target}")
            if library.floor(target) > library.floor(module):
                problems.append(f"imports a package downstream of it: {module} -> {target}")
    problems += [f"importlib picks a project module: {where}" for where in library.dynamic]
    return problems


def size_problems(library: Library) -> list[str]:
    """Files over MAX_FILE_LINES lines and functions over MAX_FUNCTION_LINES."""
    problems = []
    for path in library.files.values():
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(library.root)
        if text.count("\n") > MAX_FILE_LINES:
            problems.append(f"{where}: {text.count(chr(10))} lines (at most {MAX_FILE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    problems.append(
                        f"{where}:{node.lineno} {node.name}(): {lines} lines "
                        f"(at most {MAX_FUNCTION_LINES})"
                    )
    return problems


@pytest.fixture(scope="module")
def library() -> Library:
    return Library(REPO)


def test_the_library_is_found(library: Library) -> None:
    assert {m.split(".")[0] for m in library.files} == set(FLOORS)
    assert len(library.files) > 100  # every module, not one package
    train = library.edges["biomedlm.train"]
    assert "biomedlm.recipe_kinds" in train  # at module level
    assert "biomedlm.callbacks.run_record" in train  # inside launch()
    assert "data_prep.stages" in train and "data_prep" in train  # another floor, its __init__


def test_imports_go_downwards_without_cycles(library: Library) -> None:
    assert import_problems(library) == []


def test_no_file_over_400_lines_and_no_function_over_60(library: Library) -> None:
    assert size_problems(library) == []


def fake_library(root: Path, files: dict[str, str]) -> Library:
    """A package tree under ``root`` of the floors' names, with the given files."""
    for floor in FLOORS:
        (root / floor).mkdir(parents=True, exist_ok=True)
        (root / floor / "__init__.py").touch()
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(text, encoding="utf-8")
    return Library(root)


def test_a_clean_fake_tree_has_no_problems(tmp_path: Path) -> None:
    library = fake_library(
        tmp_path,
        {
            "medtasks/formats.py": "import strict_config\n",
            "biomedlm/finetune/launch.py": "from biomedlm import settings\nfrom medtasks import formats\n",
            "biomedlm/settings.py": "import importlib\nx = importlib.import_module('yaml')\n",
            "eval_gauntlet/rows.py": "from biomedlm.finetune import launch\n",
        },
    )
    assert library.edges["eval_gauntlet.rows"] == {
        "biomedlm.finetune.launch",
        "biomedlm.finetune",
        "biomedlm",
    }
    assert import_problems(library) == [] and size_problems(library) == []


def test_a_cycle_through_a_function_level_import_is_reported(tmp_path: Path) -> None:
    library = fake_library(
        tmp_path,
        {
            "biomedlm/a.py": "from biomedlm import b\n",
            "biomedlm/b.py": "def later():\n    from biomedlm.c import name\n",
            "biomedlm/c.py": "import biomedlm.a\nname = 1\n",
        },
    )
    assert import_problems(library) == ["import cycle: biomedlm.a <-> biomedlm.b <-> biomedlm.c"]


def test_a_package_init_that_imports_its_importer_is_a_cycle(tmp_path: Path) -> None:
    library = fake_library(
        tmp_path,
        {
            "data_prep/sources/__init__.py": "from data_prep.pipeline import run\n",
            "data_prep/sources/pmc.py": "",
            "data_prep/pipeline.py": "from data_prep.sources.pmc import read\n",
        },
    )
    assert import_problems(library) == ["import cycle: data_prep.pipeline <-> data_prep.sources"]


def test_the_core_importing_the_extension_is_reported_even_inside_a_function(
    tmp_path: Path,
) -> None:
    library = fake_library(
        tmp_path,
        {
            "biomedlm/finetune/choice/model.py": "",
            "biomedlm/generate.py": "def load():\n    from .finetune.choice import model\n",
        },
    )
    assert import_problems(library) == [
        "biomedlm core imports its extension: biomedlm.generate -> biomedlm.finetune",
        "biomedlm core imports its extension: biomedlm.generate -> biomedlm.finetune.choice",
        "biomedlm core imports its extension: biomedlm.generate -> biomedlm.finetune.choice.model",
    ]


def test_a_package_importing_one_downstream_is_reported(tmp_path: Path) -> None:
    library = fake_library(
        tmp_path, {"medtasks/formats.py": "import data_prep.config\n", "data_prep/config.py": ""}
    )
    assert import_problems(library) == [
        "imports a package downstream of it: medtasks.formats -> data_prep",
        "imports a package downstream of it: medtasks.formats -> data_prep.config",
    ]


@pytest.mark.parametrize(
    "call",
    [
        "importlib.import_module('biomedlm.finetune.choice')",
        "import_module(f'eval_gauntlet.finetuned.{kind}')",
        "importlib.import_module(MODULES[kind])",
    ],
)
def test_importlib_picking_a_project_module_is_reported(tmp_path: Path, call: str) -> None:
    text = f"import importlib\nfrom importlib import import_module\n\ndef pick(kind):\n    return {call}\n"
    library = fake_library(tmp_path, {"eval_gauntlet/scoring.py": text})
    assert import_problems(library) == [
        "importlib picks a project module: eval_gauntlet/scoring.py:5"
    ]


def test_a_long_file_and_a_long_function_are_reported(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(60))  # 61 lines with the def
    library = fake_library(
        tmp_path,
        {
            "data_prep/long.py": "x = 0\n" * 401,
            "data_prep/fits.py": "x = 0\n" * 400,
            "data_prep/steps.py": f"def step():\n{body}\n\ndef fits():\n{body[:-13]}",
        },
    )
    assert size_problems(library) == [
        "data_prep/long.py: 401 lines (at most 400)",
        "data_prep/steps.py:1 step(): 61 lines (at most 60)",
    ]


def test_test_modules_import_only_the_shared_fixtures() -> None:
    """No test module imports another: shared helpers live in tests/fixtures/ (or conftest.py)."""
    tests = REPO / "tests"
    wrong = []
    for path in sorted(tests.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                wrong.append(f"{path.relative_to(REPO)}:{node.lineno} (a relative import)")
                continue
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = (
                    [node.module]
                    if node.module != "tests"
                    else [f"tests.{a.name}" for a in node.names]
                )
            wrong += [
                f"{path.relative_to(REPO)}:{node.lineno} imports {name}"
                for name in names
                if name.split(".")[0] == "tests" and not name.startswith("tests.fixtures")
            ]
    assert wrong == []
