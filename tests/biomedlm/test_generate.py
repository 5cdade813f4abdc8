"""Decoding: greedy against a hand loop, beam of 1 is greedy, seeded sampling, EOS, batching, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from biomedlm.decoding import DecodingConfig
from biomedlm.generate import NOT_MEDICAL_ADVICE, complete
from biomedlm.generation_layout import SEPARATOR
from tests.fixtures.paths import REPO

PROMPTS = [
    "What are the symptoms of acromegaly ?",
    "Who is at risk for Parasites ?",
    "What causes the heart and the lungs to fail in patients with a rare disease ?",
    "Is it inherited ?",
    "What are the treatments for Pompe disease and how is the diagnosis made ?",
]
GREEDY = DecodingConfig(
    strategy="greedy", max_new_tokens=12, batch_size=8, no_repeat_ngram_size=0, min_length=0
)  # plain greedy: no n-gram ban (the scripts' default 6)


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Any:
    """A tiny model gains nothing from threads, and on a busy 2-core machine they spin-wait."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_dir: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_dir).eval(), AutoTokenizer.from_pretrained(
        tiny_dir
    )


def hand_greedy(model: Any, tokenizer: Any, prompt: str, steps: int) -> str:
    """Greedy decoding as a loop over ``model(...)``: append the argmax, stop at EOS."""
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    new: list[int] = []
    with torch.no_grad():
        for _ in range(steps):
            token = int(model(ids).logits[0, -1].argmax())
            if token == tokenizer.eos_token_id:
                break
            new.append(token)
            ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    return tokenizer.decode(new, skip_special_tokens=True).strip()


def test_greedy_equals_a_hand_argmax_loop(model_and_tokenizer: tuple[Any, Any]) -> None:
    model, tokenizer = model_and_tokenizer
    got = complete(model, tokenizer, PROMPTS, GREEDY)
    assert got == [hand_greedy(model, tokenizer, p, 12) for p in PROMPTS]
    assert all(got)


def test_the_generate_function_at_temperature_0_is_plain_greedy(
    tiny_dir: Path, model_and_tokenizer: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the CLI decodes: it took a fine-tune's defaults (a 6-gram ban, min_length 5), which
    turned a trained model's greedy answer into another text."""
    from biomedlm import generate as module

    used: list[DecodingConfig] = []

    def recording(*args: Any, **kwargs: Any) -> list[str]:
        used.append(args[3])
        return complete(*args, **kwargs)

    monkeypatch.setattr(module, "complete", recording)
    model, tokenizer = model_and_tokenizer
    got = module.generate(tiny_dir, PROMPTS[0], max_new_tokens=40, temperature=0)
    assert got.startswith(PROMPTS[0])
    assert got[len(PROMPTS[0]) :].strip() == hand_greedy(model, tokenizer, PROMPTS[0], 40)
    assert used == [replace(module.PLAIN, max_new_tokens=40)]


def test_beam_search_with_one_beam_is_greedy(model_and_tokenizer: tuple[Any, Any]) -> None:
    model, tokenizer = model_and_tokenizer
    beam1 = replace(GREEDY, strategy="beam", num_beams=1)
    assert complete(model, tokenizer, PROMPTS, beam1) == complete(model, tokenizer, PROMPTS, GREEDY)
    beam4 = replace(GREEDY, strategy="beam", num_beams=4, no_repeat_ngram_size=2)
    assert complete(model, tokenizer, PROMPTS, beam4) != complete(model, tokenizer, PROMPTS, GREEDY)


def test_generate_reads_a_recipes_decoding_alone_as_training_loads_it(tmp_path: Path) -> None:
    """``--recipe``: the recipe's eval.decoding (bases merged), read strictly, nothing else."""
    from biomedlm.decoding import recipe_decoding
    from biomedlm.recipe_kinds import load_recipe
    from biomedlm.settings import RecipeError

    for path in sorted((REPO / "recipes" / "finetune").glob("*.yaml")):
        loaded = load_recipe(path, ["model.init_from=x"], components=False)
        assert recipe_decoding(path) == loaded.eval.decoding, path.name
    derived = tmp_path / "derived.yaml"
    base = f"base: {REPO / 'recipes/finetune/patient-qa-debug-cpu.yaml'}\n"
    derived.write_text(base + "eval: {decoding: {num_beams: 2}}\n")
    decoding = recipe_decoding(derived)
    assert (decoding.num_beams, decoding.max_new_tokens) == (2, 48)  # the base's, then its own
    derived.write_text(base + "eval: {decoding: {num_beam: 3}}\n")
    with pytest.raises(RecipeError, match=r"eval\.decoding\.num_beam'.*Did you mean 'num_beams'"):
        recipe_decoding(derived)


def test_recipes_decode_as_the_biomedlm_scripts_and_the_settings_reach_generate(
    model_and_tokenizer: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_generation_batch.py with the README's MeQSum command: 5 beams, no sampling, no repeated
    6-grams, length penalty -0.5, min_length 5, 400 new tokens; each reaches ``generate``."""
    from biomedlm.recipe_kinds import load_recipe

    meqsum = load_recipe(REPO / "recipes/finetune/meqsum.yaml", ["model.init_from=x"],
                         components=False).eval.decoding  # fmt: skip
    assert meqsum == DecodingConfig()  # the defaults are the scripts'
    assert (meqsum.strategy, meqsum.num_beams, meqsum.no_repeat_ngram_size, meqsum.length_penalty,
            meqsum.min_length, meqsum.max_new_tokens) == ("beam", 5, 6, -0.5, 5, 400)  # fmt: skip
    model, tokenizer = model_and_tokenizer
    seen: list[dict[str, Any]] = []
    original = model.generate

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "generate", recording)
    complete(model, tokenizer, PROMPTS[:2], replace(meqsum, max_new_tokens=4, min_new_tokens=2))
    (kwargs,) = seen
    assert {k: kwargs[k] for k in ("num_beams", "do_sample", "no_repeat_ngram_size",
                                   "length_penalty", "min_length", "min_new_tokens",
                                   "max_new_tokens")} == {
        "num_beams": 5, "do_sample": False, "no_repeat_ngram_size": 6, "length_penalty": -0.5,
        "min_length": 5, "min_new_tokens": 2, "max_new_tokens": 4}  # fmt: skip


@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_min_length_holds_off_eos_as_plain_generate_does(tiny_dir: Path, strategy: str) -> None:
    """min_new_tokens=0 was passed beside it, and transformers then set min_length to the
    prompt's length: ``--min-length`` and ``eval.decoding.min_length`` did nothing."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    eos = tokenizer.eos_token_id
    with torch.no_grad():  # the final hidden state is EOS's (scaled) embedding: EOS always wins
        embedding = model.get_input_embeddings().weight
        embedding[eos] *= 10
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.copy_(embedding[eos])
    ids = tokenizer(PROMPTS[0], return_tensors="pt")
    min_length = ids["input_ids"].shape[1] + 5
    decoding = replace(GREEDY, strategy=strategy, num_beams=2, min_length=min_length)
    assert complete(model, tokenizer, PROMPTS[:1], replace(decoding, min_length=0)) == [""]
    plain = model.generate(**ids, max_new_tokens=12, min_length=min_length, num_beams=2 if
                           strategy == "beam" else 1, pad_token_id=eos, eos_token_id=eos)  # fmt: skip
    new = plain[0, ids["input_ids"].shape[1] :].tolist()
    assert len(new) == 6 and new[-1] == eos  # 5 tokens, then EOS
    expected = tokenizer.decode(new[:-1], skip_special_tokens=True).strip()
    assert complete(model, tokenizer, PROMPTS[:1], decoding) == [expected] and expected


def test_sampling_is_reproducible_with_a_seed(model_and_tokenizer: tuple[Any, Any]) -> None:
    model, tokenizer = model_and_tokenizer
    sample = replace(GREEDY, strategy="sample", temperature=1.5, top_p=0.95, seed=3)
    first = complete(model, tokenizer, PROMPTS, sample)
    assert complete(model, tokenizer, PROMPTS, sample) == first
    assert complete(model, tokenizer, PROMPTS, replace(sample, seed=4)) != first
    assert first != complete(model, tokenizer, PROMPTS, GREEDY)
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    complete(model, tokenizer, PROMPTS[:1], sample)
    assert torch.equal(torch.rand(3), expected)  # the caller's random state is left alone


def test_generation_stops_at_eos(model_and_tokenizer: tuple[Any, Any]) -> None:
    """Make the third greedy token the EOS: the answer is the first two tokens, and stops there."""
    model, tokenizer = model_and_tokenizer
    for prompt in PROMPTS:  # one whose first three greedy tokens differ
        ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            full = model.generate(ids, max_new_tokens=3, do_sample=False, pad_token_id=0)
        full = full[0, ids.shape[1] :]
        if len(set(full.tolist())) == 3:
            break
    else:
        pytest.fail("every prompt repeats a token in its first three")
    stopper = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    stopper.eos_token = tokenizer.convert_ids_to_tokens(int(full[2]))
    (answer,) = complete(model, stopper, [prompt], replace(GREEDY, max_new_tokens=50))
    assert answer == tokenizer.decode(full[:2]).strip()
    calls: list[int] = []
    original = model.generate

    def counting(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        calls.append(out.shape[1] - kwargs["input_ids"].shape[1])
        return out

    model.generate = counting
    try:
        complete(model, stopper, [prompt], replace(GREEDY, max_new_tokens=50))
    finally:
        del model.generate
    assert calls == [3]  # two tokens and the EOS, not 50


@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_batched_left_padded_output_equals_one_by_one(
    model_and_tokenizer: tuple[Any, Any], strategy: str
) -> None:
    model, tokenizer = model_and_tokenizer
    decoding = replace(GREEDY, strategy=strategy, num_beams=3, batch_size=len(PROMPTS))
    batched = complete(model, tokenizer, PROMPTS, decoding)
    assert batched == [complete(model, tokenizer, [p], decoding)[0] for p in PROMPTS]
    assert complete(model, tokenizer, PROMPTS, replace(decoding, batch_size=2)) == batched


def test_the_separator_is_appended_and_long_prompts_lose_their_start(
    model_and_tokenizer: tuple[Any, Any], tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    from biomedlm.generation_layout import separator_of
    from biomedlm.vocabulary import grow_embeddings, save_with_tokens

    model, tokenizer = model_and_tokenizer
    assert separator_of(tokenizer) is None
    tuned = AutoTokenizer.from_pretrained(
        save_with_tokens(Path(tokenizer.name_or_path), [SEPARATOR], tmp_path / "t")
    )
    assert separator_of(tuned) == SEPARATOR
    grown = model.__class__.from_pretrained(tokenizer.name_or_path).eval()
    grow_embeddings(grown, len(tuned))
    got = complete(grown, tuned, PROMPTS[:2], GREEDY, separator=SEPARATOR)
    assert got == [hand_greedy(grown, tuned, p + SEPARATOR, 12) for p in PROMPTS[:2]]
    positions = grown.config.n_positions
    long_prompt = " ".join(["word"] * 2000) + " " + PROMPTS[0]
    (cut,) = complete(grown, tuned, [long_prompt], GREEDY, separator=SEPARATOR)
    ids = tuned(long_prompt + SEPARATOR)["input_ids"][-(positions - 12) :]
    assert cut == hand_greedy(grown, tuned, tuned.decode(ids), 12)


def test_a_prompt_ending_with_the_separator_gets_no_second_one(
    tiny_dir: Path, tmp_path: Path
) -> None:
    """A run's ``data/test.jsonl`` prompts end with it (the ``--input`` format): it was doubled."""
    from transformers import AutoTokenizer

    from biomedlm.generate import encode_prompts
    from biomedlm.vocabulary import save_with_tokens

    tuned = AutoTokenizer.from_pretrained(save_with_tokens(tiny_dir, [SEPARATOR], tmp_path / "t"))
    plain = encode_prompts(tuned, PROMPTS, SEPARATOR)
    assert encode_prompts(tuned, [p + SEPARATOR for p in PROMPTS], SEPARATOR) == plain
    assert [ids.count(tuned.convert_tokens_to_ids(SEPARATOR)) for ids in plain] == [1] * 5


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "biomedlm.generate", *args],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip


def test_cli_bulk_mode_writes_answers_in_order_and_says_not_medical_advice(
    tiny_dir: Path, tmp_path: Path, model_and_tokenizer: tuple[Any, Any]
) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        "".join(json.dumps({"prompt": p, "id": i}) + "\n" for i, p in enumerate(PROMPTS))
    )
    out = tmp_path / "answers.jsonl"
    result = run_cli(str(tiny_dir), "--input", str(questions), "--out", str(out),
                     "--max-new-tokens", "12", "--batch-size", "2", "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert NOT_MEDICAL_ADVICE in result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == list(range(len(PROMPTS)))
    model, tokenizer = model_and_tokenizer
    assert [r["generated"] for r in rows] == complete(model, tokenizer, PROMPTS, GREEDY)
    one = run_cli(
        str(tiny_dir), PROMPTS[0], "--max-new-tokens", "12"
    )  # a base model: prompt + text
    assert one.returncode == 0, one.stderr[-2000:]
    assert one.stdout.strip().startswith(PROMPTS[0]) and rows[0]["generated"] in one.stdout
    assert NOT_MEDICAL_ADVICE in one.stderr


def test_cli_bad_input_is_one_line_and_writes_nothing(tiny_dir: Path, tmp_path: Path) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text('{"prompt": "a"}\n{"question": "b"}\n')
    out = tmp_path / "answers.jsonl"
    result = run_cli(str(tiny_dir), "--input", str(questions), "--out", str(out))
    assert result.returncode == 2
    assert 'questions.jsonl:2: a line is an object with a string "prompt"' in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [questions]


@pytest.fixture(scope="module")
def short_model(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path) -> Path:
    """The tiny model with 64 positions (the debug model has 256): the CLI's default 256 is too many."""
    from tests.fixtures.models import tiny_model

    return tiny_model(tmp_path_factory.mktemp("short") / "model", tiny_dir, n_positions=64)


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``python -m biomedlm.generate`` in this process (a subprocess costs seconds of imports)."""
    from biomedlm.generate import main

    code = main([*args, "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_cli_default_max_new_tokens_is_fitted_to_a_short_model(
    short_model: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The README's one-prompt example on a model with few positions: it answers, saying so."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    prompt = PROMPTS[0]
    with caplog.at_level("WARNING", logger="biomedlm.generate"):
        code, out, err = run_main(capsys, str(short_model), prompt)
    assert code == 0, err
    tokenizer = AutoTokenizer.from_pretrained(short_model)
    n_prompt = len(tokenizer(prompt)["input_ids"])
    fitted = [r.getMessage() for r in caplog.records if "max_new_tokens" in r.getMessage()]
    assert len(fitted) == 1 and fitted[0].startswith(f"max_new_tokens: {64 - n_prompt}, ")
    model = AutoModelForCausalLM.from_pretrained(short_model).eval()
    (text,) = complete(model, tokenizer, [prompt], replace(GREEDY, max_new_tokens=64 - n_prompt),
                       strip=False)  # fmt: skip
    assert out == prompt + text + "\n"
    # a long prompt keeps half the positions for the answer, and loses its start
    long_prompt = " ".join(["word"] * 200)
    with caplog.at_level("WARNING", logger="biomedlm.generate"):
        code, _, err = run_main(capsys, str(short_model), long_prompt)
    assert code == 0, err
    assert any(r.getMessage().startswith("max_new_tokens: 32, ") for r in caplog.records)
    # asked for explicitly and impossible: one line
    code, out, err = run_main(capsys, str(short_model), prompt, "--max-new-tokens", "64")
    assert code == 2 and not out
    assert "max_new_tokens: 64 leaves no room for a prompt in the model's 64 positions" in (
        one_error_line(err)
    )


def test_cli_sampling_flags_imply_sampling_and_contradictions_are_errors(
    tiny_dir: Path, model_and_tokenizer: tuple[Any, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    model, tokenizer = model_and_tokenizer
    prompt = PROMPTS[1]
    code, out, err = run_main(capsys, str(tiny_dir), prompt, "--max-new-tokens", "12",
                              "--temperature", "1.5", "--seed", "3")  # fmt: skip
    assert code == 0, err
    sample = replace(GREEDY, strategy="sample", temperature=1.5, seed=3)
    (sampled,) = complete(model, tokenizer, [prompt], sample, strip=False)
    (greedy,) = complete(model, tokenizer, [prompt], GREEDY, strip=False)
    assert sampled != greedy and out == prompt + sampled + "\n"
    code, out, err = run_main(
        capsys, str(tiny_dir), prompt, "--max-new-tokens", "12", "--top-p", "0.5"
    )
    assert code == 0, err
    (nucleus,) = complete(model, tokenizer, [prompt], replace(GREEDY, strategy="sample", top_p=0.5),
                          strip=False)  # fmt: skip
    assert out == prompt + nucleus + "\n"
    for flags, named in (
        (["--strategy", "greedy", "--temperature", "0.9"], "--temperature"),
        (["--strategy", "beam", "--top-p", "0.9"], "--top-p"),
        (["--seed", "3"], "--seed"),
        (["--strategy", "beam", "--seed", "3"], "--seed"),
        (["--strategy", "sample", "--num-beams", "3"], "--num-beams"),
        (["--temperature", "0.9", "--num-beams", "3"], "--temperature"),
    ):
        code, out, err = run_main(capsys, str(tiny_dir), prompt, *flags)
        assert code == 2 and not out and named in one_error_line(err), flags


@pytest.fixture
def no_model_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    """The generate CLI fails the test if it loads a model: bad input is refused before that."""
    import biomedlm.generate

    def no_loading(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the model loaded before the input was checked")

    monkeypatch.setattr(biomedlm.generate, "load", no_loading)


@pytest.mark.usefixtures("no_model_loading")
def test_cli_bad_paths_are_one_line_before_the_model_loads(
    tiny_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text('{"prompt": "a"}\n')
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    for source, out, says in (
        (tmp_path / "missing.jsonl", tmp_path / "a.jsonl", "no such file"),
        (tmp_path, tmp_path / "a.jsonl", "not a file"),
        (questions, Path("/proc/answers.jsonl"), "cannot be written (/proc: "),
        (questions, tmp_path, "is a folder"),
        (questions, a_file / "sub" / "a.jsonl", "a_file is not a folder"),
    ):
        code, stdout, err = run_main(
            capsys, str(tiny_dir), "--input", str(source), "--out", str(out)
        )
        assert code == 2 and not stdout and says in one_error_line(err), (source, out, err)
    assert sorted(tmp_path.iterdir()) == [a_file, questions]  # nothing written, no folder made
    link = tmp_path / "link.jsonl"
    link.symlink_to(questions)
    monkeypatch.chdir(tmp_path)
    for source, out in ((questions, questions), (Path("questions.jsonl"), questions),
                        (questions, Path("./questions.jsonl")), (questions, link)):  # fmt: skip
        code, stdout, err = run_main(
            capsys, str(tiny_dir), "--input", str(source), "--out", str(out)
        )
        assert code == 2 and not stdout, err
        assert f"--out {out}: is the input file {source}" in one_error_line(err)
    assert questions.read_text() == '{"prompt": "a"}\n'


@pytest.mark.usefixtures("no_model_loading")
def test_an_empty_prompt_is_named_before_the_model_loads(
    tiny_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for prompt in ("", "  \n"):
        code, stdout, err = run_main(capsys, str(tiny_dir), prompt)
        assert code == 2 and not stdout and "error: empty prompt" in one_error_line(err)
    questions = tmp_path / "questions.jsonl"
    questions.write_text('{"prompt": "a"}\n{"prompt": " "}\n')
    out = tmp_path / "answers.jsonl"
    code, _, err = run_main(capsys, str(tiny_dir), "--input", str(questions), "--out", str(out))
    assert code == 2 and f"{questions}:2: empty prompt" in one_error_line(err)
    assert not out.exists()


def test_a_scored_export_takes_its_step_from_its_ba_folder(tiny_dir: Path, tmp_path: Path) -> None:
    """``eval_gauntlet finetuned`` on an HF export: the step is llm-foundry's ``ba<step>`` name."""
    import shutil

    from biomedlm.recipe_kinds import load_recipe
    from eval_gauntlet.finetuned.scoring import load_finetuned as load
    from tests.fixtures.runs import GENERATION_DEBUG

    recipe = load_recipe(GENERATION_DEBUG, ["model.init_from=x"], components=False)
    export = shutil.copytree(tiny_dir, tmp_path / "hf" / "huggingface" / "ba60")
    loaded = load(export, recipe)
    assert loaded.checkpoint.step == 60 and loaded.checkpoint.name.endswith("-ba60")
    assert load(tiny_dir, recipe).checkpoint.step is None  # no step in the name: none invented


def test_sampling_is_not_narrowed_by_the_models_top_k() -> None:
    """docs/generation.md: sampling is narrowed by --top-p alone; an export's generation_config
    says top_k 50, which Hugging Face would apply unless told 0."""
    from biomedlm.decoding import PLAIN, decoding_kwargs

    kwargs = decoding_kwargs(replace(PLAIN, strategy="sample", top_p=0.9))
    assert (kwargs["do_sample"], kwargs["top_k"], kwargs["top_p"]) == (True, 0, 0.9)
