"""A recipe file's layers (its ``base:`` chain) merged strictly onto a schema, overrides last.

Any recipe kind loads through :func:`load_as`; :mod:`biomedlm.recipe_kinds` picks the schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig

from biomedlm.settings import RecipeError, TrainingSettings
from strict_config import as_plain_dict, load_yaml, merge_structured, parse_value

T = TypeVar("T")
COMPONENTS = ("optimizer", "scheduler")  # sections of one named component


def _layers(path: Path, seen: tuple[Path, ...] = ()) -> list[Any]:
    """The YAML of ``path`` preceded by its ``base:`` chain (bases first)."""
    if not path.is_file():
        raise RecipeError(f"{path}: recipe not found")
    if path.resolve() in seen:
        raise RecipeError(f"{path}: base recipes form a cycle")
    raw = load_yaml(path, error=RecipeError)  # FILE:LINE on a syntax error or duplicate key
    if not isinstance(raw, DictConfig):
        raise RecipeError(f"{path}: a recipe is a mapping of keys, not a list")
    base = raw.get("base")
    parents = _layers((path.parent / base), (*seen, path.resolve())) if base else []
    return [*parents, raw]


def _override_name(item: str, section: str) -> Any:
    """The component name an override ``section.name=X`` or ``section={name: X, ...}`` sets."""
    key, _, value = item.partition("=")
    parsed = parse_value(value) if value else None
    if key.strip() == f"{section}.name":
        return parsed
    if key.strip() == section and isinstance(parsed, dict):
        return parsed.get("name")
    return None


def restart_renamed(layers: list[Any], overrides: list[str] | None) -> list[Any]:
    """A component section whose ``name`` changes starts afresh instead of merging: the base's
    arguments (a cosine schedule's ``alpha_f``) belong to the base's component. A change is
    judged against the name in effect, so a layer that leaves ``name`` out or restates it keeps
    what it inherits.
    """
    for section in COMPONENTS:
        cut, effective = 0, None
        for i, layer in enumerate(layers):
            name = (
                layer[section].get("name") if isinstance(layer.get(section), DictConfig) else None
            )
            if name is not None and effective is not None and name != effective:
                cut = i
            effective = name if name is not None else effective
        if any(_override_name(item, section) not in (None, effective) for item in overrides or []):
            cut = len(layers)
        for layer in layers[:cut]:
            layer.pop(section, None)
    return layers


def recipe_layers(path: Path, overrides: list[str] | None = None) -> list[Any]:
    """The layers of the recipe at ``path``, bases first, renamed components restarted."""
    return restart_renamed(_layers(path), overrides)


def load_as(
    schema: type[T], path: Path, overrides: list[str] | None = None, layers: list[Any] | None = None
) -> T:
    """The recipe at ``path`` (or its ``layers``) and ``overrides`` as ``schema``, checked;
    :class:`RecipeError` names the file and the key.
    """
    layers = recipe_layers(path, overrides) if layers is None else layers
    return merge_structured(schema, layers, str(path), overrides, error=RecipeError)


def resolved(recipe: TrainingSettings) -> dict[str, Any]:
    """The recipe as plain data, interpolations resolved (written into the run folder)."""
    return as_plain_dict(recipe)
