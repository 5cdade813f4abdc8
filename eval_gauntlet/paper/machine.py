"""How a fine-tune of the paper fits this machine: the launcher, and LoRA where full fine-tuning
does not fit one GPU (the memory estimate: docs/paper.md, "Fitting the machine").

``python -m eval_gauntlet.paper.machine`` prints what it finds (the GPUs' free memory is read in
that child process, so the command running the tasks never holds a CUDA context).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LORA = ["model.lora={r: 16}", "optimizer.lr=2.0e-4"]  # the recipes' comments: one GPU
OPTIONS_PER_ITEM = {"multiple_choice": 4, "classification": 1, "generation": 1}
GB = 1e9


@dataclass(frozen=True)
class Machine:
    """The GPUs this process sees, and the free memory of the first (bytes; None: not read)."""

    gpus: int
    free: int | None = None


@dataclass(frozen=True)
class Launch:
    """How one fine-tune is started here: the launcher, what the machine adds, and why."""

    command: list[str]
    overrides: list[str]
    note: str | None = None  # stated in the row (LoRA and why, or the GPUs used)


def probe() -> Machine:
    """This machine's GPUs (and, with one, its free memory, read by a child process)."""
    import torch

    gpus = torch.cuda.device_count()
    if gpus != 1:
        return Machine(gpus)
    found = subprocess.run(
        [sys.executable, "-m", "eval_gauntlet.paper.machine"], capture_output=True, text=True
    )
    try:
        return Machine(gpus, int(json.loads(found.stdout)["free"]))
    except (ValueError, KeyError, TypeError):
        return Machine(gpus)


def parameters(config: dict[str, Any]) -> int:
    """A GPT-2 model's parameters from its Hugging Face config (tied embeddings)."""
    d, layers = int(config["n_embd"]), int(config["n_layer"])
    vocab, positions = int(config["vocab_size"]), int(config["n_positions"])
    return (vocab + positions) * d + layers * (12 * d * d + 13 * d) + 2 * d


def full_finetune_bytes(config: dict[str, Any], recipe: Any) -> int:
    """The memory a full fine-tune of ``config``'s model needs on one GPU (see the module)."""
    d, layers, heads = int(config["n_embd"]), int(config["n_layer"]), int(config["n_head"])
    tokens = recipe.data.max_length
    sequences = recipe.device_train_microbatch_size * OPTIONS_PER_ITEM[recipe.task]
    activations = sequences * tokens * (2 * layers * d + 34 * d + 5 * heads * tokens)
    logits = 4 * sequences * tokens * int(config["vocab_size"])
    return 16 * parameters(config) + activations + logits


def plan_launch(recipe: Any, init_config: dict[str, Any] | None, machine: Machine) -> Launch:
    """The launch of ``recipe`` on ``machine``'s GPUs (the demo's CPU runs take :data:`ON_CPU`)."""
    assert machine.gpus > 0, "the paper's recipes are refused on CPU before any task"
    composer = [str(Path(sys.executable).with_name("composer")), "-n", str(machine.gpus), "-m"]
    command = [*composer, "biomedlm.train"]
    if machine.gpus > 1:
        return Launch(command, [], f"{machine.gpus} GPUs (composer -n {machine.gpus})")
    if init_config is None or machine.free is None:
        return Launch(command, [], "1 GPU, full fine-tuning (memory not estimated)")
    need = full_finetune_bytes(init_config, recipe)
    fits = f"full fine-tuning needs ~{need / GB:.1f} GB, {machine.free / GB:.1f} GB free"
    if need <= machine.free:
        return Launch(command, [], f"1 GPU: {fits}")
    return Launch(command, LORA, f"LoRA r=16, lr 2e-4 (1 GPU: {fits})")


ON_CPU = [sys.executable, "-m", "biomedlm.train"]


def main() -> int:
    """Print the first GPU's free memory as JSON (the child process :func:`probe` starts)."""
    import torch

    free = torch.cuda.mem_get_info(0)[0] if torch.cuda.is_available() else None
    print(json.dumps({"gpus": torch.cuda.device_count(), "free": free}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
