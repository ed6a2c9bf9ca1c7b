"""The sign head's labels and the reading rules that read it: the plain-Python reference on tokens and the
TensorFlow rules (zoo.decoding) the library and the serving graph run agree."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tests.unit.decoding import reference
from zoo.decoding import Reader
from zoo.decoding.config import Accidentals
from zoo.decoding.rules import accidentals
from zoo.decoding.tables import NO_ALTER, tables
from zoo.notation import printed
from zoo.notation.theory import implied_alter
from zoo.notation.tokens import with_alter
from zoo.notation.vocabulary import load_vocabulary

STAFF = ("clef-G2 keySignature-DM timeSignature-4/4 note-F#4_quarter note-C5_quarter note-C#5_quarter "
         "note-C5_quarter barline note-F4_half tie note-F4_quarter note-F4_quarter barline note-G#4_quarter "
         "note-G#4_quarter gracenote-F#4_eighth note-F#4_half barline").split()


def test_labels_put_a_sign_before_each_note_printed_with_one():
    labels = printed.labels(STAFF)
    assert labels[:5] == ["clef", "keySignature", "key-sharp", "key-sharp", "timeSignature"]
    assert printed.labels(["clef-G2", "keySignature-CM", "note-C5_whole"]) == ["clef", "keySignature", "note@5"]
    # F#4 and C#5 come from the key signature (no sign); C5 after C#5 needs a natural, C#5 after it a sharp
    assert labels[5:11] == ["note@1", "sign-natural", "note@5", "sign-sharp", "note@5", "sign-natural"]
    assert labels.count("sign-sharp") == 2  # C#5 again, and the first G#4 of the third bar
    assert printed.label_ids(STAFF) == [printed.ALPHABET.index(x) for x in labels]


def test_notes_are_labelled_by_their_staff_step_in_the_clef_in_force():
    # C4: a ledger line below the treble staff, the bottom line in the soprano clef, far above the bass staff
    assert printed.labels(["note-C4_quarter", "clef-C1", "note-C4_quarter", "clef-F4", "gracenote-C#4_eighth",
                             "note-C7_whole"]) == ["note@-2", "clef", "note@0", "clef", "sign-sharp", "note@10",
                                                   f"note@{printed.HIGHEST_STEP}"]


def test_the_head_counts_the_first_key_signature_and_the_reading_takes_it():
    assert reference.key_of_labels(["clef", "keySignature", "key-flat", "key-flat", "key-flat", "note@1",
                                    "key-flat"]) == -3
    assert reference.key_of_labels(["clef", "keySignature", "timeSignature", "key-sharp"]) == 0
    assert reference.key_of_labels(["clef", "key-sharp", "note@1"]) is None  # no key signature read
    assert reference.key_of_labels(["keySignature", "key-sharp", "key-flat"]) is None  # mixed: not a key
    assert reference.key_of_labels(["keySignature"] + ["key-flat"] * 8) is None
    read = ["clef-C1", "keySignature-AbM", "note-D5_quarter", "barline", "keySignature-CM"]
    # E♭ major counted: the key is replaced, and D5, showing no sign, is no longer D♭5
    assert reference.apply(read, [1, 1, 0, 1, 1], key=-3) == ["clef-C1", "keySignature-EbM", "note-D5_quarter",
                                                             "barline", "keySignature-CM"]
    assert reference.apply(read, [1, 1, 0, 1, 1]) == read[:2] + ["note-Db5_quarter"] + read[3:]
    assert reference.apply(read, [1] * 5, key=-3, vocabulary=set(read)) == read  # E♭ major not writable


def test_notes_without_a_sign_take_the_key_bar_or_tie_accidental():
    misread = ["note-F4_quarter" if t == "note-F#4_quarter" else t for t in STAFF]  # F♯ of the key dropped
    misread[STAFF.index("note-G#4_quarter") + 1] = "note-G4_quarter"  # sharp of the bar not carried
    nothing_printed = np.zeros(len(STAFF))
    assert reference.apply(misread, nothing_printed) == _implied_everywhere(STAFF)
    printed = np.ones(len(STAFF))  # every note shows a sign: the reading stands
    assert reference.apply(misread, printed) == misread
    # the F4 half is printed with a natural; the notes tied from it and after it in the bar follow it
    staff = list(STAFF)
    evidence = np.zeros(len(staff))
    evidence[staff.index("note-F4_half")] = 1.0
    assert reference.apply(staff, evidence)[8:12] == ["note-F4_half", "tie", "note-F4_quarter", "note-F4_quarter"]
    # a token the model cannot write stays as read
    assert reference.apply(["keySignature-F#M", "note-E4_eighth"], [1, 0], vocabulary={"note-E4_eighth"}) == \
        ["keySignature-F#M", "note-E4_eighth"]
    assert reference.apply(["keySignature-F#M", "note-E4_eighth"], [1, 0]) == ["keySignature-F#M", "note-E#4_eighth"]


def _implied_everywhere(tokens: list[str]) -> list[str]:
    out = list(tokens)
    for i, t in enumerate(tokens):
        if t.startswith(("note-", "gracenote-")):
            out[i] = with_alter(t, implied_alter(out, i))
    return out


def test_the_graph_rule_gives_what_the_token_rule_gives():
    vocabulary = load_vocabulary()
    index = {t: i for i, t in enumerate(vocabulary)}
    rng = np.random.default_rng(0)
    staves = []
    for _ in range(40):  # the staff with random accidentals, some notes showing a sign
        tokens = [with_alter(t, int(rng.integers(-1, 2))) if t.startswith("note-") and rng.random() < 0.4
                  else t for t in STAFF]
        tokens = [t if t in index else "note-C5_quarter" for t in tokens]
        staves.append((tokens, rng.random(len(tokens)) * 0.02))
    expected = [reference.apply(tokens, seen, vocabulary=set(vocabulary)) for tokens, seen in staves]
    length = max(len(t) for t, _ in staves) + 2
    ids = np.full((len(staves), length), len(vocabulary))
    seen = np.ones((len(staves), length), np.float32)
    for row, (tokens, evidence) in enumerate(staves):
        ids[row, : len(tokens)] = [index[t] for t in tokens]
        seen[row, : len(tokens)] = evidence
    got = accidentals.read(tables(tuple(vocabulary)), Accidentals(), tf.constant(ids, tf.int32), tf.constant(seen),
                           tf.fill(ids.shape, NO_ALTER)).numpy()
    assert [[vocabulary[i] for i in row[: len(t)]] for row, t in zip(got, expected)] == expected
    assert any(e != t for e, (t, _) in zip(expected, staves))


def test_graph_greedy_decoding_finds_the_frames_and_keys_the_python_decoder_finds():
    vocabulary = load_vocabulary()
    reader = Reader(vocabulary)
    key_classes = reference.key_classes(vocabulary)
    rng = np.random.default_rng(3)
    frames, classes, staves = 40, len(vocabulary) + 1, 3
    notes = [vocabulary.index(t) for t in ("keySignature-DM", "note-F4_quarter", "note-C5_eighth", "barline")]
    logits = np.full((staves, frames, classes), -5.0, np.float32)
    for b in range(staves):
        for t in range(frames):
            logits[b, t, rng.choice(notes + [classes - 1] * 3)] = 5.0
    logits[:, 0] = -5.0
    logits[:, 0, notes[0]] = 5.0  # all open with D major, sure of it but for staff 0, which doubts it for E♭ major
    logits[0, 0, [notes[0], vocabulary.index("keySignature-EbM")]] = [2.0, 1.8]
    signs = rng.normal(0, 3, (staves, frames, len(printed.ALPHABET) + 1)).astype(np.float32)
    blank = len(printed.ALPHABET)
    head = [printed.ALPHABET.index(x) for x in ("keySignature", "key-flat", "key-flat", "key-flat", "note@1")]
    for t, label in enumerate(np.stack([head, [blank] * len(head)], 1).ravel()):  # staves 0, 1: three flats
        signs[:2, t, label] += 20
    lengths = np.array([frames, frames, 25], np.int32)
    got = reader(tf.nn.softmax(logits), tf.constant(lengths), tf.nn.softmax(signs)).ids.numpy()
    for b in range(staves):
        probs = tf.nn.softmax(logits[b]).numpy()
        decoded = reference.greedy(probs, int(lengths[b]))
        tokens, _ = reference.read(decoded, vocabulary, probs, tf.nn.softmax(signs[b]).numpy(), int(lengths[b]),
                                key_classes, writable=set(vocabulary))
        assert [vocabulary[i] for i in got[b] if i < len(vocabulary)] == tokens
        assert tokens[0] == ("keySignature-EbM" if b == 0 else "keySignature-DM")
    empty = reader(tf.nn.softmax(tf.fill([1, 6, classes], -5.0) + tf.one_hot([classes - 1], classes) * 10),
                   tf.constant([6]), tf.nn.softmax(signs[:1, :6]))
    assert empty.ids.shape == (1, 0) and empty.confidence.numpy().tolist() == [1.0]


def _read_both_ways(logits: np.ndarray, signs: np.ndarray) -> list[tuple[list[str], list[str]]]:
    """Each staff's reading [B, frames, classes] by the reference and by the Reader, as tokens."""
    vocabulary = load_vocabulary()
    frames = logits.shape[1]
    lengths = tf.constant(np.full(len(logits), frames, np.int32))
    got = Reader(vocabulary)(tf.nn.softmax(logits), lengths, tf.nn.softmax(signs)).ids.numpy()
    out = []
    for b in range(len(logits)):
        probs = tf.nn.softmax(logits[b]).numpy()
        tokens, confidences = reference.read(reference.greedy(probs, frames), vocabulary, probs,
                                             tf.nn.softmax(signs[b]).numpy(), frames,
                                             reference.key_classes(vocabulary), writable=set(vocabulary))
        assert len(confidences) == len(tokens)
        out.append((tokens, [vocabulary[i] for i in got[b] if i < len(vocabulary)]))
    return out


def test_a_doubted_note_moves_to_the_staff_step_the_head_is_sure_of_in_python_and_in_the_graph():
    vocabulary = load_vocabulary()
    classes = len(vocabulary) + 1
    # (clef, logits of the read note and its next choices, head's logits for steps at the note's frame, reading)
    cases = [("clef-C1", {"note-A4_eighth": 2.0, "note-F4_eighth": 1.5, "note-C5_eighth": 1.0}, {"note@7": 20},
              "note-C5_eighth"),  # doubted; C5 is on the head's step 7 in the soprano clef
             ("clef-G2", {"note-A4_eighth": 2.0, "note-E5_eighth": 1.5, "note-C5_eighth": 1.0}, {"note@7": 20},
              "note-E5_eighth"),  # the same step in the treble clef is E5
             ("clef-C1", {"note-A4_eighth": 8.0, "note-C5_eighth": 1.0}, {"note@7": 20}, "note-A4_eighth"),  # sure
             ("clef-C1", {"note-A4_eighth": 2.0, "note-C5_eighth": 1.0}, {"note@7": 5, "note@3": 5},
              "note-A4_eighth"),  # the head doubts too
             ("clef-C1", {"note-A4_eighth": 2.0, "note-C5_quarter": 1.5}, {"note@7": 20}, "note-C5_eighth"),  # the
             # read value is kept: no choice has it on the step, so the note is put there without an accidental
             ("clef-G2", {"note-A4_eighth": 2.0, "note-F#4_eighth": 1.5}, {"note@6": 20}, "note-D5_eighth"),
             ("clef-G2", {"note-A4_eighth": 2.0}, {f"note@{printed.HIGHEST_STEP}": 20}, "note-A4_eighth")]  # beyond
    logits = np.full((len(cases), 6, classes), -5.0, np.float32)
    signs = np.zeros((len(cases), 6, len(printed.ALPHABET) + 1), np.float32)
    signs[:, :, -1] = 10.0  # the head reads blanks but at the note
    logits[:, [1, 3, 4, 5], -1] = 10.0
    for b, (clef, read, steps, _) in enumerate(cases):
        logits[b, 0, vocabulary.index(clef)] = 10.0
        for token, value in read.items():
            logits[b, 2, vocabulary.index(token)] = value
        for label, value in steps.items():
            signs[b, 2, printed.ALPHABET.index(label)] = value
    for (tokens, graph), (clef, *_, expected) in zip(_read_both_ways(logits, signs), cases):
        assert tokens == graph == [clef, expected]


def test_a_note_takes_the_sign_the_head_is_sure_is_printed_on_it_in_python_and_in_the_graph():
    vocabulary = load_vocabulary()
    classes = len(vocabulary) + 1
    # (key, the note read, the head's logits for signs just before it, reading)
    cases = [("keySignature-CM", "note-D4_quarter", {"sign-sharp": 20}, "note-D#4_quarter"),  # the sharp was missed
             ("keySignature-CM", "note-E4_half", {"sign-sharp": 20}, "note-E#4_half"),
             ("keySignature-DM", "note-F#4_quarter", {"sign-natural": 20}, "note-F4_quarter"),  # against the key
             ("keySignature-CM", "note-D4_quarter", {"sign-sharp": 3, "sign-flat": 3}, "note-D4_quarter")]  # unsure
    logits = np.full((len(cases), 6, classes), -5.0, np.float32)
    signs = np.zeros((len(cases), 6, len(printed.ALPHABET) + 1), np.float32)
    signs[:, :, -1] = 10.0
    logits[:, [1, 3, 5], -1] = 10.0
    for b, (key, read, seen, _) in enumerate(cases):
        logits[b, 0, vocabulary.index(key)] = 10.0
        logits[b, 2, vocabulary.index(read)] = 10.0
        logits[b, 4, vocabulary.index("barline")] = 10.0
        for label, value in seen.items():
            signs[b, 1, printed.ALPHABET.index(label)] = value
    for (tokens, graph), (key, *_, expected) in zip(_read_both_ways(logits, signs), cases):
        assert tokens == graph == [key, expected, "barline"]


def test_a_tie_the_head_sees_between_two_notes_of_one_pitch_is_read_in_python_and_in_the_graph():
    vocabulary = load_vocabulary()
    classes = len(vocabulary) + 1
    # (tokens read at frames 0, 2, 4, the head's tie logit at frames 1 and 3, reading)
    over = ["note-F4_half", "barline", "note-F4_quarter"]
    next_to = ["note-F4_half", "note-F4_quarter", "barline"]
    other = ["note-F4_half", "barline", "note-G4_quarter"]
    cases = [(over, 20, ["note-F4_half", "tie", "barline", "note-F4_quarter"]),
             (next_to, 20, ["note-F4_half", "tie", "note-F4_quarter", "barline"]),
             (other, 20, other),  # another pitch
             (over, 0, over)]  # the head sees no tie
    logits = np.full((len(cases), 6, classes), -5.0, np.float32)
    signs = np.zeros((len(cases), 6, len(printed.ALPHABET) + 1), np.float32)
    signs[:, :, -1] = 10.0
    logits[:, [1, 3, 5], -1] = 10.0
    for b, (read, tie, _) in enumerate(cases):
        for t, token in enumerate(read):
            logits[b, 2 * t, vocabulary.index(token)] = 10.0
        signs[b, [1, 3], printed.ALPHABET.index("tie")] = tie
    for (tokens, graph), (*_, expected) in zip(_read_both_ways(logits, signs), cases):
        assert tokens == graph == expected
