"""Every command README.md and docs/*.md show still runs, so no page drifts from the code.

A command shown in a ```bash block, or inline as `python -m ...`, `make ...` or `composer ...`:

- ``python -m MODULE [SUBCOMMAND]`` answers ``--help`` with exit 0 (in-process through the
  module's ``main(argv)``), and every ``--flag`` shown is in that help; ``python SCRIPT.py``
  likewise, in a subprocess;
- ``make TARGET [VAR=value ...]`` passes ``make -n``;
- ``composer [launcher flags] train RECIPE [key=value ...]``: Composer's launcher takes the flags;
- every ``recipes/...yaml`` a page names loads (the recipe loader with ``components=False``; data
  configs with data_prep's loader), with the overrides the command shows.

Every repository path, link and anchor a page names exists, and every ``--flag`` named inline in
the prose is a flag of some command the pages show.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import glob
import importlib
import io
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
STAGE_PAGES = ["data-prep", "pretraining", "evaluation", "fine-tuning", "generation"]
# Where a page's inline `path` is the repository's (runs/, outputs/... are made by running).
REPO_ROOTS = {
    "strict_config", "medtasks", "data_prep", "biomedlm", "eval_gauntlet", "recipes", "data",
    "benchmarks", "tests", "docs", "train", "Makefile", "pyproject.toml", "requirements.lock",
}  # fmt: skip
FENCE = re.compile(r"^```\s*(\w*)\s*$")
INLINE = re.compile(r"`([^`]+)`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
RECIPE = re.compile(r"recipes/[\w./{},*-]+?\.yaml")
FLAG = re.compile(r"^--?[A-Za-z][\w-]*")
INLINE_COMMAND = re.compile(r"^(python3? |make |composer )")


@dataclass(frozen=True)
class Shown:
    """A command as a page shows it."""

    page: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.text}"


@dataclass(frozen=True)
class Page:
    name: str
    text: str
    commands: tuple[Shown, ...]
    inline: tuple[tuple[int, str], ...]  # (line, code) of inline code spans in prose
    layout: tuple[tuple[int, str], ...]  # (line, first word) of lines in ```text blocks


def _parse(path: Path) -> Page:
    name = str(path.relative_to(REPO))
    lines = path.read_text(encoding="utf-8").splitlines()
    commands: list[Shown] = []
    layout: list[tuple[int, str]] = []
    prose: list[str] = []
    fence: str | None = None
    pending = ""
    for number, line in enumerate(lines, 1):
        opened = FENCE.match(line)
        if opened and fence is None:
            fence = opened.group(1) or "text"
            prose.append("")
            continue
        if line.strip() == "```" and fence is not None:
            fence = None
            prose.append("")
            continue
        prose.append("" if fence else line)
        if fence == "bash":
            pending += line.rstrip("\\") + " "
            if not line.endswith("\\"):
                if pending.strip() and not pending.strip().startswith("#"):
                    commands.append(Shown(name, number, " ".join(pending.split())))
                pending = ""
        elif fence == "text" and line.strip():
            layout.append((number, line.split()[0]))
    inline: list[tuple[int, str]] = []
    text = "\n".join(prose)
    for match in INLINE.finditer(text):
        code = " ".join(match.group(1).split())
        number = text.count("\n", 0, match.start()) + 1
        inline.append((number, code))
        if INLINE_COMMAND.match(code):
            commands.append(Shown(name, number, code))
    return Page(name, "\n".join(lines), tuple(commands), tuple(inline), tuple(layout))


ALL = [_parse(path) for path in PAGES]


def _commands() -> list[Shown]:
    seen: dict[str, Shown] = {}
    for page in ALL:
        for shown in page.commands:
            seen.setdefault(shown.text, shown)
    return list(seen.values())


# ---- what a command is checked against (each distinct check once per session) ----


@functools.cache
def module_help(module: str, sub: str | None) -> tuple[int, str]:
    """``python -m module [sub] --help``: exit status and output, in-process where it can be."""
    argv = [*([sub] if sub else []), "--help"]
    main = None
    with contextlib.suppress(ImportError):
        loaded = importlib.import_module(module)
        main = getattr(loaded, "main", None)
        if main is None and hasattr(loaded, "__path__"):
            main = getattr(importlib.import_module(f"{module}.__main__"), "main", None)
    if main is None:
        return _run([sys.executable, "-m", module, *argv])
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's --help
            code = exc.code
    return int(code or 0), out.getvalue()


@functools.cache
def script_help(script: str) -> tuple[int, str]:
    return _run([sys.executable, str(REPO / script), "--help"])


@functools.cache
def make_dry_run(args: tuple[str, ...]) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return _run(["make", "-n", "-C", str(REPO), *args], env=env)


@functools.cache
def launcher() -> argparse.ArgumentParser:
    """Composer's launcher's own parser: the flags `composer` takes before the script."""
    from composer.cli.launcher import _get_parser

    parser = _get_parser()
    parser.exit_on_error = False
    return parser


def _run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


@functools.cache
def load(recipe: str, overrides: tuple[str, ...] = ()) -> str | None:
    """None when ``recipe`` loads with ``overrides``, else the loader's one-line error."""
    overrides = tuple(o for o in overrides if not o.startswith("model.init_from="))
    with contextlib.chdir(REPO):
        try:
            if recipe.startswith("recipes/data/"):
                from data_prep.config import load_config

                load_config(recipe, list(overrides))
            else:
                from biomedlm.recipe_kinds import load_recipe

                init = ["model.init_from=x"] if recipe.startswith("recipes/finetune/") else []
                load_recipe(recipe, [*init, *overrides], components=False)
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
    return None


def help_has(flag: str, help_text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", help_text) is not None


# ---- one command ----


def _tokens(text: str) -> list[str]:
    return shlex.split(text, comments=True)


def _flags(tokens: list[str]) -> list[str]:
    found = []
    for token in tokens:
        match = FLAG.match(token.strip("[]"))
        if match:
            found.append(match.group(0))
    return found


def _required(tokens: list[str]) -> list[str]:
    """``tokens`` outside the optional ``[...]`` groups a page writes."""
    kept, depth = [], 0
    for token in tokens:
        optional = depth > 0 or token.startswith("[")
        depth = max(0, depth + token.count("[") - token.count("]"))
        if not optional:
            kept.append(token)
    return kept


def _recipe_and_overrides(args: list[str]) -> tuple[str, tuple[str, ...]] | None:
    """The first recipe given as an argument (not as a flag's value), with its ``key=value``s."""
    required = _required(args)
    for i, token in enumerate(required):
        if RECIPE.fullmatch(token) and not (i and required[i - 1].startswith("-")):
            rest = required[i + 1 :]
            return token, tuple(t for t in rest if re.match(r"^[A-Za-z_][\w.]*=", t))
    return None


def _is_subcommand(module: str, word: str) -> bool:
    if not re.fullmatch(r"[a-z][\w-]*", word):
        return False
    _, text = module_help(module, None)  # argparse's {a,b} choices, or a usage line naming it
    return re.search(rf"(?<![\w/.-]){word}(?![\w/.-])", text) is not None


def check_python(tokens: list[str]) -> list[str]:
    if tokens[1] == "-m":
        module, args = tokens[2], tokens[3:]
        sub = args[0] if args and _is_subcommand(module, args[0]) else None
        code, text = module_help(module, sub)
        name = f"python -m {module}{' ' + sub if sub else ''}"
    else:
        script, args = tokens[1], tokens[2:]
        if not (REPO / script).is_file():
            return [f"{script}: no such file"]
        code, text = script_help(script)
        name = f"python {script}"
    if code != 0:
        return [f"`{name} --help` exits {code}: {text.strip()[-300:]}"]
    problems = [f"{name} has no flag {f}" for f in _flags(args) if not help_has(f, text)]
    found = _recipe_and_overrides(args)
    if found:
        error = load(*found)
        problems += [f"{found[0]} {' '.join(found[1])}: {error}"] if error else []
    return problems


def check_make(tokens: list[str]) -> list[str]:
    args = [t for t in tokens[1:] if not t.startswith("-")]
    code, text = make_dry_run(tuple(args))
    if code != 0:
        return [f"`make -n {' '.join(args)}` exits {code}: {text.strip()[-300:]}"]
    assigned = dict(a.split("=", 1) for a in args if "=" in a)
    recipe = assigned.get("RECIPE") or assigned.get("CONFIG")
    if recipe and RECIPE.fullmatch(recipe):
        overrides = tuple(t for t in _tokens(assigned.get("ARGS", "")) if "=" in t)
        error = load(recipe, overrides)
        return [f"{recipe} {' '.join(overrides)}: {error}"] if error else []
    return []


def check_composer(tokens: list[str]) -> list[str]:
    try:
        parsed, unknown = launcher().parse_known_args(tokens[1:])
    except (argparse.ArgumentError, SystemExit) as exc:
        return [f"Composer's launcher refuses {' '.join(tokens[1:])}: {exc}"]
    if unknown:
        return [f"Composer's launcher has no flag {' '.join(unknown)}"]
    script = parsed.training_script
    if script == "...":
        return []
    if not (REPO / script).is_file():
        return [f"{script}: no such entry script in the repository"]
    found = _recipe_and_overrides(parsed.training_script_args)
    error = load(*found) if found else None
    return [f"{found[0]} {' '.join(found[1])}: {error}"] if found and error else []


def check(text: str) -> list[str]:
    """What is wrong with the command ``text`` as a page shows it (empty: nothing)."""
    try:
        tokens = _tokens(text)
    except ValueError as exc:
        return [f"cannot split: {exc}"]
    first = tokens[0] if tokens else ""
    if first in ("python", "python3") and len(tokens) > 1:
        return check_python(tokens)
    if first == "make":
        return check_make(tokens)
    if first == "composer":
        return check_composer(tokens)
    return [f"not a command this test can check (python, make or composer): {text}"]


# ---- the tests ----


@pytest.mark.parametrize("shown", _commands(), ids=str)
def test_every_command_shown_runs(shown: Shown) -> None:
    assert check(shown.text) == [], str(shown)


def _recipes_named() -> list[str]:
    named: set[str] = set()
    for page in ALL:
        for match in RECIPE.finditer(page.text):
            named.add(match.group(0))
    return sorted(named)


def _expand(pattern: str) -> list[str]:
    braces = re.search(r"\{([^}]*)\}", pattern)
    if braces:
        return [
            path
            for part in braces.group(1).split(",")
            for path in _expand(pattern[: braces.start()] + part + pattern[braces.end() :])
        ]
    return sorted(str(Path(p).relative_to(REPO)) for p in glob.glob(str(REPO / pattern)))


@pytest.mark.parametrize("pattern", _recipes_named())
def test_every_recipe_named_loads(pattern: str) -> None:
    paths = _expand(pattern)
    assert paths, f"{pattern}: no such recipe"
    for path in paths:
        assert load(path) is None, f"{path}: {load(path)}"


def _slug(heading: str) -> str:
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text))


def _anchors(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def _repo_path(code: str) -> str | None:
    """``code`` as a repository path a page names, or None when it is not one."""
    if " " in code or any(mark in code for mark in ("<", "...", "://", "=")):
        return None
    root = code.split("/")[0]
    return code if root in REPO_ROOTS and ("/" in code or "." in root) else None


@pytest.mark.parametrize("page", ALL, ids=lambda p: p.name)
def test_every_path_and_link_a_page_names_exists(page: Page) -> None:
    here = (REPO / page.name).parent
    missing = []
    for number, code in page.inline:
        path = _repo_path(code)
        if path and not _expand(path.rstrip("/")):
            missing.append(f"{page.name}:{number}: `{code}`")
    for number, word in page.layout:
        if word.endswith("/") and not (REPO / word).is_dir():
            missing.append(f"{page.name}:{number}: folder {word}")
    for target in LINK.findall(page.text):
        if re.match(r"^[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        linked = (here / file).resolve() if file else REPO / page.name
        if not linked.exists():
            missing.append(f"{page.name}: link {target}")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            missing.append(f"{page.name}: link {target}: no such heading")
    assert missing == []


def test_every_flag_named_in_prose_is_a_flag_of_a_command_shown() -> None:
    helps = [launcher().format_help()]
    for shown in _commands():
        tokens = _tokens(shown.text)
        if tokens[:2] == ["python", "-m"]:
            module, args = tokens[2], tokens[3:]
            sub = args[0] if args and _is_subcommand(module, args[0]) else None
            helps.append(module_help(module, sub)[1])
        elif tokens[0] == "python" and (REPO / tokens[1]).is_file():
            helps.append(script_help(tokens[1])[1])
    unknown = [
        f"{page.name}:{number}: {flag}"
        for page in ALL
        for number, code in page.inline
        if code.startswith("--") and not INLINE_COMMAND.match(code)
        for flag in _flags(_tokens(code))
        if not any(help_has(flag, text) for text in helps)
    ]
    assert unknown == []


def test_the_readme_is_a_front_door() -> None:
    readme = ALL[0]
    lines = readme.text.splitlines()
    assert len(lines) <= 200
    first_screen = "\n".join(lines[:40])
    assert "make demo" in first_screen and "make test" in first_screen
    linked = {Path(t.partition("#")[0]).name for t in LINK.findall(readme.text)}
    assert {p.name for p in PAGES[1:]} <= linked  # every docs page is reachable from the README
    for stage in STAGE_PAGES:  # each stage page shows at least one command
        page = next(p for p in ALL if p.name == f"docs/{stage}.md")
        assert page.commands, page.name


@pytest.mark.parametrize(
    "text",
    [
        "python -m eval_gauntlet watch runs/x --no-such-flag",  # a flag the command lacks
        "python -m no_such_module",
        "make no-such-target",
        "composer --no-such-flag train recipes/pretrain/debug-cpu.yaml",
        "composer train recipes/pretrain/debug-cpu.yaml model.no_such_key=1",
        "python -m biomedlm.train recipes/pretrain/no-such-recipe.yaml",
        "ls recipes",  # a command this test cannot check
    ],
)
def test_the_check_catches_drift(text: str) -> None:
    assert check(text) != []
