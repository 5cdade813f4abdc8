"""Load YAML into a typed dataclass schema, strictly: shared by data_prep and biomedlm recipes.

An unknown or misspelled key fails before any work, naming the file, the key's full path and the
nearest valid key; so does a wrong type (an unquoted ``no`` where text belongs too), and YAML
errors name their line. Override values are
parsed by :func:`parse_value`, so ``1e-5`` is a float there as in a file (OmegaConf reads files
with YAML 1.2's float form; PyYAML's ``safe_load`` follows YAML 1.1, where it is a string).
"""

from __future__ import annotations

import difflib
import functools
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError
from omegaconf.nodes import StringNode

T = TypeVar("T")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, plus the floats OmegaConf's file loader adds (``1e-5``, ``2E+3``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def parse_value(text: str) -> Any:
    """A value written on the command line (``1e-5``, ``[0.9, 0.95]``, ``{name: x}``) as data."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader: plain data only


class ConfigError(ValueError):
    """A config file or override that does not fit its schema; one line naming file and key."""


def _nearest_key_hint(exc: ConfigKeyError) -> str:
    parent = getattr(exc, "parent_node", None)
    key = getattr(exc, "key", None)
    if not isinstance(parent, DictConfig) or key is None:
        return ""
    valid = [str(k) for k in parent]
    close = difflib.get_close_matches(str(key), valid, n=1)
    return f" Did you mean '{close[0]}'?" if close else f" Valid keys: {', '.join(valid)}."


def _parse_override(item: str) -> tuple[str, Any]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ValueError(f"override {item!r} is not of the form key=value")
    try:
        return key.strip(), parse_value(value) if value else None
    except yaml.YAMLError as exc:  # e.g. an unquoted ${...} inside {...}
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"override {item!r}: invalid YAML ({what}); quote the value") from None


def _expects_list(exc: OmegaConfBaseException) -> bool:
    """Whether ``exc`` is a single value (a string, a number) given to a list-typed key."""
    parent, key, value = (getattr(exc, name, None) for name in ("parent_node", "key", "value"))
    if not isinstance(parent, DictConfig) or key is None:
        return False
    if value is None or isinstance(value, (list, tuple, dict, ListConfig, DictConfig)):
        return False
    try:
        return isinstance(parent._get_node(key), ListConfig)
    except OmegaConfBaseException:
        return False


def _apply_override(config: Any, key: str, value: Any) -> None:
    """Set dotted ``key`` to ``value`` as if the YAML had it nested (merged, not assigned).

    A merge fills what OmegaConf's ``update`` refuses: a key under a null section
    (``fsdp_config.sharding_strategy=FULL_SHARD`` on a recipe without ``fsdp_config``) and a new
    entry of a typed mapping (``train_loader.streams.pmc.local=...``); a path through a list
    (``sources.0.path=...``) is set with ``update``, which addresses list items by index. A single
    value given to a list-typed key is a one-item list (``data.train=my.jsonl``).
    """
    parts = key.split(".")
    prefixes = (".".join(parts[:end]) for end in range(1, len(parts)))
    through_list = any(isinstance(OmegaConf.select(config, p), ListConfig) for p in prefixes)

    def merge(value: Any) -> None:
        if through_list:
            OmegaConf.update(config, key, value, merge=True)
        else:
            config.merge_with(functools.reduce(lambda v, part: {part: v}, reversed(parts), value))

    try:
        merge(value)
    except ValidationError as exc:
        if not _expects_list(exc):
            raise
        merge([value])


def _refuse_yaml_booleans(schema: Any, layer: Any, path: str = "") -> None:
    """A YAML 1.1 boolean (``no``, ``off``, ``yes``, ``on``) where the schema wants text: OmegaConf
    turns it into "False"/"True" silently (``languages: [eng, no]``: Norwegian became "False")."""
    if not isinstance(schema, DictConfig) or not isinstance(layer, dict):
        return
    if schema._is_none() or schema._is_missing():
        return  # a section whose default is null is checked only once filled
    for key in layer:
        if key not in schema:
            continue  # an unknown key is OmegaConf's to report
        target, value = schema._get_node(key), layer[key]
        where = f"{path}{key}"
        text = isinstance(target, StringNode) or (
            isinstance(target, ListConfig) and target._metadata.element_type is str
        )
        values = value if isinstance(value, list) else [value]
        if text and any(isinstance(item, bool) for item in values):
            raise ValueError(
                f"{where}: YAML reads an unquoted no/off/yes/on as a boolean; quote it"
            )
        _refuse_yaml_booleans(target, value, f"{where}.")


def merge_structured(
    schema: type[T],
    layers: list[Any],
    where: str,
    overrides: list[str] | None = None,
    error: type[ValueError] = ConfigError,
) -> T:
    """Merge ``layers`` (dicts or OmegaConf nodes) onto ``schema``, apply overrides, build it;
    bad input raises ``error`` (each package keeps its own class) naming ``where``."""
    try:
        structured = OmegaConf.structured(schema)
        for layer in layers:
            plain = OmegaConf.to_container(layer) if isinstance(layer, DictConfig) else layer
            _refuse_yaml_booleans(structured, plain)  # unresolved: ${...} stay text
        merged = OmegaConf.merge(structured, *layers)
        for item in overrides or []:
            key, value = _parse_override(item)
            nested = functools.reduce(lambda v, part: {part: v}, reversed(key.split(".")), value)
            _refuse_yaml_booleans(structured, nested)
            _apply_override(merged, key, value)
        obj = OmegaConf.to_object(merged)
    except ConfigKeyError as exc:
        full_key = getattr(exc, "full_key", None) or getattr(exc, "key", "?")
        raise error(f"{where}: unknown key '{full_key}'.{_nearest_key_hint(exc)}") from None
    except OmegaConfBaseException as exc:
        full_key = getattr(exc, "full_key", None)
        if full_key and _expects_list(exc):  # in a file: a single value where a list belongs
            value = getattr(exc, "value", None)
            raise error(f"{where}: {full_key} takes a list: [{value}]") from None
        first_line = str(exc).splitlines()[0]
        at = f" at '{full_key}'" if full_key else ""
        raise error(f"{where}{at}: {first_line}") from None
    except (ValueError, TypeError) as exc:  # a schema's __post_init__ checks; bad overrides
        raise error(f"{where}: {exc}") from None
    assert isinstance(obj, schema)
    return obj


def load_yaml(path: str | Path, error: type[ValueError] = ConfigError) -> Any:
    """Parse YAML file ``path`` with OmegaConf; a syntax error or a duplicate key raises
    ``error`` as ``FILE:LINE: invalid YAML (what)``."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: config file not found")
    try:
        return OmegaConf.load(path)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        what = exc.problem or exc.context or "syntax error"
        raise error(f"{path}{line}: invalid YAML ({what})") from None
    except OmegaConfBaseException as exc:
        raise error(f"{path}: {str(exc).splitlines()[0]}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise error(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror})") from None


def load_structured(
    schema: type[T],
    path: str | Path,
    overrides: list[str] | None = None,
    error: type[ValueError] = ConfigError,
) -> T:
    """Load YAML file ``path`` and ``key=value`` ``overrides`` into an instance of ``schema``."""
    return merge_structured(schema, [load_yaml(path, error)], str(path), overrides, error)


def as_plain_dict(obj: Any) -> dict[str, Any]:
    """A dataclass config as plain, resolved data (for manifests and run folders)."""
    container = OmegaConf.to_container(OmegaConf.structured(obj), resolve=True)
    assert isinstance(container, dict)
    return container  # type: ignore[return-value]
