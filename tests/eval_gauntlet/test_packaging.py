"""The wheel carries every package's data files (the task catalogue and its data, the model
architecture, data_prep's samples): `python -m eval_gauntlet tasks` works from an installed
wheel, outside the repository, and a model from scratch finds its architecture there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("strict_config", "medtasks", "data_prep", "biomedlm", "eval_gauntlet")


def run(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_wheel_has_the_catalogue_and_its_data(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy: building in place would write build/ into the repo
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for package in PACKAGES:
        shutil.copytree(
            REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    pip = (sys.executable, "-m", "pip", "--disable-pip-version-check", "-q")
    run(*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"),
        str(source), cwd=tmp_path)  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("biomedlm-*.whl")
    tracked = run("git", "ls-files", "-z", *PACKAGES, cwd=REPO).split("\0")
    data_files = {name for name in tracked if name and not name.endswith(".py")}
    assert "biomedlm/architecture/config.json" in data_files
    with zipfile.ZipFile(wheel) as archive:
        assert sorted(data_files - set(archive.namelist())) == []  # every data file shipped
    target = tmp_path / "target"
    run(*pip, "install", "--no-deps", "--target", str(target), str(wheel), cwd=tmp_path)

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = run(sys.executable, "-c", "import eval_gauntlet; print(eval_gauntlet.__file__)",
                cwd=outside, env=env)  # fmt: skip
    assert Path(where.strip()).is_relative_to(target)  # the wheel's copy, not the repository's
    listing = run(sys.executable, "-m", "eval_gauntlet", "tasks", cwd=outside, env=env)
    lines = [line.split("\t") for line in listing.splitlines()]
    assert [line[0] for line in lines][:3] == ["medqa_4options", "pubmedqa", "mmlu_anatomy"]
    assert len(lines) == 8
    for *_, data in lines:
        assert Path(data).is_relative_to(target / "medtasks" / "data")
        assert Path(data).is_file()
    assert (target / "medtasks" / "data" / "mmlu_medical_dev.jsonl").is_file()
    assert (target / "medtasks" / "data" / "README.md").is_file()  # provenance and licences
    architecture = target / "biomedlm" / "architecture" / "config.json"  # a model from scratch
    assert json.loads(architecture.read_text())["model_type"] == "gpt2"
