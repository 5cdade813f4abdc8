"""The training-side hook: one watcher beside training, fed by its checkpointer, off its GPUs."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from eval_gauntlet.__main__ import parser
from eval_gauntlet.options import WATCH, Options, command_line, from_args
from eval_gauntlet.watch_lock import announced, is_free
from eval_gauntlet.watcher_callback import GauntletWatcher, _check_device, tokens_per_step


def watcher_args(hook: GauntletWatcher) -> Any:
    """What the watcher process the callback starts reads from its command line."""
    return parser().parse_args(command_line(hook.options, WATCH)[3:])


SCORING = {"tasks": ["medqa_4options"], "sample": 4, "shots": 0, "settle": 0.5, "interval": 0.3}


def trainer(tiny_dir: Path, save_folder: Path, callbacks: list[Any]) -> Any:
    """A Composer Trainer of the tiny model, checkpointing every batch into ``save_folder``."""
    from composer import Trainer
    from composer.models import HuggingFaceModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    model = HuggingFaceModel(AutoModelForCausalLM.from_pretrained(tiny_dir), tokenizer=tokenizer)
    ids = torch.randint(0, len(tokenizer), (4, 16), generator=torch.Generator().manual_seed(0))
    loader = torch.utils.data.DataLoader([{"input_ids": r, "labels": r} for r in ids], batch_size=2)
    return Trainer(
        model=model,
        train_dataloader=loader,
        max_duration="2ba",
        save_folder=str(save_folder),
        save_interval="1ba",
        callbacks=callbacks,
        device="cpu",
        progress_bar=False,
    )


@pytest.mark.slow
def test_one_watcher_scores_every_checkpoint_and_ends_with_training(
    tiny_dir: Path, tmp_path: Path
) -> None:
    ckpt, out = tmp_path / "ckpt", tmp_path / "eval"
    hook = GauntletWatcher(folder=str(ckpt), out=str(out), **SCORING)
    run = trainer(tiny_dir, ckpt, [hook])
    run.fit()
    assert hook.process is not None
    deadline = time.monotonic() + 60
    while (out / "watcher.lock").read_text().split()[:1] != [
        str(hook.process.pid)
    ]:  # it holds the lock
        assert time.monotonic() < deadline and hook.process.poll() is None
        time.sleep(0.1)
    again = GauntletWatcher(folder=str(ckpt), out=str(out), **SCORING)  # e.g. a second trainer
    again.fit_start(run.state, run.logger)
    assert again.process is None  # one watcher per results folder
    time.sleep(1)
    assert hook.process.poll() is None  # no idle timeout: it lives while training lives
    run.close()  # training is over: the watcher scores what remains and exits by itself
    assert hook.process.wait(timeout=120) == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    averages = [(r["checkpoint"], r["step"], r["tokens"]) for r in rows if r["kind"] == "average"]
    assert averages == [("ep0-ba1-rank0", 1, 32), ("ep0-ba2-rank0", 2, 64)]
    assert is_free(out)
    trainer_file = announced(out)
    assert trainer_file is not None and trainer_file.ended


def test_a_folder_no_checkpointer_writes_is_one_error(tiny_dir: Path, tmp_path: Path) -> None:
    from composer.core import Event

    hook = GauntletWatcher(folder=str(tmp_path / "hf" / "hf"), out=str(tmp_path / "eval"))
    run = trainer(tiny_dir, tmp_path / "ckpt", [hook])
    with pytest.raises(ValueError, match=r"^gauntlet_watcher.folder: no checkpointer .* writes"):
        run.engine.run_event(Event.FIT_START)
    run.close()
    assert hook.process is None


def test_the_command_line_is_the_typed_options() -> None:
    """The callback's options cross to the watcher process and read back the same."""
    hook = GauntletWatcher(
        folder="runs/x/hf/huggingface", out="runs/x/eval", device="cuda:7",
        tasks=["pubmedqa", "mmlu_medical"], sample=50, shots=1, batch_size=4, seed=7,
        settle=2.5, interval=30.0, broken_after=900.0, threads=16, trust_checkpoint=True,
        softmax_dtype="model", dtype="float16", no_gold_text=True,
    )  # fmt: skip
    options = replace(hook.options, tokens_per_step=1024 * 1024, trainer_pid=4242)
    argv = command_line(options, WATCH)
    assert argv[1:5] == ["-m", "eval_gauntlet", "watch", "runs/x/hf/huggingface"]
    assert from_args(parser().parse_args(argv[3:]), WATCH) == options
    defaults = GauntletWatcher(folder="f", out="o")
    assert command_line(defaults.options)[4:] == ["f", "--out", "o", "--threads", "8"]
    read = from_args(parser().parse_args(command_line(defaults.options)[3:]), WATCH)
    assert read == defaults.options == Options(folder=Path("f"), out=Path("o"), device="cpu",
                                               threads=8)  # fmt: skip
    assert (read.softmax_dtype, read.dtype, read.samples, read.trainer_pid) == (
        "float32",
        "auto",
        None,
        None,
    )


def test_watch_offers_only_what_it_honours(capsys: pytest.CaptureFixture[str]) -> None:
    for flag in ("--name", "--step", "--tokens"):  # they name one checkpoint: score's
        with pytest.raises(SystemExit):
            parser().parse_args(["watch", "f", flag, "x"])
        assert "unrecognized arguments" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser().parse_args(["score", "p", "--interval", "5"])  # watch's


def test_a_misspelt_argument_names_the_nearest() -> None:
    with pytest.raises(ValueError, match=r"^gauntlet_watcher.sampel: not an option .*'sample'"):
        GauntletWatcher(folder="f", out="o", sampel=3)
    with pytest.raises(ValueError, match=r"^gauntlet_watcher.out: required"):
        GauntletWatcher(folder="f")


def test_dtype_samples_and_no_gold_text_reach_the_watcher() -> None:
    """--dtype, --samples (lm-eval's mapping, written in YAML) and --no-gold-text as keys."""
    hook = GauntletWatcher(folder="f", out="o", tasks=["pubmedqa"], dtype="bfloat16",
                           samples={"pubmedqa": [0, 5]}, no_gold_text=True)  # fmt: skip
    args = watcher_args(hook)
    assert (args.dtype, args.no_gold_text) == ("bfloat16", True)
    assert json.loads(args.samples) == {"pubmedqa": [0, 5]}


def test_user_task_files_and_fewshot_sources_reach_the_watcher(tmp_path: Path) -> None:
    """The watch command's --tasks-file, --fewshot-source and --softmax-dtype, from YAML."""
    from tests.fixtures.tasks import organs_file

    mine, extra = organs_file(tmp_path / "mine"), tmp_path / "extra.yaml"
    extra.write_text("include: default\ntasks:\n  pubmedqa: {num_fewshot: [0]}\n")
    train = tmp_path / "medqa_train.jsonl"
    train.write_text("{}\n")  # only its existence is checked when the config is built
    hook = GauntletWatcher(
        folder="f", out="o", tasks=["organs", "medqa_4options"], tasks_file=[str(mine), str(extra)],
        fewshot_source={"medqa_4options": str(train)}, softmax_dtype="model",
    )  # fmt: skip
    args = watcher_args(hook)
    assert args.tasks_file == [mine, extra] and args.tasks == ["organs", "medqa_4options"]
    assert args.fewshot_source == [f"medqa_4options={train}"] and args.softmax_dtype == "model"
    listed = GauntletWatcher(folder="f", out="o", fewshot_source=[f"mmlu_medical={train}"])
    assert listed.options.fewshot_source == (f"mmlu_medical={train}",)  # a group, as the CLI
    single = GauntletWatcher(folder="f", out="o", tasks_file=str(mine), tasks=["organs"])
    assert watcher_args(single).tasks_file == [mine]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"device": "gpu0"}, "gauntlet_watcher.device"),
        ({"sample": 0}, "gauntlet_watcher.sample: must be >= 1"),
        ({"tasks": ["medqa"]}, "gauntlet_watcher.tasks: unknown task 'medqa'"),
        ({"tasks": ["organs"]}, "gauntlet_watcher.tasks: unknown task 'organs'"),  # not shipped
        ({"tasks_file": "nowhere.yaml"}, "gauntlet_watcher.tasks_file: .*nowhere.yaml"),
        (
            {"fewshot_source": {"medqa_4options": "nowhere.jsonl"}},
            "gauntlet_watcher.fewshot_source: .*file not found: nowhere.jsonl",
        ),
        ({"fewshot_source": ["medqa_4options"]}, "gauntlet_watcher.fewshot_source: .*TASK=PATH"),
        (
            {"fewshot_source": {"medqa": __file__}},  # a file that is there, a task that is not
            "gauntlet_watcher.fewshot_source: unknown task 'medqa'",
        ),
        ({"softmax_dtype": "bf16"}, "gauntlet_watcher.softmax_dtype: 'bf16'; expected one of"),
        ({"dtype": "bf16"}, "gauntlet_watcher.dtype: 'bf16'; expected one of auto, float32"),
        ({"samples": {"pubmedqa": [1]}, "sample": 4}, "gauntlet_watcher.samples: .*drop sample"),
        ({"samples": {"medqa": [1]}}, "gauntlet_watcher.samples: .*unknown task 'medqa'"),
    ],
)
def test_bad_arguments_fail_when_the_callback_is_built(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GauntletWatcher(folder="f", out="o", **bad)


def test_never_on_a_gpu_a_training_rank_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    from composer.devices import DeviceCPU, DeviceGPU

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    on_gpus = SimpleNamespace(device=object.__new__(DeviceGPU))  # rank 0 trains on cuda:0
    for device in ("cuda", "cuda:0"):
        with pytest.raises(ValueError, match="is the GPU of training rank 0 on this node"):
            _check_device(device, on_gpus)  # type: ignore[arg-type]
    _check_device("cuda:1", on_gpus)  # type: ignore[arg-type]  # a GPU no rank uses
    _check_device("cpu", on_gpus)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="this node has 2 visible GPU"):
        _check_device("cuda:2", on_gpus)  # type: ignore[arg-type]
    _check_device("cuda:0", SimpleNamespace(device=DeviceCPU()))  # type: ignore[arg-type]


def test_tokens_per_step_comes_from_the_trainer_state() -> None:
    loader = SimpleNamespace(batch_size=4, dataset=SimpleNamespace(max_seq_len=256))
    fresh = SimpleNamespace(timestamp=SimpleNamespace(batch=0, token=0), train_dataloader=loader)
    assert tokens_per_step(fresh) == 4 * 256  # type: ignore[arg-type]  # one process
    resumed = SimpleNamespace(
        timestamp=SimpleNamespace(batch=10, token=10 * 8 * 1024), train_dataloader=loader
    )
    assert tokens_per_step(resumed) == 8 * 1024  # type: ignore[arg-type]  # what was counted
    unknown = SimpleNamespace(timestamp=SimpleNamespace(batch=0, token=0), train_dataloader=[])
    assert tokens_per_step(unknown) is None  # type: ignore[arg-type]
