"""MIDI -> audio with the FluidSynth command-line synthesiser, plus the MIDI edits the dataset builders need.

Rendering runs ``fluidsynth`` in fast-render mode (``-F``: no audio or MIDI driver, no shell) in a temporary
directory, writing raw float32, and stops it as soon as the MIDI's duration plus :data:`TAIL_SECONDS` is written.
Output is deterministic: the same MIDI, soundfont and settings give bit-identical audio (checked with and without
reverb/chorus); effects are off by default, so the audio is dry and room acoustics can be a separate augmentation.

Cost, measured on this 2-core VM: about 0.05 s fixed per call (process start and soundfont parsing, with
``synth.dynamic-sample-loading`` so only the samples a piece uses are read; without it 0.1 s more and 4x the
memory), then roughly 75-170x real time (a 23 s Bach chorale on piano in 0.16 s, a 60 s string-quartet excerpt in
0.8 s).  Loading the soundfont does not dominate, and a persistent FluidSynth process would not help anyway: its
shell cannot render a file, only play in real time.  Parallelise across processes instead.

The soundfont is, in order: the ``soundfont`` argument, ``$SCOREZOO_SOUNDFONT``, :data:`DEFAULT_SOUNDFONT`.
"""
from __future__ import annotations

import io
import math
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import mido
import numpy as np

from zoo.datasets import lifetime

DEFAULT_SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"  # Debian package fluid-soundfont-gm
SOUNDFONT_ENV = "SCOREZOO_SOUNDFONT"
SAMPLE_RATE = 22050  # the rate of the audio front end (zoo.preprocessing.audio.SAMPLE_RATE)
DEFAULT_GAIN = 0.5  # FluidSynth master gain (its default is 0.2); a 4-voice piano chorale peaks near 0.2
TAIL_SECONDS = 0.5  # audio kept after the MIDI's end for note releases; FluidSynth renders ~2-3 s more
DRUM_CHANNEL = 9  # General MIDI percussion: channel 10, zero-based
DEFAULT_TEMPO = 500000  # microseconds per beat (120 bpm), what MIDI assumes without a set_tempo message
_INSTALL_HINT = "install the Debian packages: apt-get install fluidsynth fluid-soundfont-gm"
_MIN_RATE, _MAX_RATE = 8000, 96000  # FluidSynth's synth.sample-rate range; it refuses other rates
_FRAME_BYTES = 8  # FluidSynth's raw output: interleaved stereo float32
_MELODIC_CHANNELS = [c for c in range(16) if c != DRUM_CHANNEL]


class SynthError(RuntimeError):
    """FluidSynth or its soundfont is missing, or rendering failed."""


# --------------------------------------------------------------------------------------------------- MIDI edits


def _read_midi(midi_bytes: bytes) -> mido.MidiFile:
    try:
        return mido.MidiFile(file=io.BytesIO(midi_bytes))
    except (OSError, EOFError, ValueError, KeyError, IndexError) as error:
        raise ValueError(f"not a valid MIDI file: {error}") from error


def _to_bytes(midi: mido.MidiFile) -> bytes:
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def _absolute(track: mido.MidiTrack) -> list[tuple[int, mido.Message]]:
    """(absolute tick, message) pairs, which are easier to edit than delta times."""
    events, now = [], 0
    for message in track:
        now += message.time
        events.append((now, message))
    return events


def _relative(events: list[tuple[int, mido.Message]]) -> mido.MidiTrack:
    track, last = mido.MidiTrack(), 0
    for tick, message in sorted(events, key=lambda event: event[0]):  # stable: equal ticks keep their order
        track.append(message.copy(time=tick - last))
        last = tick
    return track


def midi_duration(midi_bytes: bytes) -> float:
    """Playing time in seconds, tempo changes included (what :func:`render_midi` trims to, plus the tail)."""
    return float(_read_midi(midi_bytes).length)


def _parts(midi: mido.MidiFile) -> list[tuple[int, int]]:
    """(track, channel) pairs that play notes, in order of appearance, drums excluded."""
    parts: list[tuple[int, int]] = []
    for index, track in enumerate(midi.tracks):
        for message in track:
            part = (index, message.channel) if message.type == "note_on" else None
            if part is not None and part[1] != DRUM_CHANNEL and part not in parts:
                parts.append(part)
    return parts


def _channel_map(parts: list[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """Keep channels when every part has its own; else give each part one (music21 writes every part on 0)."""
    if len({channel for _, channel in parts}) == len(parts):
        return {part: part[1] for part in parts}
    if len(parts) > len(_MELODIC_CHANNELS):
        raise ValueError(f"{len(parts)} parts share channels and there are only 15 non-drum MIDI channels")
    return dict(zip(parts, _MELODIC_CHANNELS[: len(parts)], strict=True))


def set_programs(midi_bytes: bytes, programs: Sequence[int] | int) -> bytes:
    """Give every non-drum part a General MIDI program (0-127), e.g. 0 piano, 40 violin, 73 flute.

    A part is a (track, channel) that plays notes; part ``i`` gets ``programs[i % len(programs)]``.  Existing
    program changes of those channels are replaced by one at time 0.  Parts that share a channel across tracks (as
    in music21 output) are moved to channels of their own, so they can sound different; channel 10 is untouched.
    """
    programs = [int(programs)] if isinstance(programs, int | np.integer) else [int(p) for p in programs]
    if not programs or any(not 0 <= p <= 127 for p in programs):
        raise ValueError(f"programs must be General MIDI numbers 0-127, got {programs}")
    midi = _read_midi(midi_bytes)
    parts = _parts(midi)
    channels = _channel_map(parts)
    program_of = {part: programs[i % len(programs)] for i, part in enumerate(parts)}
    for index, track in enumerate(midi.tracks):
        mine = {old: new for (t, old), new in channels.items() if t == index}
        changes = [(0, mido.Message("program_change", channel=new, program=program_of[index, old]))
                   for old, new in mine.items()]
        midi.tracks[index] = _relative(changes + _edit_track(track, mine))
    return _to_bytes(midi)


def merge_midi(files: Sequence[bytes]) -> bytes:
    """One MIDI file playing ``files`` together: every track of the first, and the other files' tracks without their
    tempo events (all must share the first's tempo map and ticks per beat, as Verovio's files of one segment do)."""
    first = _read_midi(files[0])
    merged = mido.MidiFile(type=1, ticks_per_beat=first.ticks_per_beat)
    merged.tracks.extend(first.tracks)
    for data in files[1:]:
        other = _read_midi(data)
        if other.ticks_per_beat != first.ticks_per_beat:
            raise ValueError(f"MIDI files with {first.ticks_per_beat} and {other.ticks_per_beat} ticks per beat")
        for track in other.tracks:
            merged.tracks.append(_relative([(t, m) for t, m in _absolute(track) if m.type != "set_tempo"]))
    return _to_bytes(merged)


def _edit_track(track: mido.MidiTrack, channels: dict[int, int]) -> list[tuple[int, mido.Message]]:
    """Absolute-time events without melodic program changes, channels renumbered by ``channels``."""
    events = []
    for tick, message in _absolute(track):
        channel = getattr(message, "channel", None)
        if message.type == "program_change" and channel != DRUM_CHANNEL:
            continue
        events.append((tick, message.copy(channel=channels[channel]) if channel in channels else message))
    return events


def scale_tempo(midi_bytes: bytes, factor: float) -> bytes:
    """Play ``factor`` times as fast (1.1 = 10 % faster, shorter audio) by rescaling every set_tempo message.

    Without any set_tempo message the MIDI default of 120 bpm is made explicit first (in the first track).
    """
    if not factor > 0:
        raise ValueError(f"tempo factor must be positive, got {factor}")
    midi = _read_midi(midi_bytes)

    def scaled(tempo: int) -> int:
        return min(max(round(tempo / factor), 1), 0xFFFFFF)

    found = False
    for track in midi.tracks:
        for i, message in enumerate(track):
            if message.type == "set_tempo":
                track[i] = message.copy(tempo=scaled(message.tempo))
                found = True
    if not found:
        midi.tracks[0].insert(0, mido.MetaMessage("set_tempo", tempo=scaled(DEFAULT_TEMPO), time=0))
    return _to_bytes(midi)


# ---------------------------------------------------------------------------------------------------- rendering


def soundfont_path(soundfont: str | os.PathLike | None = None) -> Path:
    """The soundfont to use (argument, then ``$SCOREZOO_SOUNDFONT``, then the default), which must exist."""
    path = Path(soundfont or os.environ.get(SOUNDFONT_ENV) or DEFAULT_SOUNDFONT)
    if not path.is_file():
        raise SynthError(f"soundfont {path} not found; {_INSTALL_HINT}, or set {SOUNDFONT_ENV}")
    return path


def fluidsynth_binary() -> str:
    """Path of the ``fluidsynth`` executable."""
    binary = shutil.which("fluidsynth")
    if binary is None:
        raise SynthError(f"the fluidsynth program is not on PATH; {_INSTALL_HINT}")
    return binary


def _release_all_at_end(midi_bytes: bytes) -> bytes:
    """Add sustain-off and all-notes-off on every channel at the last tick.

    Without it a note left on (a note-on without note-off; seen with a music21 string quartet whose parts all share
    channel 0) sustains forever with looped samples such as strings, and FluidSynth, which renders until all voices
    are silent, never stops.
    """
    midi = _read_midi(midi_bytes)
    end = max((tick for track in midi.tracks for tick, _ in _absolute(track)), default=0)
    releases = [
        (end, mido.Message("control_change", channel=channel, control=control, value=0))
        for channel in range(16)
        for control in (64, 123)  # sustain pedal off, all notes off
    ]
    midi.tracks[0] = _relative(_absolute(midi.tracks[0]) + releases)
    return _to_bytes(midi)


def _command(binary: str, sf2: Path, mid: Path, raw: Path, rate: int, gain: float, effects: bool) -> list[str]:
    """Fast render: no MIDI driver (-n), no shell (-i), raw little-endian float32 stereo out, only the samples the
    piece uses loaded (``synth.dynamic-sample-loading``: half the start-up time, a quarter of the memory)."""
    switch = "1" if effects else "0"
    return [
        binary, "-n", "-i", "-q", "-R", switch, "-C", switch, "-g", str(gain), "-r", str(rate),
        "-o", "synth.dynamic-sample-loading=1", "-F", str(raw), "-T", "raw", "-O", "float", "-E", "little",
        str(sf2), str(mid),
    ]


def _run(command: list[str], raw: Path, needed_bytes: int, timeout: float) -> None:
    """Run FluidSynth until it exits or has written ``needed_bytes``, whichever is first.

    Stopping early skips FluidSynth's wait for the last voices to die away (seconds of audio that would be cut off
    anyway) and bounds the output even if a voice never ends.
    """
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   preexec_fn=lifetime.end_with_parent)
        deadline = time.monotonic() + timeout
        try:
            while process.poll() is None:
                if raw.is_file() and raw.stat().st_size >= needed_bytes:
                    break
                if time.monotonic() > deadline:
                    raise SynthError(f"fluidsynth did not finish within {timeout:.0f} s")
                time.sleep(0.005)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
        log.seek(0)
        output = log.read().decode(errors="replace").strip()
    # FluidSynth exits 0 when it merely skips a file it cannot read (it then renders silence), so check its words.
    if process.returncode not in (0, -signal.SIGKILL) or "not a SoundFont or MIDI file" in output:
        raise SynthError(f"fluidsynth failed (exit {process.returncode}): {output[-500:]}")


def render_midi(
    midi_bytes: bytes,
    sample_rate: int = SAMPLE_RATE,
    soundfont: str | os.PathLike | None = None,
    gain: float = DEFAULT_GAIN,
    effects: bool = False,
    timeout: float | None = None,
) -> np.ndarray:
    """Render MIDI to mono float32 audio at ``sample_rate``, ending :data:`TAIL_SECONDS` after the MIDI's end.

    ``effects`` switches FluidSynth's reverb and chorus on.  Samples are not clipped (a loud piece may exceed 1).
    Notes still sounding at the end are released there.  The timeout defaults to 30 s plus a tenth of the
    piece's duration, far above the expected time.
    """
    if not _MIN_RATE <= sample_rate <= _MAX_RATE:
        raise ValueError(f"FluidSynth renders at {_MIN_RATE}-{_MAX_RATE} Hz, not {sample_rate} Hz")
    sf2, binary = soundfont_path(soundfont), fluidsynth_binary()
    duration = midi_duration(midi_bytes)
    frames = math.ceil((duration + TAIL_SECONDS) * sample_rate)
    with tempfile.TemporaryDirectory(prefix="scorezoo-synth-") as tmp:
        mid, raw = Path(tmp) / "in.mid", Path(tmp) / "out.raw"
        mid.write_bytes(_release_all_at_end(midi_bytes))
        command = _command(binary, sf2, mid, raw, sample_rate, gain, effects)
        _run(command, raw, frames * _FRAME_BYTES, timeout or 30.0 + duration / 10)
        if not raw.is_file():
            raise SynthError("fluidsynth wrote no audio")
        stereo = np.fromfile(raw, dtype="<f4", count=frames * 2)
    return stereo[: len(stereo) // 2 * 2].reshape(-1, 2).mean(axis=1, dtype=np.float32)
