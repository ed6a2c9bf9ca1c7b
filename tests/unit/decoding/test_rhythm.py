"""The rule that fits a bar overrunning its time signature: the plain-Python reference and the TensorFlow rule
the library and the serving graph run agree."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tests.unit.decoding import reference
from zoo.decoding.config import Rhythm
from zoo.decoding.rules import rhythm
from zoo.decoding.tables import tables
from zoo.notation.vocabulary import load_vocabulary

VOCABULARY = load_vocabulary()
INDEX = {t: i for i, t in enumerate(VOCABULARY)}
BLANK = len(VOCABULARY)


def _reading(tokens: list[str], others: dict[int, dict[str, float]] | None = None) -> tuple[list[int], np.ndarray]:
    """Ids and a softmax [frames, V+1] that reads ``tokens`` one per frame, each sure (logit 6) but where
    ``others`` gives other classes' logits at a token."""
    logits = np.zeros((len(tokens), BLANK + 1), np.float32)
    for j, token in enumerate(tokens):
        logits[j, INDEX[token]] = 6.0
        for other, value in (others or {}).get(j, {}).items():
            logits[j, INDEX[other]] = value
    return [INDEX[t] for t in tokens], tf.nn.softmax(logits).numpy()


def _timed(tokens: list[str], others: dict[int, dict[str, float]] | None = None) -> list[str]:
    ids, probs = _reading(tokens, others)
    return [VOCABULARY[i] for i in reference.timed(ids, list(range(len(ids))), VOCABULARY, probs)]


BAR = ["clef-G2", "timeSignature-2/4", "note-A4_quarter", "note-A4_sixteenth.", "note-B4_sixteenth",
       "note-A4_eighth", "barline"]  # 2/4, but the thirty-second B4 read as a sixteenth


def test_a_bar_that_overruns_its_time_signature_takes_the_duration_that_fits():
    fixed = BAR[:4] + ["note-B4_thirty_second"] + BAR[5:]
    assert _timed(BAR, {4: {"note-B4_thirty_second": 2.0}}) == fixed
    # the dotted sixteenth read without its dot would fit too: the more probable change is taken
    assert _timed(BAR, {3: {"note-A4_sixteenth": 3.0}, 4: {"note-B4_thirty_second": 2.0}}) == \
        BAR[:3] + ["note-A4_sixteenth"] + BAR[4:]


def test_a_grace_note_read_as_a_note_is_read_as_a_grace_note_where_the_bar_overruns():
    bar = ["timeSignature-2/4", "note-A5_sixteenth", "note-G5_quarter", "note-G5_quarter", "barline"]
    assert _timed(bar, {1: {"gracenote-A5_eighth": 2.0}}) == [bar[0], "gracenote-A5_eighth"] + bar[2:]
    graced = [bar[0], "gracenote-A5_eighth"] + bar[2:]  # the grace note takes no time: the bar fits
    assert _timed(graced, {2: {"note-G5_eighth": 2.0}}) == graced


def test_a_short_bar_that_one_dot_fills_gains_the_dot():
    bar = ["clef-F4", "timeSignature-3/2", "note-D3_whole", "barline"]  # a dotted whole read without its dot
    assert _timed(bar, {2: {"note-D3_whole.": 2.0}}) == bar[:2] + ["note-D3_whole.", "barline"]
    short = ["timeSignature-5/8", "note-A4_quarter", "note-B4_quarter", "barline"]
    # either dot fills the bar: the more probable is taken
    assert _timed(short, {1: {"note-A4_quarter.": 1.0}, 2: {"note-B4_quarter.": 3.0}})[1:3] == \
        ["note-A4_quarter", "note-B4_quarter."]
    assert _timed(short, {1: {"note-A4_half": 5.0}}) == short  # a short bar takes nothing but a dot


def test_bars_that_fit_fall_short_or_need_an_unlikely_duration_are_left_alone():
    assert _timed(BAR[:4] + ["note-B4_thirty_second"] + BAR[5:]) == BAR[:4] + ["note-B4_thirty_second"] + BAR[5:]
    assert _timed(BAR) == BAR  # nothing else is probable enough: exp(-6) of the read class, beyond COST
    short = BAR[:3] + BAR[5:]  # a pick-up bar
    assert _timed(short, {2: {"note-A4_half": 5.0}}) == short
    assert _timed(short, {2: {"note-A4_quarter.": -2.0}}) == short  # a dot would fill it, but is too unlikely
    # a dot that overfills the bar is not taken
    assert _timed(short, {3: {"note-A4_eighth.": 5.0}}) == short
    whole_rest = ["timeSignature-3/4", "rest-whole", "barline"]  # a whole-bar rest in any metre
    assert _timed(whole_rest, {1: {"rest-half.": 5.0}}) == whole_rest
    # no time signature read: nothing to count against
    assert _timed(BAR[:1] + BAR[2:], {3: {"note-B4_thirty_second": 2.0}}) == BAR[:1] + BAR[2:]


def test_each_bar_is_counted_against_the_time_signature_in_force():
    staff = BAR + ["timeSignature-3/8", "note-C5_eighth", "note-C5_quarter.", "barline", "note-C5_quarter.",
                   "barline"]
    fixed = _timed(staff, {4: {"note-B4_thirty_second": 2.0}, 9: {"note-C5_quarter": 1.5}})
    assert fixed[4] == "note-B4_thirty_second"
    assert fixed[8:11] == ["note-C5_eighth", "note-C5_quarter", "barline"]  # 1/8 + 3/8 > 3/8: one change fits
    assert fixed[11:] == ["note-C5_quarter.", "barline"]


def test_the_graph_rule_gives_what_the_python_rule_gives():
    rng = np.random.default_rng(5)
    durations = ["quarter", "eighth", "sixteenth", "sixteenth.", "thirty_second", "eighth.", "half", "quarter."]
    graces = [f"gracenote-{p}_{d}" for p in ("C5", "A4", "F#4") for d in ("eighth", "sixteenth")]
    signs = [f"note-{p}_{d}" for p in ("C5", "A4", "F#4") for d in durations] + ["rest-eighth", "rest-quarter"]
    signs = [s for s in signs + graces if s in INDEX]
    staves, expected = [], []
    for _ in range(80):
        tokens = ["clef-G2", str(rng.choice(["timeSignature-2/4", "timeSignature-3/8", "timeSignature-C"]))]
        for _ in range(int(rng.integers(1, 4))):
            tokens += list(rng.choice(signs, int(rng.integers(1, 6)))) + ["barline"]
        others = {j: {t[: t.index("_") + 1] + d: float(rng.uniform(0, 5)) for d in rng.choice(durations, 3)}
                  for j, t in enumerate(tokens) if t.startswith("note-") and rng.random() < 0.7}
        for j, t in enumerate(tokens):
            if t.startswith("note-") and rng.random() < 0.2:
                others.setdefault(j, {})["grace" + t[: t.index("_") + 1] + "eighth"] = float(rng.uniform(0, 5))
        others = {j: {t: v for t, v in alternatives.items() if t in INDEX} for j, alternatives in others.items()}
        ids, probs = _reading(tokens, others)
        staves.append((ids, probs))
        expected.append(reference.timed(ids, list(range(len(ids))), VOCABULARY, probs))
    width = max(len(ids) for ids, _ in staves) + 2
    padded = np.full((len(staves), width), BLANK, np.int32)
    at = np.zeros((len(staves), width, BLANK + 1), np.float32)
    for b, (ids, probs) in enumerate(staves):
        padded[b, : len(ids)] = ids
        at[b, : len(ids)] = probs
    got = rhythm.timed(tables(tuple(VOCABULARY)), Rhythm(), tf.constant(padded),
                       tf.constant([len(ids) for ids, _ in staves]), tf.constant(at)).numpy()
    assert [list(row[: len(e)]) for row, e in zip(got, expected)] == expected
    assert sum(e != ids for e, (ids, _) in zip(expected, staves)) >= 5  # the rule changed some staves

