"""Corpus → examples: the music21 corpus and its split contract, engraving, synthesis, alignment, TFRecords, and
readers of public packages (PrIMuS). The notation itself (tokens, encoder, decoder) is :mod:`zoo.notation`."""
