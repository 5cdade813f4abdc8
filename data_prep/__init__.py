"""PubMed sources -> clean, decontaminated text -> tokenizer -> MDS shards (docs/data-prep.md)."""
