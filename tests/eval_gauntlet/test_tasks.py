"""The task catalogue: strict loading, one clear line for each bad input (rows: tests/medtasks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval_gauntlet.errors import GauntletError
from eval_gauntlet.evaluate import evaluate_model, plan
from eval_gauntlet.options import Options
from eval_gauntlet.tasks import (
    DEFAULT_TASKS_FILE,
    FROM_TEST,
    LM_EVAL,
    load_tasks,
    protocol,
    select_tasks,
    with_fewshot_sources,
)
from medtasks.formats import load_items
from tests.fixtures.tasks import ORGANS, ROW, medmcqa, organs_file, write_jsonl, write_tasks


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
    dev = tasks["mmlu_college_biology"].fewshot_source
    assert dev is not None and dev.name == "mmlu_medical_dev.jsonl"  # lm-eval: dev, first_n
    assert tasks["mmlu_college_biology"].fewshot_sampler == "first_n"
    assert {name: protocol(t, max(t.num_fewshot)) for name, t in tasks.items()} == {
        name: FROM_TEST if name == "medqa_4options" else LM_EVAL for name in tasks
    }  # MedQA's train split is not shipped: its 3-shot says so
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
        (  # its few-shot examples would be the whole dev file's first, not the subject's
            "subject: null",
            r"tasks.t.subject: format mmlu scores one subject .* one entry per subject",
        ),
    ],
)
def test_bad_entry_values(tmp_path: Path, entry: str, message: str) -> None:
    write_jsonl(tmp_path / "q.jsonl", [ROW])
    fields = {"data": "q.jsonl", "format": "mmlu", "random_baseline": "0.5", "category": "c",
              "subject": "anatomy"}  # fmt: skip
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
            "tasks:\n  organs:\n    data: organs.jsonl\n    format: lettered\n"
            "    num_fewshot: [0, 2]\n    random_baseline: 0.5\n    category: anatomy\n",
        )
    )
    model, tokenizer = tiny
    options = Options(no_progress=True)
    result = evaluate_model(model, tokenizer, plan(list(tasks.values()), options), options)
    assert [(r.task.name, r.shots, r.score.n) for r in result.tasks] == [
        ("organs", 0, 6),
        ("organs", 2, 6),
    ]
    assert set(result.gauntlet) == {"anatomy", "average"}
    assert all(len(p.fewshot_keys) == 2 for p in result.tasks[1].predictions)


# --- user task files: extend the shipped catalogue without editing it ----------------------


def test_user_file_extends_the_shipped_catalogue(tmp_path: Path) -> None:
    shipped = DEFAULT_TASKS_FILE.read_bytes()
    tasks = load_tasks(organs_file(tmp_path / "mine"))
    assert list(tasks) == [*load_tasks(), "organs"]
    assert tasks["organs"].data == tmp_path / "mine" / "data" / "organs.jsonl"  # beside its file
    assert (
        tasks["pubmedqa"].data == DEFAULT_TASKS_FILE.parent / "data" / "pubmedqa_labeled_test.jsonl"
    )
    assert DEFAULT_TASKS_FILE.read_bytes() == shipped and len(load_tasks()) == 8


def test_several_files_merge_in_order_and_override_only_the_keys_they_write(
    tmp_path: Path,
) -> None:
    (tmp_path / "train").mkdir()
    train = write_jsonl(tmp_path / "train" / "medqa_train.jsonl", [ROW])
    override = write_tasks(
        tmp_path / "train" / "medqa.yaml",
        "tasks:\n  medqa_4options:\n    fewshot_source: medqa_train.jsonl\n",
    )
    tasks = load_tasks([DEFAULT_TASKS_FILE, override])
    medqa = tasks["medqa_4options"]
    assert medqa.fewshot_source == train
    assert medqa.data.name == "medqa_usmle_4opt_test.jsonl" and medqa.num_fewshot == (0, 3)
    assert (
        protocol(medqa, 3) == LM_EVAL and protocol(load_tasks()["medqa_4options"], 3) == FROM_TEST
    )
    assert list(tasks) == list(load_tasks())
    with pytest.raises(
        GauntletError, match=r"medqa.yaml: tasks.medqa_4options: missing key 'data'"
    ):
        load_tasks(override)  # alone, the partial entry is not a task


def test_fewshot_source_flag_points_a_task_or_group_at_a_train_file(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", [ROW])
    tasks = with_fewshot_sources(load_tasks(), [f"medqa_4options={train}", f"mmlu_medical={train}"])
    assert tasks["medqa_4options"].fewshot_source == train
    assert all(tasks[f"mmlu_{s}"].fewshot_source == train for s in ("anatomy", "college_medicine"))
    assert tasks["pubmedqa"] == load_tasks()["pubmedqa"]
    medqa = load_tasks()["medqa_4options"]
    own = with_fewshot_sources(load_tasks(), [f"medqa_4options={medqa.data}"])
    assert own["medqa_4options"] == medqa  # its own file: drawn with the item excluded, as SELF
    with pytest.raises(
        GauntletError, match=r"--fewshot-source 'medqa_4options': expected TASK=PATH"
    ):
        with_fewshot_sources(load_tasks(), ["medqa_4options"])
    with pytest.raises(GauntletError, match=r"--fewshot-source medqa_4options: file not found"):
        with_fewshot_sources(load_tasks(), [f"medqa_4options={tmp_path}/nope.jsonl"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("include: nope.yaml\ntasks: {}\n", r"t.yaml: include 'nope.yaml': file not found"),
        ("include: t.yaml\ntasks: {}\n", r"t.yaml: includes itself"),
        ("include: [1]\ntasks: {}\n", r"t.yaml: include: expected a file name or a list"),
        ("tasks:\n  x:\n    data: q.jsonl\n    format: mmlu\n    category: c\n",
         r"tasks.x: missing key 'random_baseline'"),
    ],
)  # fmt: skip
def test_bad_includes_and_missing_keys(tmp_path: Path, body: str, message: str) -> None:
    write_jsonl(tmp_path / "q.jsonl", [ROW])
    with pytest.raises(GauntletError, match=message):
        load_tasks(write_tasks(tmp_path / "t.yaml", body))


def test_a_new_benchmark_from_the_readme_scores_beside_the_shipped_ones(
    tmp_path: Path, tiny_dir: Path
) -> None:
    """The README's recipe: a data file, a task file with `include: default`, --tasks-file."""
    from eval_gauntlet.__main__ import main

    out = tmp_path / "eval"
    user = organs_file(tmp_path / "mine")
    code = main(["score", str(tiny_dir), "--out", str(out), "--no-progress", "--device", "cpu",
                 "--limit", "3", "--tasks-file", str(user), "--tasks", "organs", "mmlu_medical"])  # fmt: skip
    assert code == 0
    text = (out / "results.jsonl").read_text()
    assert '"task": "organs"' in text and '"task": "mmlu_medical"' in text


# --- aggregation groups ---------------------------------------------------------------------


def test_group_members_must_agree(tmp_path: Path) -> None:
    body = DEFAULT_TASKS_FILE.read_text().replace(
        "mmlu_college_biology: {<<: *mmlu, subject: college_biology}",
        "mmlu_college_biology: {<<: *mmlu, subject: college_biology, category: biology}",
    )
    path = write_tasks(
        tmp_path / "t.yaml", body.replace("data/", f"{DEFAULT_TASKS_FILE.parent}/data/")
    )
    with pytest.raises(
        GauntletError,
        match=r"tasks.mmlu_college_biology.category: 'biology' differs from mmlu_anatomy's "
        r"'medical_knowledge'; a group's members are one gauntlet benchmark",
    ):
        load_tasks(path)


def test_a_name_clash_with_a_shipped_group_names_the_users_file_and_key(tmp_path: Path) -> None:
    """A user's task named like a shipped group, or a user's group named like a shipped task:
    the user's file and entry are named, never the shipped tasks.yaml."""
    mine = organs_file(tmp_path / "a")
    write_tasks(mine, mine.read_text().replace("  organs:", "  mmlu_medical:"))
    with pytest.raises(GauntletError) as clash:
        load_tasks(mine)
    assert str(clash.value).startswith(f"{mine}: tasks.mmlu_medical: 'mmlu_medical' is the name "
                                       "of a group (of mmlu_anatomy, ")  # fmt: skip
    assert "give the task another name" in str(clash.value)
    grouped = organs_file(tmp_path / "b")
    write_tasks(grouped, grouped.read_text() + "    group: pubmedqa\n")
    with pytest.raises(GauntletError) as clash:
        load_tasks(grouped)
    assert str(clash.value) == (
        f"{grouped}: tasks.organs.group: 'pubmedqa' is a task's name ({DEFAULT_TASKS_FILE}); "
        "give the group another name"
    )


def test_one_out_holds_one_definition_per_task_name(
    tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same --out scored again with a task of that name defined otherwise (its data changed)
    is refused before anything is scored; the same definition scores on."""
    from eval_gauntlet.__main__ import main

    mine = organs_file(tmp_path / "mine")
    out = tmp_path / "eval"
    argv = ["score", str(tiny_dir), "--out", str(out), "--tasks-file", str(mine), "--tasks",
            "organs", "--shots", "0", "--limit", "2", "--no-progress"]  # fmt: skip
    assert main([*argv, "--name", "a"]) == 0
    assert main([*argv, "--name", "b"]) == 0  # the same definition: another checkpoint
    before = (out / "results.jsonl").read_bytes()
    rows = [{**ROW, "question": f"Which organ {i}?", "realidx": f"o{i}"} for i in range(6)]
    write_jsonl(tmp_path / "mine" / "data" / "organs.jsonl", rows)
    capsys.readouterr()
    assert main([*argv, "--name", "c"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        f"error: --out {out}: task 'organs' was scored there with another definition"
    )
    assert err.rstrip().endswith("use another --out or another task name")
    assert (out / "results.jsonl").read_bytes() == before


# --- rows checked against the format, and MedMCQA's cop_base in a task entry --------------


def test_five_options_under_a_four_option_format_names_file_and_line(tmp_path: Path) -> None:
    five = {**ROW, "options": dict(zip("ABCDE", "vwxyz", strict=True)), "answer_idx": "E"}
    four = {**ROW, "options": dict(zip("ABCD", "wxyz", strict=True)), "answer_idx": "D"}
    data = write_jsonl(tmp_path / "q.jsonl", [four, four, five])
    tasks = load_tasks(write_tasks(tmp_path / "t.yaml", "tasks:\n" + ORGANS.replace(
        "data/organs.jsonl", "q.jsonl").replace("lettered", "medqa_4options")))  # fmt: skip
    with pytest.raises(
        GauntletError,
        match=rf"^{data}:3: format medqa_4options needs options A, B, C, D in this order; "
        r"the row has A, B, C, D, E$",
    ):
        plan(list(tasks.values()), Options(limit=1))  # the item is fine; row 3 is in its pool


def test_medmcqa_task_entry_states_its_cop_base(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "dev.json", [medmcqa(1)] * 3)
    entry = ("tasks:\n  medmcqa:\n    data: dev.json\n    schema: medmcqa\n    format: medmcqa\n"
             "    random_baseline: 0.25\n    category: medical_knowledge\n")  # fmt: skip
    with pytest.raises(GauntletError, match=r"tasks.medmcqa.cop_base: the medmcqa schema needs"):
        load_tasks(write_tasks(tmp_path / "t.yaml", entry))
    (task,) = load_tasks(write_tasks(tmp_path / "t.yaml", entry + "    cop_base: 1\n")).values()
    (planned,) = plan([task], Options())
    assert planned.prompts[0].context.startswith("Question: Q?\nChoices:\nA. w\n")
    assert protocol(task, 0) == LM_EVAL
    with pytest.raises(GauntletError, match=r"tasks.t.cop_base: only for schema medmcqa"):
        load_tasks(write_tasks(tmp_path / "u.yaml", "tasks:\n" + ORGANS.replace("organs:", "t:")
                               .replace("data/organs.jsonl", "dev.json") + "    cop_base: 1\n"))  # fmt: skip


def test_two_user_files_that_both_include_the_defaults(tmp_path: Path) -> None:
    """The second `include: default` does not undo the first file's override."""
    train = write_jsonl(tmp_path / "train.jsonl", [ROW])
    first = write_tasks(
        tmp_path / "a.yaml",
        "include: default\ntasks:\n  medqa_4options:\n    fewshot_source: train.jsonl\n",
    )
    second = organs_file(tmp_path / "b")
    tasks = load_tasks([first, second])
    assert tasks["medqa_4options"].fewshot_source == train
    assert list(tasks) == [*load_tasks(), "organs"]
