"""Prompts: lm-eval's formats, golden strings, and few-shot examples that never leak the item."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import jinja2
import lm_eval
import pytest
import yaml

from eval_gauntlet.data import Item, load_items
from eval_gauntlet.errors import GauntletError
from eval_gauntlet.prompts import FORMATS, build_prompts, render, select_fewshot

DATA = Path(__file__).resolve().parents[2] / "eval_gauntlet" / "data"
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


def test_pubmedqa_without_question_line_is_one_clear_error() -> None:
    item = Item("1", "f.jsonl:7", "no newline here", {"A": "yes", "B": "no"}, "A")
    with pytest.raises(GauntletError, match=r"^f.jsonl:7: pubmedqa format needs"):
        render(FORMATS["pubmedqa"], item)


# --- few-shot selection -----------------------------------------------------------------


@pytest.mark.parametrize(("path", "subject", "shots"), [(MEDQA, None, 3), (MMLU, "anatomy", 5)])
def test_fewshot_from_same_file_never_includes_the_item(
    path: Path, subject: str | None, shots: int
) -> None:
    items = load_items(path, subject)
    prompts = build_prompts(
        "t", "mmlu" if subject else "medqa_4options", items, items, shots, seed=1
    )
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
        chosen = select_fewshot(item, [item, twin, *other], 3, seed=seed, task="t")
        assert {shot.key for shot in chosen} == {"3", "4", "5"}
    with pytest.raises(GauntletError, match="4-shot needs 4 few-shot examples besides f:1"):
        select_fewshot(item, [item, twin, *other], 4, seed=0, task="t")


def test_fewshot_is_seeded_per_item_not_by_order_or_limit() -> None:
    items = load_items(MEDQA)
    full = build_prompts("medqa", "medqa_4options", items, items, 3, seed=1234)
    limited = build_prompts("medqa", "medqa_4options", items[:10][::-1], items, 3, seed=1234)
    assert [p.fewshot_keys for p in limited] == [p.fewshot_keys for p in full[:10]][::-1]
    reseeded = build_prompts("medqa", "medqa_4options", items[:10], items, 3, seed=99)
    assert [p.fewshot_keys for p in reseeded] != [p.fewshot_keys for p in full[:10]]
    assert len({tuple(p.fewshot_keys) for p in full}) > 1000  # varied across items


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
