"""The music-notation domain: PrIMuS semantic tokens, their vocabulary, how a musician reads a staff, and the
conversions between tokens and music21 scores. Models and dataset builders both depend on it; it depends on
neither.

- :mod:`~zoo.notation.tokens` — the token grammar and what one token says
- :mod:`~zoo.notation.vocabulary` — the PrIMuS vocabulary
- :mod:`~zoo.notation.theory` — key signatures, accidentals carried in the bar and over ties, clef lines
- :mod:`~zoo.notation.encoder` / :mod:`~zoo.notation.decoder` — music21 ↔ tokens
- :mod:`~zoo.notation.readers` — score and token files (MEI repaired, ABC under ABC 2.1's accidental rule)
- :mod:`~zoo.notation.printing` — which accidentals an engraved staff must print to be readable
"""
