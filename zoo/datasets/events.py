"""Symbolic event sequences for the generation models (performance-RNN style, Oore et al. 2018).

Vocabulary (``EVENT_VOCAB_SIZE`` = 356 ids):
  * ``0..127``   NOTE_ON  pitch p
  * ``128..255`` NOTE_OFF pitch p
  * ``256..355`` TIME_SHIFT of (k + 1) × 10 ms, k = 0..99 (longer gaps are several shifts)
Velocity is dropped: the synthesized corpus has none worth learning. Times are in
seconds of the rendered audio, so a clip's events line up with its audio window.
"""
from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

import mido
import numpy as np

NOTE_ON, NOTE_OFF, TIME_SHIFT = 0, 128, 256
SHIFT_STEP = 0.01
MAX_SHIFT_STEPS = 100
EVENT_VOCAB_SIZE = TIME_SHIFT + MAX_SHIFT_STEPS


@dataclass(frozen=True)
class NoteEvent:
    time: float
    pitch: int
    on: bool


def midi_note_events(midi_bytes: bytes) -> list[NoteEvent]:
    """Note on/off events with absolute times in seconds (mido applies the tempo map)."""
    events, now = [], 0.0
    for msg in mido.MidiFile(file=io.BytesIO(midi_bytes)):
        now += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            events.append(NoteEvent(now, msg.note, True))
        elif msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0):
            events.append(NoteEvent(now, msg.note, False))
    return events


def encode_window(events: Iterable[NoteEvent], start: float, seconds: float) -> list[int]:
    """Event ids for [start, start + seconds): notes sounding at ``start`` are (re)struck there."""
    end = start + seconds
    sounding: dict[int, int] = {}
    ids: list[int] = []
    clock = 0.0  # steps of SHIFT_STEP emitted so far, relative to start
    pending: list[tuple[float, int, bool]] = []
    for ev in sorted(events, key=lambda e: (e.time, e.on)):
        if ev.time < start:
            sounding[ev.pitch] = sounding.get(ev.pitch, 0) + (1 if ev.on else -1)
        elif ev.time < end:
            pending.append((ev.time - start, ev.pitch, ev.on))
    head = [(0.0, p, True) for p, n in sorted(sounding.items()) if n > 0]
    for t, pitch, on in head + pending:
        steps = round(t / SHIFT_STEP) - round(clock / SHIFT_STEP)
        while steps > 0:
            k = min(steps, MAX_SHIFT_STEPS)
            ids.append(TIME_SHIFT + k - 1)
            steps -= k
        clock = t
        ids.append((NOTE_ON if on else NOTE_OFF) + pitch)
    return ids


def describe(event_id: int) -> str:
    if event_id < NOTE_OFF:
        return f"on-{event_id}"
    if event_id < TIME_SHIFT:
        return f"off-{event_id - NOTE_OFF}"
    return f"shift-{(event_id - TIME_SHIFT + 1) * 10}ms"


# -- from events back to notes, MIDI and piano rolls (what generated sequences become) ------------------------

PIANO_LOW, PIANO_HIGH = 21, 108  # the 88 keys of a piano roll (Boulanger-Lewandowski et al., 2012)
MAX_NOTE_SECONDS = 4.0  # a note left on longer than this is closed here: nobody holds a key for a whole clip


@dataclass(frozen=True)
class Note:
    pitch: int
    start: float
    end: float


def event_seconds(ids: Iterable[int]) -> float:
    """The time the TIME_SHIFT events of a sequence cover."""
    return sum((i - TIME_SHIFT + 1) * SHIFT_STEP for i in ids if i >= TIME_SHIFT)


def notes_of(ids: Iterable[int], seconds: float | None = None, low: int = 0, high: int = 127) -> list[Note]:
    """The notes an event sequence plays, cleaned as a musician expects.

    A NOTE_OFF of a pitch not sounding is dropped (an orphan); a NOTE_ON of a pitch already sounding ends the
    sounding note first (a re-strike); a note still on at the end (or ``seconds``) is closed there, and none lasts
    longer than ``MAX_NOTE_SECONDS``; a pitch outside ``[low, high]`` is moved by octaves into the range.
    """
    def fold(p: int) -> int:
        while p < low:
            p += 12
        while p > high:
            p -= 12
        return p

    now, sounding, notes = 0.0, {}, []

    def close(pitch: int, at: float) -> None:
        start = sounding.pop(pitch)
        end = min(at, start + MAX_NOTE_SECONDS)
        if end > start:
            notes.append(Note(pitch, round(start, 3), round(end, 3)))

    for i in ids:
        i = int(i)
        if i >= TIME_SHIFT:
            now += (i - TIME_SHIFT + 1) * SHIFT_STEP
            if seconds is not None and now >= seconds:
                now = seconds
                break
        elif i >= NOTE_OFF:
            pitch = fold(i - NOTE_OFF)
            if pitch in sounding:
                close(pitch, now)
        elif i >= 0:
            pitch = fold(i)
            if pitch in sounding:
                close(pitch, now)
            sounding[pitch] = now
    end = now if seconds is None else seconds
    for pitch in list(sounding):
        close(pitch, end)
    return sorted(notes, key=lambda n: (n.start, n.pitch))


def notes_to_midi(notes: Iterable[Note], program: int = 0, velocity: int = 80, tempo_bpm: float = 120.0) -> bytes:
    """A type-0 MIDI file playing ``notes`` on one General MIDI ``program`` (times kept in seconds)."""
    ticks_per_beat = 480
    per_second = ticks_per_beat * tempo_bpm / 60.0
    msgs = []
    for n in notes:
        msgs.append((round(n.start * per_second), 1, n.pitch))
        msgs.append((round(n.end * per_second), 0, n.pitch))
    msgs.sort()  # at one tick, note-offs (0) before note-ons (1)
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm), time=0),
                            mido.Message("program_change", program=program, channel=0, time=0)])
    last = 0
    for tick, on, pitch in msgs:
        track.append(mido.Message("note_on" if on else "note_off", note=pitch, velocity=velocity if on else 0,
                                  channel=0, time=tick - last))
        last = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    out = io.BytesIO()
    mido.MidiFile(tracks=[track], ticks_per_beat=ticks_per_beat, type=0).save(file=out)
    return out.getvalue()


def events_of_notes(notes: Iterable[Note]) -> list[int]:
    """The event sequence of ``notes`` (the inverse of :func:`notes_of` for clean notes)."""
    marks = [NoteEvent(n.start, n.pitch, True) for n in notes] + [NoteEvent(n.end, n.pitch, False) for n in notes]
    end = max((m.time for m in marks), default=0.0)
    return encode_window(marks, 0.0, end + SHIFT_STEP)


def piano_roll(notes: Iterable[Note], frames: int, frame_seconds: float) -> np.ndarray:
    """Binary roll [frames, 88]: a key is on in a frame when its note sounds at any time inside the frame."""
    roll = np.zeros((frames, PIANO_HIGH - PIANO_LOW + 1), np.float32)
    for n in notes:
        if PIANO_LOW <= n.pitch <= PIANO_HIGH:
            first = int(n.start / frame_seconds + 1e-6)
            last = int(np.ceil(n.end / frame_seconds - 1e-6))
            roll[max(0, first):min(frames, max(last, first + 1)), n.pitch - PIANO_LOW] = 1.0
    return roll


def notes_of_roll(roll: np.ndarray, frame_seconds: float) -> list[Note]:
    """One note per run of consecutive on-frames of a key (a roll cannot tell a repeated note from a held one)."""
    notes = []
    frames, keys = roll.shape
    for k in range(keys):
        on = None
        for t in range(frames + 1):
            active = t < frames and roll[t, k] > 0.5
            if active and on is None:
                on = t
            elif not active and on is not None:
                notes.append(Note(PIANO_LOW + k, round(on * frame_seconds, 3), round(t * frame_seconds, 3)))
                on = None
    return sorted(notes, key=lambda n: (n.start, n.pitch))
