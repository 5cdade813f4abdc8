"""Checkpoint names: one rule for Composer files, sharded folders and exports, links included."""

from __future__ import annotations

from pathlib import Path

from biomedlm.trained.names import (
    checkpoint_name,
    composer_folder,
    composer_position,
    composer_step,
    safe_name,
    step_in_name,
    step_of_name,
)


def test_a_checkpoint_reached_through_a_link_has_its_targets_name_and_step(tmp_path: Path) -> None:
    file = tmp_path / "ep0-ba60-rank0.pt"
    file.write_bytes(b"")
    sharded = tmp_path / "ep1-ba70"
    export = tmp_path / "hf" / "ba80"
    for folder in (sharded, export):
        folder.mkdir(parents=True)
    for target, name, step in ((file, "ep0-ba60-rank0", 60), (sharded, "ep1-ba70", 70),
                               (export, "ba80", 80)):  # fmt: skip
        link = tmp_path / f"latest-{step}"
        link.symlink_to(target)
        assert checkpoint_name(target) == checkpoint_name(link) == name
        assert step_of_name(target) == step_of_name(link) == step
    assert checkpoint_name(tmp_path / "hf" / "." / "ba80" / "..") == "hf"  # the folder it is
    assert step_of_name(tmp_path / "model") is None  # no step in the name: none invented


def test_which_names_are_checkpoints() -> None:
    assert composer_step("ep0-ba60-rank0.pt") == composer_step("ep3-ba60") == 60
    assert composer_step("ep0-ba60-rank1.pt") is None  # rank 0's file names the checkpoint
    assert composer_step("ba60") is None and step_in_name("ba60") == 60  # an export
    assert [step_in_name(n) for n in ("latest-rank0.pt", "ep0-ba6.pt", "ba6x", "xba6")] == [
        None
    ] * 4


def test_checkpoints_of_one_batch_are_ordered_by_epoch_as_numbers() -> None:
    assert composer_position("ep10-ba70-rank0.pt") == composer_position("ep10-ba70") == (70, 10)
    earlier, later = composer_position("ep9-ba70-rank0.pt"), composer_position("ep10-ba70")
    assert earlier is not None and later is not None and earlier < later
    assert composer_position("ep0-ba70-rank1.pt") is None and composer_position("ba70") is None


def test_a_save_folder_is_named_as_composer_fills_it_in() -> None:
    assert composer_folder("./{run_name}/checkpoints", "debug") == "./debug/checkpoints"
    assert composer_folder("s3://bucket/runs/x", "debug") == "s3://bucket/runs/x"


def test_a_safe_name_keeps_letters_digits_dots_dashes_and_underscores() -> None:
    assert safe_name("patient-qa-debug-cpu-ep0-ba60-rank0") == "patient-qa-debug-cpu-ep0-ba60-rank0"
    assert safe_name("run  a/é:b_c") == "run_a_b_c"  # a run of other characters: one "_"
    assert safe_name("../x.") == "x" and safe_name("..") == "model"
