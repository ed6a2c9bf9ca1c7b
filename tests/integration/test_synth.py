"""FluidSynth rendering and the MIDI edits around it."""
import io
import shutil
from pathlib import Path

import mido
import numpy as np
import pytest

from zoo.datasets import synth

needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not Path(synth.DEFAULT_SOUNDFONT).is_file(),
    reason="needs the Debian packages fluidsynth and fluid-soundfont-gm",
)


def _music21_midi(parts: list[list[str]], bpm: int = 120) -> bytes:
    """Quarter notes at ``bpm``, one music21 part per list, written as music21 writes MIDI."""
    music21 = pytest.importorskip("music21")
    score = music21.stream.Score()
    for pitches in parts:
        part = music21.stream.Part()
        part.append(music21.tempo.MetronomeMark(number=bpm))
        part.append([music21.note.Note(pitch, quarterLength=1.0) for pitch in pitches])
        score.insert(0, part)
    midi = music21.midi.translate.music21ObjectToMidiFile(score)
    return midi.writestr()


SCALE = ["C4", "D4", "E4", "F4", "G4", "A4", "B4", "C5"]


@pytest.fixture(scope="module")
def scale_midi() -> bytes:
    """The C major scale in quarter notes at 120 bpm: 4 s, plus the silent beat music21 adds at the end."""
    return _music21_midi([SCALE])


def _programs(midi_bytes: bytes) -> dict[int, list[int]]:
    """Channel -> programs set, over all tracks."""
    found: dict[int, list[int]] = {}
    for track in mido.MidiFile(file=io.BytesIO(midi_bytes)).tracks:
        for message in track:
            if message.type == "program_change":
                found.setdefault(message.channel, []).append(message.program)
    return found


def _note_channels(midi_bytes: bytes) -> list[set[int]]:
    tracks = mido.MidiFile(file=io.BytesIO(midi_bytes)).tracks
    return [{m.channel for m in track if m.type == "note_on"} for track in tracks]


@needs_fluidsynth
def test_render_scale_is_mono_float32_with_the_expected_duration(scale_midi):
    assert synth.midi_duration(scale_midi) == pytest.approx(4.5, abs=0.01)
    audio = synth.render_midi(scale_midi)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) / synth.SAMPLE_RATE == pytest.approx(4.5 + synth.TAIL_SECONDS, abs=0.01)
    assert np.sqrt(np.mean(audio**2)) > 1e-3
    first = np.argmax(np.abs(audio) > 1e-3) / synth.SAMPLE_RATE
    assert first < 0.02  # no start-up latency: audio time = MIDI time
    np.testing.assert_array_equal(audio, synth.render_midi(scale_midi))  # deterministic


@needs_fluidsynth
def test_render_at_another_rate(scale_midi):
    audio = synth.render_midi(scale_midi, sample_rate=16000)
    assert len(audio) / 16000 == pytest.approx(4.5 + synth.TAIL_SECONDS, abs=0.01)


def test_set_programs_gives_each_part_its_program_and_channel():
    midi = _music21_midi([SCALE, SCALE[::-1]])
    assert _note_channels(midi)[1:] == [{0}, {0}]  # music21 puts every part on channel 0
    edited = synth.set_programs(midi, [40, 42])
    assert _note_channels(edited)[1:] == [{0}, {1}]
    assert _programs(edited) == {0: [40], 1: [42]}
    assert _programs(synth.set_programs(midi, 73)) == {0: [73], 1: [73]}
    assert synth.midi_duration(edited) == pytest.approx(synth.midi_duration(midi))


def test_set_programs_leaves_drums_alone():
    midi = mido.MidiFile()
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.Message("program_change", channel=9, program=25))
    for channel, note in ((9, 36), (2, 60)):
        track.append(mido.Message("note_on", channel=channel, note=note, velocity=80))
        track.append(mido.Message("note_off", channel=channel, note=note, time=480))
    buffer = io.BytesIO()
    midi.save(file=buffer)
    assert _programs(synth.set_programs(buffer.getvalue(), [19])) == {2: [19], 9: [25]}


def test_set_programs_rejects_bad_input(scale_midi):
    with pytest.raises(ValueError, match="0-127"):
        synth.set_programs(scale_midi, [128])
    with pytest.raises(ValueError, match="not a valid MIDI file"):
        synth.set_programs(b"not midi", 0)


def test_scale_tempo_adds_a_tempo_when_there_is_none():
    midi = mido.MidiFile()
    midi.tracks.append(mido.MidiTrack([mido.Message("note_on", note=60), mido.Message("note_off", note=60, time=960)]))
    buffer = io.BytesIO()
    midi.save(file=buffer)
    assert synth.midi_duration(buffer.getvalue()) == pytest.approx(1.0)  # 2 beats at the default 120 bpm
    assert synth.midi_duration(synth.scale_tempo(buffer.getvalue(), 2.0)) == pytest.approx(0.5)


@needs_fluidsynth
@pytest.mark.parametrize("factor", [1.1, 0.8])
def test_scale_tempo_changes_rendered_duration(scale_midi, factor):
    def music_seconds(midi: bytes) -> float:
        """Until the audio falls below 5 % of its peak: the end of the last note plus a short release."""
        audio = np.abs(synth.render_midi(midi))
        return np.flatnonzero(audio > 0.05 * audio.max())[-1] / synth.SAMPLE_RATE

    ratio = music_seconds(scale_midi) / music_seconds(synth.scale_tempo(scale_midi, factor))
    assert ratio == pytest.approx(factor, rel=0.05)


@needs_fluidsynth
def test_a_note_left_on_does_not_hang_the_render():
    """Looped string samples never die away by themselves; FluidSynth would render forever."""
    midi = mido.MidiFile()
    midi.tracks.append(mido.MidiTrack([
        mido.Message("program_change", program=48),
        mido.Message("note_on", note=60, velocity=90),
        mido.Message("note_on", note=64, velocity=90, time=960),  # 1 s; neither note is ever released
    ]))
    buffer = io.BytesIO()
    midi.save(file=buffer)
    audio = synth.render_midi(buffer.getvalue(), timeout=20)
    assert len(audio) / synth.SAMPLE_RATE == pytest.approx(1.0 + synth.TAIL_SECONDS, abs=0.01)


def test_missing_soundfont_is_named(tmp_path, monkeypatch, scale_midi):
    missing = tmp_path / "nowhere.sf2"
    with pytest.raises(synth.SynthError, match="nowhere.sf2.*fluid-soundfont-gm"):
        synth.render_midi(scale_midi, soundfont=missing)
    monkeypatch.setenv(synth.SOUNDFONT_ENV, str(tmp_path / "from_env.sf2"))
    with pytest.raises(synth.SynthError, match="from_env.sf2"):
        synth.render_midi(scale_midi)


def test_missing_fluidsynth_names_the_packages(monkeypatch, scale_midi):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(synth.SynthError, match="apt-get install fluidsynth fluid-soundfont-gm"):
        synth.fluidsynth_binary()
