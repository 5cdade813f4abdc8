"""The gold option of a multiple-choice row, as MedQA and MedMCQA write it: fine-tuning's readers
and the gauntlet's check it here, so a file fails the same way in both."""

from __future__ import annotations

from collections.abc import Iterable

MEDMCQA_OPTIONS = {"A": "opa", "B": "opb", "C": "opc", "D": "opd"}  # letter -> MedMCQA's column


def answer_index(
    letters: Iterable[str], answer: object, where: str, *, error: type[ValueError]
) -> int:
    """Position of MedQA's gold letter ``answer`` (``answer_idx``) among the option ``letters``."""
    order = list(letters)
    if answer not in order:
        raise error(f"{where}: answer_idx {answer!r} is not among the options {', '.join(order)}")
    return order.index(answer)


def cop_index(
    cop: object, cop_base: int, n_options: int, where: str, *, key: str, error: type[ValueError]
) -> int:
    """Position of the gold option from MedMCQA's ``cop``, counted from ``cop_base`` (the setting
    ``key``): the release counts from 1, the hub copy from 0 (-1 on its unlabelled test split),
    so a value out of range is an error, never a shift."""
    if isinstance(cop, bool) or not isinstance(cop, int):
        raise error(f"{where}: 'cop' must be an integer, got {cop!r}")
    last = cop_base + n_options - 1
    if not cop_base <= cop <= last:
        raise error(
            f"{where}: cop {cop} is outside {cop_base}..{last} ({key} {cop_base}); "
            "check the file's convention, or whether this split has answers at all"
        )
    return cop - cop_base
