"""The shipped configs for the 2.7B recipe's inputs, and the benchmark list from the catalogue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from data_prep.catalogue import benchmarks_to_check, catalogue_benchmarks
from data_prep.config import BenchmarkFile, DecontaminateConfig, load_config
from data_prep.document import PrepError
from data_prep.manifest import tokenizer_identity
from data_prep.pipeline import run

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "recipes" / "data"
SAMPLES = REPO / "data_prep" / "samples"
CATALOGUE = REPO / "medtasks" / "tasks.yaml"
RECIPE = REPO / "recipes" / "pretrain" / "biomedlm-2.7b.yaml"
# The header of pubmed.yaml gives this override for The Pile's PubMed Abstracts.
PILE = "sources=[{kind: pile, path: 'data/pile/*.jsonl.zst', pile_subsets: [PubMed Abstracts]}]"


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # the configs' paths are relative to the repository root


def test_every_shipped_config_loads() -> None:
    names = sorted(p.name for p in CONFIGS.glob("*.yaml"))
    assert names == ["pmc.yaml", "pubmed.yaml", "sample.yaml"]
    for path in CONFIGS.glob("*.yaml"):
        cfg = load_config(path)
        assert cfg.decontaminate.enabled and len(benchmarks_to_check(cfg.decontaminate)) == 3


def test_configs_write_where_the_2_7b_recipe_reads_and_share_one_tokenizer() -> None:
    recipe = yaml.safe_load(RECIPE.read_text())
    pubmed, pmc = load_config(CONFIGS / "pubmed.yaml"), load_config(CONFIGS / "pmc.yaml")
    streams = recipe["train_loader"]["streams"]
    assert streams["abstracts"]["local"] == pubmed.output_dir == "outputs/prep/pubmed"
    assert streams["fulltext"]["local"] == pmc.output_dir == "outputs/prep/pmc"
    assert recipe["eval_loader"]["streams"]["abstracts"]["local"] == pubmed.output_dir
    tokenizer = f"{pubmed.output_dir}/tokenizer"
    assert recipe["tokenizer"]["path"] == tokenizer == pmc.tokenizer.path
    assert pubmed.tokenizer.path is None and pubmed.tokenizer.vocab_size == 28896
    assert pubmed.pack.seq_len == pmc.pack.seq_len == recipe["model"]["max_seq_len"]
    assert "RUN THIS FIRST" in (CONFIGS / "pubmed.yaml").read_text()
    assert PILE.split("=", 1)[1].replace("'", '"') in (CONFIGS / "pubmed.yaml").read_text()
    pile = load_config(CONFIGS / "pubmed.yaml", [PILE])
    assert pile.sources[0].kind == "pile" and pile.sources[0].pile_subsets == ["PubMed Abstracts"]


def test_pubmed_then_pmc_on_the_samples(tmp_path: Path) -> None:
    pubmed = load_config(
        CONFIGS / "pubmed.yaml",
        [
            f"sources.0.path={SAMPLES / 'pubmed' / '*.xml.gz'}",
            f"output_dir={tmp_path / 'pubmed'}",
            "split.validation_fraction=0.1",
            "workers=1",
        ],
    )
    abstracts = run(pubmed)
    pmc = load_config(
        CONFIGS / "pmc.yaml",
        [
            f"sources.0.path={SAMPLES / 'pmc' / '*.nxml'}",
            f"output_dir={tmp_path / 'pmc'}",
            f"tokenizer.path={tmp_path / 'pubmed' / 'tokenizer'}",
            "workers=1",
        ],
    )
    fulltext = run(pmc)
    assert abstracts["sources"]["pubmed_baseline"]["kept"] > 400
    assert fulltext["sources"]["pmc_oa_comm"]["kept"] == 5
    assert fulltext["tokenizer"]["trained"] is False
    identity = tokenizer_identity(tmp_path / "pubmed" / "tokenizer")
    for manifest in (abstracts, fulltext):
        assert {k: manifest["tokenizer"][k] for k in identity} == identity
        assert manifest["samples"] == {"seq_len": 1024, "column": "tokens", "dtype": "uint16"}
        assert set(manifest["decontamination"]["removed"]) == {
            "medqa_4options",
            "pubmedqa",
            "mmlu_medical",
        }
    on_disk = json.loads((tmp_path / "pmc" / "manifest.json").read_text())
    assert on_disk["tokenizer"]["sha256"] == identity["sha256"]


# --- the tokenizer identity ---------------------------------------------------------------


def test_tokenizer_identity_follows_the_vocabulary_not_the_files(tmp_path: Path) -> None:
    from data_prep.config import TokenizerConfig
    from data_prep.tokenizer import copy_tokenizer, train_tokenizer

    texts = [line for line in (SAMPLES / "pubmedqa_train_contexts.jsonl").open()][:200]
    train_tokenizer(texts, TokenizerConfig(vocab_size=600), tmp_path / "a")
    train_tokenizer(texts, TokenizerConfig(vocab_size=500), tmp_path / "b")
    copy_tokenizer(tmp_path / "a", TokenizerConfig(), tmp_path / "copy")
    a = tokenizer_identity(tmp_path / "a")
    assert a == tokenizer_identity(tmp_path / "copy")
    assert a["vocab_size"] == 600 and a["eos_id"] == 0 and a["special_tokens"] == ["<|endoftext|>"]
    assert tokenizer_identity(tmp_path / "b")["sha256"] != a["sha256"]
    spec = json.loads((tmp_path / "a" / "tokenizer.json").read_text())
    (tmp_path / "a" / "tokenizer.json").write_text(json.dumps(spec, indent=4))  # same, re-laid
    assert tokenizer_identity(tmp_path / "a") == a
    with pytest.raises(PrepError, match="tokenizer directory not found"):
        tokenizer_identity(tmp_path / "none")


# --- the benchmark list from the evaluation catalogue -------------------------------------


def test_catalogue_reader_on_the_shipped_catalogue() -> None:
    benchmarks = catalogue_benchmarks(CATALOGUE)
    data = CATALOGUE.parent / "data"
    assert benchmarks == {
        "medqa_4options": BenchmarkFile(path=str(data / "medqa_usmle_4opt_test.jsonl")),
        "pubmedqa": BenchmarkFile(
            path=str(data / "pubmedqa_labeled_test.jsonl"), pmid_field="realidx"
        ),
        "mmlu_medical": BenchmarkFile(path=str(data / "mmlu_medical_test.jsonl")),
    }


def test_catalogue_includes_and_explicit_benchmarks(tmp_path: Path) -> None:
    (tmp_path / "sets").mkdir()
    for name in ("a", "b", "c"):
        (tmp_path / "sets" / f"{name}.jsonl").write_text('{"question": "q"}\n')
    (tmp_path / "more.yaml").write_text(
        "tasks:\n  c_task: {data: sets/c.jsonl, pmid_field: pmid}\n"
    )
    (tmp_path / "tasks.yaml").write_text(
        "include: more.yaml\n"
        "tasks:\n"
        "  a_task: {data: sets/a.jsonl, format: pubmedqa, group: g}\n"
        "  a_again: {data: sets/a.jsonl, subject: x}\n"
        "  b_task: {data: sets/b.jsonl, group: g}\n"
    )
    found = catalogue_benchmarks(tmp_path / "tasks.yaml")
    assert [(name, Path(b.path).name, b.pmid_field) for name, b in found.items()] == [
        ("c_task", "c.jsonl", "pmid"),
        ("g", "a.jsonl", "realidx"),
        ("b_task", "b.jsonl", None),
    ]
    mine = BenchmarkFile(path=str(tmp_path / "sets" / "a.jsonl"), text_fields=["question"])
    cfg = DecontaminateConfig(catalogue=str(tmp_path / "tasks.yaml"), benchmarks={"mine": mine})
    assert list(benchmarks_to_check(cfg)) == ["mine", "c_task", "b_task"]  # a.jsonl once, mine
    assert benchmarks_to_check(DecontaminateConfig(enabled=False)) == {}


def test_an_entry_named_as_a_catalogue_benchmark_must_be_its_file(tmp_path: Path) -> None:
    """Was silent: ``benchmarks.pubmedqa`` of one's own replaced the catalogue's PubMedQA."""
    catalogue = catalogue_benchmarks(CATALOGUE)
    same = DecontaminateConfig(
        catalogue=str(CATALOGUE), benchmarks={"pubmedqa": catalogue["pubmedqa"]}
    )
    assert benchmarks_to_check(same) == catalogue
    extra = tmp_path / "extra.jsonl"
    extra.write_text('{"question": "q"}\n')
    other = DecontaminateConfig(
        catalogue=str(CATALOGUE), benchmarks={"pubmedqa": BenchmarkFile(path=str(extra))}
    )
    with pytest.raises(
        PrepError, match=r"^decontaminate\.benchmarks\.pubmedqa: .*rename this entry"
    ):
        benchmarks_to_check(other)


def test_catalogue_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(PrepError, match="no benchmark to check"):
        benchmarks_to_check(DecontaminateConfig(catalogue=None))
    with pytest.raises(PrepError, match=r"decontaminate.catalogue: .*none\.yaml not found"):
        benchmarks_to_check(DecontaminateConfig(catalogue=str(tmp_path / "none.yaml")))
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks:\n  x: {format: mmlu}\n")
    with pytest.raises(PrepError, match=r"bad\.yaml: tasks\.x\.data: expected a JSONL path"):
        catalogue_benchmarks(bad)
    dup = tmp_path / "dup.yaml"
    dup.write_text("tasks:\n  x: {data: a.jsonl}\n  x: {data: b.jsonl}\n")
    with pytest.raises(PrepError, match=r"dup\.yaml:3: invalid YAML \(found duplicate key"):
        catalogue_benchmarks(dup)
    typo = tmp_path / "typo.yaml"  # the gauntlet's parser: a key it does not know fails here too
    typo.write_text("tasks:\n  x: {data: a.jsonl, pmid_feld: pmid}\n")
    with pytest.raises(PrepError, match=r"typo\.yaml: unknown key .*Did you mean 'pmid_field'"):
        catalogue_benchmarks(typo)
    empty = tmp_path / "empty.yaml"
    empty.write_text("tasks: {}\n")
    with pytest.raises(PrepError, match="no benchmark to check"):
        benchmarks_to_check(DecontaminateConfig(catalogue=str(empty)))


def test_a_user_catalogue_that_includes_the_defaults_and_adds_medmcqa(tmp_path: Path) -> None:
    """The gauntlet's task-file format: include: default, entries overriding only their keys."""
    rows = tmp_path / "medmcqa.jsonl"
    rows.write_text('{"question": "q", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 1}\n')
    user = tmp_path / "tasks.yaml"
    user.write_text(
        "include: default\n"
        "tasks:\n"
        "  medmcqa: {data: medmcqa.jsonl, schema: medmcqa, cop_base: 1, format: medmcqa}\n"
        "  medqa_4options: {fewshot_source: medqa/train.jsonl}\n"
    )
    found = catalogue_benchmarks(user)
    assert set(found) == {"medqa_4options", "pubmedqa", "mmlu_medical", "medmcqa"}
    assert found["medmcqa"].text_fields[:5] == ["question", "opa", "opb", "opc", "opd"]
    assert (
        Path(found["medqa_4options"].path)
        == (CATALOGUE.parent / "data" / "medqa_usmle_4opt_test.jsonl").resolve()
    )


def test_pack_drop_last_false_is_refused_not_ignored() -> None:
    """Was accepted and did nothing: packing drops a split's final partial sample whatever it says."""
    with pytest.raises(
        PrepError, match=r"sample\.yaml: pack\.drop_last: false is not supported: .*remove the key$"
    ):
        load_config(CONFIGS / "sample.yaml", ["pack.drop_last=false"])
    assert load_config(CONFIGS / "sample.yaml", ["pack.drop_last=true"]).pack.drop_last
