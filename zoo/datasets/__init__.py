"""Corpus → examples: PrIMuS encoding, engraving, synthesis, alignment, splits, readers."""
