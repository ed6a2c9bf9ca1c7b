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
