"""The task catalogue and data rows: strict loading, one clear line for each bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval_gauntlet.data import load_items
from eval_gauntlet.errors import GauntletError
from eval_gauntlet.evaluate import Options, evaluate_model, plan
from eval_gauntlet.tasks import DEFAULT_TASKS_FILE, load_tasks, select_tasks

ROW = {
    "question": "Which organ filters blood?",
    "options": {"A": "kidney", "B": "skin"},
    "answer_idx": "A",
}


def write_jsonl(path: Path, rows: list[dict], raw_lines: dict[int, str] | None = None) -> Path:
    lines = [json.dumps(row) for row in rows]
    for index, text in (raw_lines or {}).items():
        lines[index] = text
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_tasks(path: Path, body: str) -> Path:
    path.write_text(body, encoding="utf-8")
    return path


def test_shipped_catalogue() -> None:
    tasks = load_tasks()
    assert list(tasks) == [
        "medqa_4options",
        "pubmedqa",
        "mmlu_anatomy",
        "mmlu_clinical_knowledge",
        "mmlu_college_biology",
        "mmlu_college_medicine",
        "mmlu_medical_genetics",
        "mmlu_professional_medicine",
    ]
    assert tasks["pubmedqa"].fewshot_source is not None
    assert tasks["pubmedqa"].fewshot_source.name == "pubmedqa_labeled_train.jsonl"
    assert tasks["medqa_4options"].fewshot_source is None
    assert tasks["mmlu_college_biology"].subject == "college_biology"
    assert tasks["mmlu_college_biology"].num_fewshot == (0, 5)  # from the YAML anchor
    sizes = {name: len(load_items(t.data, t.subject)) for name, t in tasks.items()}
    assert sizes["medqa_4options"] == 1273 and sizes["pubmedqa"] == 500
    assert sum(n for name, n in sizes.items() if name.startswith("mmlu_")) == 1089


def test_select_by_task_and_group_name() -> None:
    tasks = load_tasks()
    assert [t.name for t in select_tasks(tasks, ["pubmedqa", "medqa_4options"])] == [
        "medqa_4options",
        "pubmedqa",
    ]
    assert len(select_tasks(tasks, ["mmlu_medical"])) == 6
    assert len(select_tasks(tasks, None)) == 8


def test_unknown_task_name_is_one_line_with_a_hint() -> None:
    with pytest.raises(GauntletError) as err:
        select_tasks(load_tasks(), ["medqa"])
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("unknown task 'medqa'. Did you mean 'medqa_4options'?")


def test_misspelled_key_names_the_entry_and_the_nearest_key(tmp_path: Path) -> None:
    body = DEFAULT_TASKS_FILE.read_text().replace("num_fewshot: [0, 3]", "num_fewshots: [0, 3]")
    path = write_tasks(
        tmp_path / "tasks.yaml", body.replace("data/", f"{DEFAULT_TASKS_FILE.parent}/data/")
    )
    with pytest.raises(
        GauntletError,
        match=r"tasks.yaml: unknown key 'tasks.medqa_4options.num_fewshots'. Did you mean 'num_fewshot'\?",
    ):
        load_tasks(path)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "format: medqa",
            r"tasks.t.format: unknown prompt format 'medqa'; expected one of medqa_4options",
        ),
        ("random_baseline: 1.5", r"tasks.t.random_baseline: must be in \[0, 1\)"),
        ("num_fewshot: [-1]", r"tasks.t.num_fewshot: need a list of shot counts >= 0"),
        (
            "fewshot_source: missing.jsonl",
            r"tasks.t.fewshot_source: file not found: .*missing.jsonl",
        ),
        ("category: average", r"tasks.t.category: 'average' is reserved"),
        ("num_fewshot: zero", r"tasks.t.num_fewshot"),
    ],
)
def test_bad_entry_values(tmp_path: Path, entry: str, message: str) -> None:
    write_jsonl(tmp_path / "q.jsonl", [ROW])
    fields = {"data": "q.jsonl", "format": "mmlu", "random_baseline": "0.5", "category": "c"}
    key = entry.split(":")[0]
    fields[key] = entry.split(": ", 1)[1]
    body = "tasks:\n  t:\n" + "".join(f"    {k}: {v}\n" for k, v in fields.items())
    with pytest.raises(GauntletError, match=message) as err:
        load_tasks(write_tasks(tmp_path / "tasks.yaml", body))
    assert "\n" not in str(err.value)


def test_new_benchmark_is_a_yaml_entry_and_a_jsonl_file(tmp_path: Path, tiny) -> None:
    """No code: a JSONL with the shared schema and five lines of YAML are scored end to end."""
    rows = [
        {**ROW, "question": f"Question {i}: which organ filters blood?", "realidx": f"x{i}"}
        for i in range(6)
    ]
    write_jsonl(tmp_path / "organs.jsonl", rows)
    tasks = load_tasks(
        write_tasks(
            tmp_path / "tasks.yaml",
            "tasks:\n  organs:\n    data: organs.jsonl\n    format: medqa_4options\n"
            "    num_fewshot: [0, 2]\n    random_baseline: 0.5\n    category: anatomy\n",
        )
    )
    model, tokenizer = tiny
    options = Options(progress=False)
    result = evaluate_model(model, tokenizer, plan(list(tasks.values()), options), options)
    assert [(r.task.name, r.shots, r.score.n) for r in result.tasks] == [
        ("organs", 0, 6),
        ("organs", 2, 6),
    ]
    assert set(result.gauntlet) == {"anatomy", "average"}
    assert all(len(p.fewshot_keys) == 2 for p in result.tasks[1].predictions)


# --- data rows ----------------------------------------------------------------------------


def test_malformed_json_row_names_file_and_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [ROW, ROW, ROW], {1: '{"question": "x", '})
    with pytest.raises(GauntletError, match=rf"^{path}:2: invalid JSON \("):
        load_items(path)


def test_answer_letter_not_among_the_options(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [ROW, {**ROW, "answer_idx": "E"}])
    with pytest.raises(
        GauntletError, match=rf"^{path}:2: answer_idx 'E' is not among the options A, B$"
    ):
        load_items(path)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"options": ROW["options"], "answer_idx": "A"}, "missing field 'question'"),
        ({**ROW, "options": ["kidney", "skin"]}, "'options' must be an object"),
        ({**ROW, "options": {"A": "kidney", "B": ""}}, "every option must be a non-empty string"),
        ([1, 2], "expected a JSON object, got list"),
    ],
)
def test_bad_rows(tmp_path: Path, row: object, message: str) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(ROW) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(GauntletError, match=rf"^{path}:2: {message}"):
        load_items(path)


def test_non_utf8_and_empty_subject(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(json.dumps(ROW).encode() + b"\n\xff\xfe\n")
    with pytest.raises(GauntletError, match=rf"^{path}:2: not valid UTF-8"):
        load_items(path)
    write_jsonl(path, [ROW])
    with pytest.raises(GauntletError, match=rf"^{path}: no rows with subject 'anatomy'"):
        load_items(path, "anatomy")
