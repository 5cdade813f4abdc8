"""Fixtures shared by the test packages: the prepared sample, the tiny tokenizer, model and
Composer run (built once per session), one torch thread. Plain helpers are in tests/fixtures/."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import runs
from tests.fixtures.models import lr0_run, tiny_model
from tests.fixtures.paths import REPO
from tests.fixtures.tokenizers import train_tokenizer


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default data (`make prep-data`'s config), prepared once into the session's tmp folder.

    The debug recipe launched by the tests (:mod:`tests.fixtures.runs`) reads it.
    """
    out = tmp_path_factory.mktemp("prep") / "sample"
    subprocess.run(
        [sys.executable, "-m", "data_prep", "recipes/data/sample.yaml", f"output_dir={out}"],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    runs.DATA = out
    return out


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tokenizer(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory, tokenizer_dir: Path) -> Path:
    """The tiny model folder shared by the session (1024-token context); tests only read it."""
    return tiny_model(tmp_path_factory.mktemp("tiny"), tokenizer_dir)


@pytest.fixture(scope="session")
def composer_run(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path) -> Path:
    """A Composer ``save_folder`` of the tiny model: ``ep0-ba1-rank0.pt``, ``ep0-ba2-rank0.pt``.

    Trained at learning rate 0, so its weights are ``tiny_dir``'s: scoring either must agree.
    """
    save_folder = tmp_path_factory.mktemp("run") / "checkpoints"
    return lr0_run(tiny_dir, save_folder, batches=2, seq_len=16)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """A tiny model's ops are too small for threads: one is faster, and steady on a busy machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use the prepared shards join the xdist group "streaming", which runs on one
    worker (``--dist loadgroup``, as ``make test`` runs): two StreamingDatasets made at the same
    moment on one machine can take the same shared-memory prefix (mosaicml/streaming#884), and
    the later one fails before it reads a sample. Both workers start by preparing the same data,
    so without the group their first launches would start together. That is every test under
    tests/biomedlm (its conftest prepares the data first for all of them: about 330 of the fast
    tier's 790) and the data_prep modules that open shards (their ``pytestmark``).
    tests/test_groups.py checks that the pinned pytest and pytest-xdist keep a group together.
    """
    for item in items:
        if "prepared" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("streaming"))
