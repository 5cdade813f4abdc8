"""Values read the same in a YAML file and in a ``key=value`` override."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from omegaconf import MISSING, OmegaConf

from strict_config import load_structured, load_yaml, parse_value

# YAML 1.2 floats without a dot or without an exponent sign, which YAML 1.1 (PyYAML's
# safe_load) reads as strings; and values that must stay what they are
WRITTEN = ["1e-5", "1e-05", "2E+3", "1.0e5", "-3e2", "1e5", "+4.5e-1", "1.5", "7", "1_000",
           "0x10", "1e", "e5", "1e-5x", "60ba", "0.1dur", ".inf", "null", "true", "[1e-5, 2]",
           "{lr: 1e-4, betas: [0.9, 0.95]}"]  # fmt: skip


@pytest.mark.parametrize("text", WRITTEN)
def test_an_override_value_reads_as_omegaconf_reads_it_in_a_file(text: str) -> None:
    """OmegaConf's file loader is the reference: one number, one meaning, wherever written."""
    in_file = OmegaConf.to_container(OmegaConf.create(f"v: {text}"))["v"]  # type: ignore[index]
    value = parse_value(text)
    assert value == in_file and type(value) is type(in_file)


@pytest.mark.parametrize(("text", "number"), [("1e-5", 1e-5), ("1e-05", 1e-5), ("2E+3", 2000.0)])
def test_numbers_without_a_dot_are_floats_in_files_and_overrides(
    tmp_path: Path, text: str, number: float
) -> None:
    @dataclass
    class Schema:
        lr: float = 0.1
        extra: dict[str, Any] = field(default_factory=dict)

    path = tmp_path / "c.yaml"
    path.write_text(f"lr: {text}\nextra: {{lr: {text}}}\n")
    assert load_yaml(path)["lr"] == number
    loaded = load_structured(Schema, path)
    assert loaded.lr == number and loaded.extra == {"lr": number}
    other = tmp_path / "o.yaml"
    other.write_text("lr: 0.5\n")
    overridden = load_structured(Schema, other, [f"lr={text}", f"extra={{lr: {text}}}"])
    assert overridden.lr == number and overridden.extra == {"lr": number}  # not '1e-5'


@dataclass
class Inner:
    size: int = 1


@dataclass
class Nullable:
    extra: dict[str, Any] | None = None
    inner: Inner | None = None


def test_a_dotted_override_fills_a_null_section(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("extra: null\n")
    loaded = load_structured(Nullable, path, ["extra.a.b=1e-5", "inner.size=3"])
    assert loaded.extra == {"a": {"b": 1e-5}} and loaded.inner == Inner(size=3)
    with pytest.raises(ValueError, match=r"'inner\.sise'.*'size'"):
        load_structured(Nullable, path, ["inner.sise=3"])


@dataclass
class Stream:
    local: str = MISSING
    proportion: float | None = None


@dataclass
class Streams:
    streams: dict[str, Stream] = field(default_factory=dict)
    paths: list[Stream] = field(default_factory=list)


def test_an_override_adds_an_entry_to_a_typed_mapping_and_sets_a_list_item(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("streams: {a: {local: x}}\npaths: [{local: p}]\n")
    loaded = load_structured(
        Streams,
        path,
        ["streams.b.local=y", "streams.c={local: z, proportion: 1e-1}", "paths.0.local=q"],
    )
    assert loaded.streams == {"a": Stream("x"), "b": Stream("y"), "c": Stream("z", 0.1)}
    assert loaded.paths == [Stream("q")]
    with pytest.raises(ValueError, match=r"'streams\.b\.locl'.*'local'"):
        load_structured(Streams, path, ["streams.b.locl=y"])


def test_an_override_that_is_not_yaml_fails_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("extra: {}\n")
    with pytest.raises(
        ValueError, match=r"override .*: invalid YAML \(.*\); quote the value"
    ) as caught:
        load_structured(Nullable, path, ["extra={a: ${x}/y}"])
    assert "\n" not in str(caught.value)


@dataclass
class Lists:
    train: list[str] = MISSING
    test: list[str] = field(default_factory=list)
    inner: Nullable = field(default_factory=Nullable)
    layers: list[int] | None = None


def test_a_single_value_for_a_list_is_a_one_item_list_in_an_override(tmp_path: Path) -> None:
    """``data.train=my.jsonl`` as a newcomer types it; was omegaconf's 'AnyNode is not a ListConfig'."""
    path = tmp_path / "c.yaml"
    path.write_text("test: [a.json]\n")
    loaded = load_structured(Lists, path, ["train=my.jsonl", "test=b.json", "layers=3"])
    assert loaded.train == ["my.jsonl"] and loaded.test == ["b.json"] and loaded.layers == [3]
    listed = load_structured(Lists, path, ["train=[x, y]", "layers=null"])
    assert listed.train == ["x", "y"] and listed.layers is None  # lists and null as they are


def test_a_single_value_for_a_list_in_a_file_says_to_write_a_list(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("train: my.jsonl\n")
    with pytest.raises(ValueError) as caught:
        load_structured(Lists, path)
    assert str(caught.value) == f"{path}: train takes a list: [my.jsonl]"


@dataclass
class _Inner:
    languages: list[str] = field(default_factory=lambda: ["eng"])
    salt: str = "x"


@dataclass
class _Texts:
    inner: _Inner = field(default_factory=_Inner)
    name: str = "n"
    enabled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@pytest.mark.parametrize(
    ("text", "override", "key"),
    [
        ("inner: {languages: [eng, no]}", None, "inner.languages"),  # Norwegian read as false
        ("name: off", None, "name"),
        ("{}", "inner.languages=[nob, no]", "inner.languages"),
        ("{}", "name=yes", "name"),
    ],
)
def test_an_unquoted_yaml_boolean_where_text_belongs_is_refused(
    tmp_path: Path, text: str, override: str | None, key: str
) -> None:
    """OmegaConf made it the text "False" or "True", silently."""
    path = tmp_path / "c.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ValueError, match=rf"^{path}: {key}: YAML reads an unquoted no/off/yes/on"):
        load_structured(_Texts, path, [override] if override else None)


def test_booleans_where_booleans_or_anything_belong_still_load(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("inner: {languages: [eng, 'no']}\nenabled: yes\nextra: {flag: no}\n")
    loaded = load_structured(_Texts, path, ["extra.other=off"])
    assert loaded.inner.languages == ["eng", "no"] and loaded.enabled is True
    assert loaded.extra == {"flag": False, "other": False}
