"""Whether a tokenizer fits a model's weights: the rules the fine-tuning launch and the gauntlet share.

- Size: a tokenizer with more tokens than the embedding has rows makes ids without a row. The
  gauntlet refuses such a checkpoint; a fine-tune would grow the embedding and train random rows
  as the tokens the model learnt.
- Vocabulary: a tokenizer meant for the weights maps every token to the id it had when they
  were trained. The same size is not enough (another BPE of the same size maps ids to other
  words); tokens added on top (a fine-tuning layout's ``[SEP]``, after the base vocabulary) are.
"""

from __future__ import annotations

from typing import Any


def embedding_shortfall(tokens: int, rows: int) -> str | None:
    """Why a tokenizer of ``tokens`` tokens does not fit an embedding of ``rows`` rows, or None."""
    if tokens <= rows:
        return None
    return (
        f"the tokenizer has {tokens} tokens but the model's embedding has {rows} rows; "
        "tokenizer and model do not match"
    )


def _base_vocabulary(tokenizer: Any) -> dict[str, int]:
    """Token -> id of the tokenizer's own model (BPE...), without the tokens added on top."""
    if getattr(tokenizer, "is_fast", False):
        vocab: dict[str, int] = tokenizer.backend_tokenizer.get_vocab(with_added_tokens=False)
        return vocab
    added = tokenizer.get_added_vocab()
    return {t: i for t, i in tokenizer.get_vocab().items() if t not in added}


def vocabulary_difference(reference: Any, other: Any) -> str | None:
    """How ``other`` maps tokens to ids unlike ``reference`` (two tokenizers), or None when alike.

    Alike: the same base vocabulary, token for token and id for id, and every added token the
    two share at the same id; either may have added tokens the other lacks.
    """
    ours, theirs = _base_vocabulary(reference), _base_vocabulary(other)
    shared_added = set(reference.get_added_vocab()) & set(other.get_added_vocab())
    ours.update({t: reference.convert_tokens_to_ids(t) for t in shared_added})
    theirs.update({t: other.convert_tokens_to_ids(t) for t in shared_added})
    moved = sorted(t for t in ours.keys() & theirs.keys() if ours[t] != theirs[t])
    only = len(ours.keys() ^ theirs.keys())
    if not moved and not only:
        return None
    example = f", e.g. {moved[0]!r}: {ours[moved[0]]} vs {theirs[moved[0]]}" if moved else ""
    return (
        f"{len(moved)} tokens have other ids{example}, {only} tokens are in one vocabulary only "
        f"(base vocabularies of {len(ours) - len(shared_added)} and "
        f"{len(theirs) - len(shared_added)} tokens)"
    )
