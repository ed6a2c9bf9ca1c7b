"""Genre clips and audio–sheet pairs: small real builds (FluidSynth + FluidR3 GM) and their contracts."""
import io
import json
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from zoo.datasets import build, corpus, events, recipes, tfrecords
from zoo.preprocessing import audio


def _all_examples(out, dataset):
    rows = []
    for split in tfrecords.SPLITS:
        try:
            rows += [(split, ex) for ex in tfrecords.iter_examples(out, split, dataset)]
        except FileNotFoundError:
            pass
    return rows


def test_genre_clips_are_balanced_10s_mono_wavs(genre_build):
    out, report = genre_build
    counts = report["per_genre"]
    assert set(counts) == set(recipes.load_recipe("genres")["genres"])
    assert len(set(counts.values())) == 1, counts
    pool = {int(p) for p in recipes.load_recipe("genres")["instrument_pool"]}
    for split, ex in _all_examples(out, "genre"):
        data, rate = sf.read(io.BytesIO(ex["audio"]))
        assert rate == audio.SAMPLE_RATE and data.ndim == 1
        assert len(data) == int(10 * audio.SAMPLE_RATE)
        assert np.sqrt(np.mean(data**2)) > 0.005
        assert set(ex["programs"]) <= pool
        assert corpus.split_of(ex["piece_id"].decode()) == split
        ids = ex["events"]
        assert len(ids) > 0 and ids.min() >= 0 and ids.max() < events.EVENT_VOCAB_SIZE


def test_genre_clip_events_match_the_audio_window(genre_build):
    out, _ = genre_build
    for _, ex in _all_examples(out, "genre")[:3]:
        shifts = [(i - events.TIME_SHIFT + 1) * events.SHIFT_STEP for i in ex["events"] if i >= events.TIME_SHIFT]
        assert sum(shifts) <= 10.0 + 1e-6
        assert any(i < events.NOTE_OFF for i in ex["events"])


def test_event_encoding_of_a_known_midi():
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000)])
    for pitch in (60, 62):
        track += [mido.Message("note_on", note=pitch, velocity=80, time=0),
                  mido.Message("note_off", note=pitch, velocity=0, time=480)]
    midi.tracks.append(track)
    buf = io.BytesIO()
    midi.save(file=buf)
    evs = events.midi_note_events(buf.getvalue())
    ids = events.encode_window(evs, 0.0, 10.0)
    assert [events.describe(i) for i in ids] == ["on-60", "shift-500ms", "off-60", "on-62", "shift-500ms", "off-62"]
    # A window that starts inside the first note strikes it at its start.
    assert [events.describe(i) for i in events.encode_window(evs, 0.25, 1.0)][:2] == ["on-60", "shift-250ms"]


def test_pairs_snippets_and_excerpts(pairs_build):
    out, report = pairs_build
    assert report["records"] >= 16
    h, w = report["snippet"]
    for split, ex in _all_examples(out, "pairs"):
        snippet = np.asarray(Image.open(io.BytesIO(ex["snippet"])))
        assert snippet.shape == (h, w)
        # The notehead sits on the centre column, inside the staff band.
        centre = snippet[h // 2 - 40: h // 2 + 40, w // 2 - 6: w // 2 + 7]
        assert (centre < 128).any()
        data, rate = sf.read(io.BytesIO(ex["audio"]))
        assert rate == audio.SAMPLE_RATE and len(data) == int(2.0 * rate)
        assert 0 < ex["pitch"] < 128
        assert corpus.split_of(ex["piece_id"].decode()) == split


def test_pairs_onsets_line_up_with_audio_onsets(pairs_build):
    """Spectral flux is far higher at the timemap's onsets than elsewhere: the audio is aligned."""
    out, _ = pairs_build
    at_onsets, elsewhere = [], []
    rng = np.random.default_rng(0)
    fps = audio.frames_per_second()

    def frame(t: float) -> int:  # frame i is centred at (i * HOP + N_FFT / 2) / SAMPLE_RATE
        return int(round(t * fps - (audio.N_FFT / 2) / audio.HOP))

    for res in build.load_results(out):
        by_segment = {}
        for r in res.records:
            by_segment.setdefault(r["segment"], []).append(r["onset_seconds"])
        for seg, onsets in by_segment.items():
            wav = (out / "pairs" / seg / "audio.wav").read_bytes()
            mel = audio.audio_bytes_to_log_mel(wav, clip_seconds=None).numpy()
            flux = np.maximum(np.diff(mel, axis=0), 0).sum(1)
            for t in onsets:
                k = frame(t)
                if 2 <= k < len(flux) - 2:
                    at_onsets.append(flux[k - 2: k + 3].max())
            elsewhere += list(flux[rng.integers(0, len(flux), 20)])
    assert len(at_onsets) >= 10
    assert np.median(at_onsets) > 2.5 * np.median(elsewhere)


def test_pairs_report(pairs_build):
    out, report = pairs_build
    saved = json.loads((out / "build_report.json").read_text())
    assert saved["segments"] == report["segments"] >= 2
    assert set(report["per_font"]) <= {"Leipzig", "Bravura", "Gootville"}


def test_genre_balance_equal_or_capped():
    from zoo.datasets.genre import balance

    records = [{"id": f"{g}{i}", "genre": g} for g, n in (("folk", 5), ("classical", 2)) for i in range(n)]
    assert sorted(r["genre"] for r in balance(records, 4)) == ["classical"] * 2 + ["folk"] * 2
    assert sorted(r["genre"] for r in balance(records, 4, equal=False)) == ["classical"] * 2 + ["folk"] * 4
    per_genre = {"folk": 3, "classical": 1}
    assert sorted(r["genre"] for r in balance(records, per_genre, equal=False)) == ["classical"] + ["folk"] * 3


def test_genres_dance_leaves_out_oneills_airs_and_keeps_every_other_plan():
    """The dance-tune recipe drops O'Neill's nos. 1-700 (airs, songs, harp tunes) and changes no other genre's plan."""
    from zoo.datasets.genre import excluded, plan

    dance, large = recipes.load_recipe("genres-dance"), recipes.load_recipe("genres-large")
    assert excluded("oneills1850/0550-0625.abc", dance["exclude"])
    assert excluded("oneills1850/0626-0700.abc", dance["exclude"])
    assert not excluded("oneills1850/0701-0720.abc", dance["exclude"])
    assert not excluded("ryansMammoth/YorkshireBiteReel.abc", dance["exclude"])
    items = plan(dance)
    fiddle_files = {i.payload[0] for i in items if i.payload[2] == "fiddle"}
    assert fiddle_files and not any(excluded(corpus.CorpusFile(Path(p), "oneills1850").relpath,
                                             dance["exclude"]) for p in fiddle_files if "oneills1850" in p)
    others = {i.key: i.payload for i in items if i.payload[2] != "fiddle"}
    assert others == {i.key: i.payload for i in plan(large) if i.payload[2] != "fiddle"}


def test_merged_josquin_voices_make_one_piece_per_chanson(tmp_path):
    """genres-dance-merged reads a Josquin ABC file (one X: tune per voice) as one piece with all the voices."""
    from zoo.datasets.genre import build_item, plan

    merged = recipes.load_recipe("genres-dance-merged")
    josquin = [f for f, _ in corpus.works(["josquin"], merged["merge_voices"])]
    assert len(josquin) == len(corpus.collection_files("josquin")) < len(corpus.works(["josquin"]))
    item = next(i for i in plan(merged) if i.payload[1] == "josquin")
    assert item.payload[4] is True and [n for n, _ in item.payload[3]] == [1]
    options = {k: merged[k] for k in ("seed", "instrument_pool", "same_instrument_probability", "tempo_range",
                                      "clip_seconds", "sample_rate", "min_clip_rms")}
    result = build_item(item, tmp_path, options)
    voices = corpus.works_in(corpus.CorpusFile(Path(item.payload[0]), "josquin"))
    assert result.records, result
    for record in result.records:
        assert "#" not in record["piece_id"] and record["piece_id"].startswith("josquin/")
        assert len(record["programs"]) == voices > 1  # one instrument per merged voice


def test_merge_voices_of_an_unused_collection_is_refused():
    from zoo.datasets.genre import plan

    recipe = recipes.load_recipe("genres-dance") | {"merge_voices": {"bach": "not a genre's collection here?"}}
    recipe["genres"] = {g: cs for g, cs in recipe["genres"].items() if "bach" not in cs}
    with pytest.raises(ValueError, match="merge_voices names collections no genre uses: bach"):
        plan(recipe)
