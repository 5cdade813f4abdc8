"""Prompts: lm-eval's formats, golden strings, and few-shot examples that never leak the item."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import jinja2
import lm_eval
import pytest
import yaml

from eval_gauntlet.errors import GauntletError
from eval_gauntlet.prompts import FORMATS, build_prompts, draw_fewshot, render
from medtasks.formats import Item, load_items, medmcqa_row

DATA = Path(__file__).resolve().parents[2] / "medtasks" / "data"
MEDQA = DATA / "medqa_usmle_4opt_test.jsonl"
PUBMEDQA = DATA / "pubmedqa_labeled_test.jsonl"
PUBMEDQA_TRAIN = DATA / "pubmedqa_labeled_train.jsonl"
MMLU = DATA / "mmlu_medical_test.jsonl"
LM_EVAL_TASKS = Path(lm_eval.__file__).parent / "tasks"


def by_key(items: list[Item], key: str) -> Item:
    return next(item for item in items if item.key == key)


# --- golden strings for known items -----------------------------------------------------


def test_medqa_golden() -> None:
    item = by_key(load_items(MEDQA), "267")
    prompt = render(FORMATS["medqa_4options"], item)
    assert prompt.context == (
        "Question: A 34-year-old male suffers from inherited hemophilia A. He and his wife have "
        "three unaffected daughters. What is the probability that the second daughter is a "
        "carrier of the disease?\nA. 0%\nB. 25%\nC. 50%\nD. 100%\nAnswer:"
    )
    assert prompt.continuations == [" A", " B", " C", " D"]
    assert prompt.choices[prompt.gold] == item.answer


def test_pubmedqa_golden() -> None:
    item = by_key(load_items(PUBMEDQA), "21214884")
    prompt = render(FORMATS["pubmedqa"], item)
    assert prompt.context == (
        "Abstract: Using polymerase chain reaction techniques, we evaluated the presence of HPV "
        "infection in human breast milk collected from 21 HPV-positive and 11 HPV-negative "
        "mothers.\nOf the 32 studied human milk specimens, no 'high-risk' HPV 16, 18, 31, 33, 35, "
        "39, 45, 51, 52, 56, 58 or 58 DNA was detected.\nQuestion: Can 'high-risk' human "
        "papillomaviruses (HPVs) be detected in human breast milk?\nAnswer:"
    )
    assert prompt.continuations == [" yes", " no", " maybe"]
    assert prompt.choices[prompt.gold] == "no"


def test_mmlu_golden() -> None:
    item = by_key(load_items(MMLU, "anatomy"), "153")
    prompt = render(FORMATS["mmlu"], item)
    assert prompt.context == (
        "The following are multiple choice questions (with answers) about anatomy.\n\n"
        "The anatomic location of the spinal canal is\nA. caudal\nB. dorsal\nC. frontal\n"
        "D. transverse\nAnswer:"
    )
    assert prompt.continuations == [" A", " B", " C", " D"]


def test_fewshot_golden() -> None:
    """Description once, then each example with its answer and a blank line, then the item."""
    shots = [
        Item("s1", "x:1", "What is 1+1?", {"A": "2", "B": "3"}, "A", "clinical_knowledge"),
        Item("s2", "x:2", "  Pick B. ", {"A": "no", "B": "yes"}, "B", "clinical_knowledge"),
    ]
    item = Item("q", "x:3", "Which?", {"A": "this", "B": "that"}, "B", "clinical_knowledge")
    prompt = render(FORMATS["mmlu"], item, shots)
    assert prompt.context == (
        "The following are multiple choice questions (with answers) about clinical knowledge.\n\n"
        "What is 1+1?\nA. 2\nB. 3\nAnswer: A\n\n"
        "Pick B.\nA. no\nB. yes\nAnswer: B\n\n"
        "Which?\nA. this\nB. that\nAnswer:"
    )
    assert prompt.fewshot_keys == ["s1", "s2"]


# --- the formats equal lm-eval's own doc_to_text on every shipped item ------------------


def test_medqa_matches_lm_eval_doc_to_text() -> None:
    upstream = importlib.import_module("lm_eval.tasks.medqa.preprocess_medqa")
    for item in load_items(MEDQA):
        doc = {"sent1": item.question, "label": item.gold}
        doc |= {f"ending{i}": text for i, text in enumerate(item.options.values())}
        assert FORMATS["medqa_4options"].query(item) == upstream.doc_to_text(doc)


def test_pubmedqa_matches_lm_eval_doc_to_text() -> None:
    upstream = importlib.import_module("lm_eval.tasks.pubmedqa.preprocess_pubmedqa")
    for item in load_items(PUBMEDQA) + load_items(PUBMEDQA_TRAIN):
        *contexts, question = item.question.split("\n")
        doc = {"QUESTION": question, "CONTEXTS": contexts}
        assert FORMATS["pubmedqa"].query(item) == upstream.doc_to_text(doc)
    assert FORMATS["pubmedqa"].choices(item) == ["yes", "no", "maybe"]  # pubmedqa.yaml


def test_mmlu_matches_lm_eval_template() -> None:
    template = yaml.safe_load((LM_EVAL_TASKS / "mmlu/default/_default_template_yaml").read_text())
    doc_to_text = jinja2.Template(template["doc_to_text"], keep_trailing_newline=True)
    for item in load_items(MMLU):
        subject = yaml.safe_load(
            (LM_EVAL_TASKS / f"mmlu/default/mmlu_{item.subject}.yaml").read_text()
        )
        doc = {"question": item.question, "choices": list(item.options.values())}
        assert FORMATS["mmlu"].query(item) == doc_to_text.render(**doc)
        assert FORMATS["mmlu"].description(item) == subject["description"]
    assert FORMATS["mmlu"].choices(item) == template["doc_to_choice"]


def test_mmlu_cloze_is_lm_evals_continuation_task() -> None:
    """gold_text_bpb's prompt for MMLU: ``mmlu_<subject>_continuation``'s description and
    query, its few-shot examples answered with the option text; the item's own shots."""
    template = yaml.safe_load(
        (LM_EVAL_TASKS / "mmlu/continuation/_continuation_template_yaml").read_text()
    )
    doc_to_text = jinja2.Template(template["doc_to_text"], keep_trailing_newline=True)
    items = load_items(MMLU)
    for item in items:
        subject = yaml.safe_load(
            (LM_EVAL_TASKS / f"mmlu/continuation/mmlu_{item.subject}.yaml").read_text()
        )
        prompt = render(FORMATS["mmlu"], item)
        doc = {"question": item.question, "choices": list(item.options.values())}
        assert prompt.cloze_context == subject["description"] + doc_to_text.render(**doc)
        assert prompt.gold_text[1] == " " + doc["choices"][item.gold]  # doc_to_choice, target
    shot = by_key(items, "153")
    prompt = render(FORMATS["mmlu"], items[0], [shot])
    assert prompt.cloze_context == (
        f"The following are questions (with answers) about {items[0].subject.replace('_', ' ')}"
        ".\n\nQuestion: The anatomic location of the spinal canal is\nAnswer: dorsal\n\n"
        f"Question: {items[0].question.strip()}\nAnswer:"
    )


def test_cloze_only_where_the_choices_are_letters() -> None:
    medqa = by_key(load_items(MEDQA), "267")
    prompt = render(FORMATS["medqa_4options"], medqa)
    assert prompt.gold_text == (
        "Question: A 34-year-old male suffers from inherited hemophilia A. He and his wife have "
        "three unaffected daughters. What is the probability that the second daughter is a "
        "carrier of the disease?\nAnswer:",
        " " + medqa.options[medqa.answer],
    )
    pubmedqa = render(FORMATS["pubmedqa"], by_key(load_items(PUBMEDQA), "21214884"))
    assert pubmedqa.cloze_context is None
    assert pubmedqa.gold_text == (pubmedqa.context, " no")
    assert {name for name, fmt in FORMATS.items() if fmt.cloze is None} == {"pubmedqa"}


def test_pubmedqa_without_question_line_is_one_clear_error() -> None:
    item = Item("1", "f.jsonl:7", "no newline here", {"A": "yes", "B": "no"}, "A")
    with pytest.raises(GauntletError, match=r"^f.jsonl:7: pubmedqa format needs"):
        render(FORMATS["pubmedqa"], item)


# --- few-shot selection: lm-eval's own samplers ------------------------------------------


def lm_eval_draws(
    items: list[Item], pool: list[Item], k: int, sampler: str, eval_doc: bool, seed: int = 1234
) -> list[list[str]]:
    """The keys lm-eval's sampler draws for each item in order (one sampler, as in a task)."""
    from lm_eval.api.samplers import get_sampler

    docs = [{"key": item.key, "question": item.question, "options": item.options} for item in pool]
    upstream = get_sampler(sampler)(docs, rnd=None).set_rnd(seed)  # as Task.set_fewshot_seed
    draws = []
    for item in items:
        doc = {"key": item.key, "question": item.question, "options": item.options}
        chosen = upstream.sample(k, eval_doc=doc if eval_doc else None)
        draws.append([d["key"] for d in chosen])
    return draws


@pytest.mark.parametrize(
    ("path", "pool_path", "subject", "k", "sampler", "exclude"),
    [
        (PUBMEDQA, PUBMEDQA_TRAIN, None, 1, "default", False),  # pubmedqa: from train
        (MEDQA, MEDQA, None, 3, "default", True),  # a task's own file: the item removed
        (MMLU, DATA / "mmlu_medical_dev.jsonl", "anatomy", 5, "first_n", False),  # MMLU: dev
    ],
)
def test_fewshot_draws_equal_lm_evals_samplers(
    path: Path, pool_path: Path, subject: str | None, k: int, sampler: str, exclude: bool
) -> None:
    items, pool = load_items(path, subject), load_items(pool_path, subject)
    ours = draw_fewshot(items, pool, k, seed=1234, sampler=sampler, exclude_item=exclude)
    assert [[x.key for x in draw] for draw in ours] == lm_eval_draws(
        items, pool, k, sampler, eval_doc=exclude
    )
    distinct = len({tuple(x.key for x in draw) for draw in ours})
    assert distinct == 1 if sampler == "first_n" else distinct > len(items) / 2


def test_mmlu_examples_are_the_first_dev_rows_of_the_subject() -> None:
    dev = load_items(DATA / "mmlu_medical_dev.jsonl", "college_biology")
    test = load_items(MMLU, "college_biology")
    prompts = build_prompts("m", "mmlu", test[:3], dev, 5, seed=0, sampler="first_n")
    assert all(p.fewshot_keys == [item.key for item in dev[:5]] for p in prompts)
    assert prompts[0].context.startswith(
        "The following are multiple choice questions (with answers) about college biology.\n\n"
        + dev[0].question.strip()
    )


@pytest.mark.parametrize(("path", "subject", "shots"), [(MEDQA, None, 3), (MMLU, "anatomy", 5)])
def test_fewshot_from_same_file_never_includes_the_item(
    path: Path, subject: str | None, shots: int
) -> None:
    items = load_items(path, subject)
    prompts = build_prompts(
        "t", "mmlu" if subject else "medqa_4options", items, items, shots, seed=1,
        exclude_item=True,
    )  # fmt: skip
    for item, prompt in zip(items, prompts, strict=True):
        assert len(prompt.fewshot_keys) == shots
        assert len(set(prompt.fewshot_keys)) == shots
        assert item.key not in prompt.fewshot_keys
        assert prompt.context.count(item.question.strip()) == 1  # not again as an example


def test_fewshot_skips_duplicate_rows_of_the_item() -> None:
    item = Item("1", "f:1", "Same question?", {"A": "x", "B": "y"}, "A")
    twin = Item("2", "f:2", "Same question?", {"A": "x", "B": "y"}, "B")
    other = [
        Item(str(i), f"f:{i}", f"Question {i}?", {"A": "x", "B": "y"}, "A") for i in range(3, 6)
    ]
    for seed in range(50):
        (chosen,) = draw_fewshot([item], [item, twin, *other], 3, seed=seed, exclude_item=True)
        assert {shot.key for shot in chosen} == {"3", "4", "5"}
    with pytest.raises(GauntletError, match="4-shot needs 4 few-shot examples besides f:1"):
        draw_fewshot([item], [item, twin, *other], 4, seed=0, exclude_item=True)


def test_limit_and_sample_show_each_item_the_examples_of_a_full_run() -> None:
    items = load_items(MEDQA)
    full = build_prompts("medqa", "medqa_4options", items, items, 3, seed=1234, exclude_item=True)
    keep = [5, 17, 400, 1200]
    some = build_prompts(
        "medqa", "medqa_4options", items, items, 3, seed=1234, exclude_item=True, keep=keep
    )
    assert [p.fewshot_keys for p in some] == [full[i].fewshot_keys for i in keep]
    reseeded = build_prompts("medqa", "medqa_4options", items[:10], items, 3, seed=99)
    assert [p.fewshot_keys for p in reseeded] != [p.fewshot_keys for p in full[:10]]


def test_fewshot_from_train_split() -> None:
    test, train = load_items(PUBMEDQA), load_items(PUBMEDQA_TRAIN)
    train_keys = {item.key for item in train}
    prompts = build_prompts("pubmedqa", "pubmedqa", test[:50], train, 1, seed=1234)
    for prompt in prompts:
        assert set(prompt.fewshot_keys) <= train_keys
        assert prompt.context.startswith("Abstract: ")
        assert prompt.context.count("\nAnswer: ") == 1  # the example's answer, then the item's


def test_answer_rationale_never_in_a_prompt() -> None:
    rationales = [
        json.loads(line)["answer_rationale"]
        for path in (PUBMEDQA, PUBMEDQA_TRAIN)
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    test, train = load_items(PUBMEDQA), load_items(PUBMEDQA_TRAIN)
    contexts = "\n".join(p.context for p in build_prompts("p", "pubmedqa", test, train, 2, seed=0))
    assert not [r for r in rationales if r in contexts]


# --- options checked against the format ---------------------------------------------------


def test_medmcqa_matches_lm_eval_doc_to_text() -> None:
    """lm-eval's medmcqa prompt, with its ``Choices:`` line, on rows read from the release."""
    upstream = importlib.import_module("lm_eval.tasks.medmcqa.utils_medmcqa")
    row = {"question": "Which vitamin is fat-soluble?", "opa": "C", "opb": "B12", "opc": "K",
           "opd": "B1", "cop": 3, "id": "q1", "subject_name": "Biochemistry"}  # fmt: skip
    item = medmcqa_row(row, "m.json:1", 1, cop_base=1)
    prompt = render(FORMATS["medmcqa"], item)
    assert (
        prompt.context
        == upstream.doc_to_text(row)
        == ("Question: Which vitamin is fat-soluble?\nChoices:\nA. C\nB. B12\nC. K\nD. B1\nAnswer:")
    )
    assert prompt.choices == ["A", "B", "C", "D"] and prompt.gold == 2


def row(options: dict[str, str], answer: str = "A") -> Item:
    return Item("1", "bench.jsonl:7", "Q?", options, answer)


@pytest.mark.parametrize(
    ("fmt", "options", "message"),
    [
        ("medqa_4options", dict(zip("ABCDE", "vwxyz", strict=True)),
         "format medqa_4options needs options A, B, C, D in this order; the row has A, B, C, D, E"),
        ("mmlu", dict(zip("BACD", "wxyz", strict=True)),
         "format mmlu needs options A, B, C, D in this order; the row has B, A, C, D"),
        ("medmcqa", dict(zip("ABC", "xyz", strict=True)),
         "format medmcqa needs options A, B, C, D in this order; the row has A, B, C$"),
        ("pubmedqa", {"A": "no", "B": "yes", "C": "maybe"},
         "format pubmedqa needs the options yes, no, maybe in this order"),
        ("lettered", {"A": "x", "C": "y"}, "format lettered needs options A, B in this order"),
    ],
)  # fmt: skip
def test_options_not_as_the_format_shows_them_name_the_row(
    fmt: str, options: dict[str, str], message: str
) -> None:
    with pytest.raises(GauntletError, match=rf"^bench.jsonl:7: {message}"):
        build_prompts("t", fmt, [row(options)], [], 0, seed=0)
    with pytest.raises(GauntletError, match=r"^bench.jsonl:7: "):  # in a few-shot pool too
        ok = row(dict(zip("ABCD", "wxyz", strict=True)))
        build_prompts("t", fmt, [] if fmt == "pubmedqa" else [ok], [row(options)], 0, seed=0)


def test_lettered_takes_any_number_of_options() -> None:
    five = row(dict(zip("ABCDE", "vwxyz", strict=True)), "E")
    (prompt,) = build_prompts("t", "lettered", [five], [], 0, seed=0)
    assert prompt.context == "Question: Q?\nA. v\nB. w\nC. x\nD. y\nE. z\nAnswer:"
    assert prompt.continuations == [" A", " B", " C", " D", " E"] and prompt.gold == 4
