"""The recipe kinds, and the loader that knows them all: pretraining here, others by entry point
(group ``biomedlm_recipe_kinds``), so the core never imports the kinds built on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmfoundry.utils.registry_utils import create_registry

from biomedlm.components import check_components
from biomedlm.foundry_config import to_foundry
from biomedlm.preflight import preflight
from biomedlm.recipe import Recipe
from biomedlm.recipe_files import load_as, recipe_layers
from biomedlm.relaunch import AfterFitWork, Finished
from biomedlm.run_record import run_identity
from biomedlm.settings import RecipeError, TrainingSettings

PRETRAINING = "pretraining"  # the kind of a recipe no other kind matches


@dataclass(frozen=True)
class RecipeKind:
    """A kind of recipe: its schema, how its files are told apart, how it launches."""

    schema: type[TrainingSettings]
    # whether a recipe's YAML layers (bases first) and key=value overrides are of this kind
    matches: Callable[[list[Any], list[str] | None], bool]
    # launch checks of a loaded recipe, then llm-foundry's train config and the run's identity
    # (tokenizer and training data: biomedlm.run_record.run_identity)
    prepare: Callable[[Any], tuple[dict[str, Any], dict[str, Any]]]
    # what a finished run still lacks of its work after the last checkpoint (None: nothing, as
    # in pretraining)
    after_fit: Callable[[Any, Finished], AfterFitWork | None] = lambda recipe, finished: None


recipe_kinds = create_registry(
    "biomedlm",
    "recipe_kinds",
    generic_type=RecipeKind,
    entry_points=True,
    description="The recipe kinds biomedlm.train launches (schema, matching, launch).",
)


def prepare_pretraining(recipe: Recipe) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check a pretraining recipe at launch; llm-foundry's config and the run's identity."""
    facts = preflight(recipe)
    cfg = to_foundry(recipe, facts)
    return cfg, run_identity(cfg["tokenizer"]["name"], facts.data)


# pretraining reads any recipe another kind does not match
recipe_kinds.register(
    PRETRAINING, func=RecipeKind(Recipe, lambda layers, overrides: True, prepare_pretraining)
)


def kind_of(layers: list[Any], overrides: list[str] | None = None) -> RecipeKind:
    """The kind a recipe's layers and overrides match; pretraining when no other does."""
    kinds = sorted(recipe_kinds.get_all().items(), key=lambda item: item[0] == PRETRAINING)
    return next(kind for _, kind in kinds if kind.matches(layers, overrides))


def kind_for(recipe: TrainingSettings) -> RecipeKind:
    """The kind of a loaded recipe."""
    return next(k for k in recipe_kinds.get_all().values() if type(recipe) is k.schema)


def load_recipe(
    path: str | Path, overrides: list[str] | None = None, *, components: bool = True
) -> Any:
    """Load and check a recipe of any kind (``components=False``: not its components against the
    registries); raises :class:`RecipeError` in one line.
    """
    path = Path(path)
    layers = recipe_layers(path, overrides)
    recipe = load_as(kind_of(layers, overrides).schema, path, overrides, layers)
    if components:
        try:
            check_components(recipe)
        except ValueError as exc:
            raise RecipeError(f"{path}: {exc}") from None
    return recipe
