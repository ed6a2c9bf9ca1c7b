"""The shared audio front end: decoding, resampling, log-mel, bad-input errors, windows."""
import io

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
import tensorflow as tf

from zoo.preprocessing import audio

RATE_IN = 44100
TONE_HZ = 1000.0


def _tone(seconds: float, rate: int = RATE_IN, hz: float = TONE_HZ) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _encode(samples: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, **({"subtype": subtype} if subtype else {}))
    return buffer.getvalue()


def _peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum)) * rate / len(samples)


def _expected_mel_bin(hz: float) -> int:
    return int(np.argmax(audio.mel_matrix().numpy()[round(hz * audio.N_FFT / audio.SAMPLE_RATE)]))


@pytest.fixture(scope="module")
def stereo() -> np.ndarray:
    """2.5 s, 44.1 kHz, the right channel at half the level of the left (mono mix = 0.75 x left)."""
    left = _tone(2.5)
    return np.stack([left, 0.5 * left], axis=1)


@pytest.fixture(scope="module")
def stereo_wav(stereo) -> bytes:
    return audio.wav_bytes(stereo, RATE_IN)


@pytest.fixture(scope="module")
def serve_fn():
    """What a serving signature does: one scalar string in, one fixed-size log-mel out."""
    return tf.function(audio.audio_bytes_to_log_mel, input_signature=[tf.TensorSpec([], tf.string)])


def test_constants_and_frame_helpers():
    assert audio.frames_per_second() == pytest.approx(43.066, abs=1e-3)
    assert audio.num_frames(audio.CLIP_SECONDS) == 427
    assert audio.log_mel(tf.zeros([audio.num_samples(3.0)])).shape == (audio.num_frames(3.0), audio.N_MELS)


def test_wav_stereo_44k_becomes_mono_22k_with_the_tone_in_place(stereo, stereo_wav):
    samples, rate = audio.decode_audio(stereo_wav)
    assert rate.numpy() == RATE_IN and samples.dtype == tf.float32
    np.testing.assert_allclose(samples.numpy(), stereo.mean(axis=1), atol=1e-4)

    resampled = audio.resample(samples, rate).numpy()
    assert resampled.shape == (audio.num_samples(2.5),)
    assert _peak_hz(resampled, audio.SAMPLE_RATE) == pytest.approx(TONE_HZ, abs=2.0)
    assert np.abs(resampled).max() == pytest.approx(0.375, abs=0.01)

    spec = audio.audio_bytes_to_log_mel(stereo_wav).numpy()
    assert spec.shape == (audio.num_frames(audio.CLIP_SECONDS), audio.N_MELS)
    tone_frames = spec[: audio.num_frames(2.5)]
    assert int(np.argmax(tone_frames.mean(axis=0))) == _expected_mel_bin(TONE_HZ)
    padding = spec[-(-audio.num_samples(2.5) // audio.HOP):]  # frames made of padding only sit at the floor
    np.testing.assert_allclose(padding, np.log(audio.LOG_OFFSET), atol=1e-4)


def test_same_result_inside_tf_function(stereo_wav, serve_fn):
    eager = audio.audio_bytes_to_log_mel(stereo_wav).numpy()
    graph = serve_fn(tf.constant(stereo_wav)).numpy()
    np.testing.assert_allclose(graph, eager, atol=1e-4)


def test_resample_agrees_with_scipy_and_keeps_frequency():
    tone = _tone(1.0, 48000, 440.0)
    ours = audio.resample(tone, 48000, 16000).numpy()
    reference = scipy.signal.resample_poly(tone, 1, 3)
    assert ours.shape == reference.shape == (16000,)
    np.testing.assert_allclose(ours[100:-100], reference[100:-100], atol=2e-3)
    up = audio.resample(_tone(1.0, 16000, 440.0), tf.constant(16000), 22050).numpy()
    assert up.shape == (22050,) and _peak_hz(up, 22050) == pytest.approx(440.0, abs=2.0)


def test_log_mel_matches_numpy():
    """An independent reference; also catches wrong CPU matmul kernels (oneDNN)."""
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, audio.num_samples(2.0)).astype(np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(noise, audio.N_FFT)[:: audio.HOP]
    power = np.abs(np.fft.rfft(frames * scipy.signal.get_window("hann", audio.N_FFT), axis=-1)) ** 2
    expected = np.log(power @ audio.mel_matrix().numpy().astype(np.float64) + audio.LOG_OFFSET)
    np.testing.assert_allclose(audio.log_mel(noise).numpy(), expected, atol=1e-3)


def test_batched_log_mel_matches_single():
    batch = np.stack([_tone(1.0, audio.SAMPLE_RATE, hz) for hz in (220.0, 440.0, 880.0)])
    specs = audio.log_mel(batch)
    assert specs.shape == (3, audio.num_frames(1.0), audio.N_MELS)
    np.testing.assert_allclose(specs[1], audio.log_mel(batch[1]), atol=1e-4)


def test_batch_of_bytes_like_a_preprocessing_fn(stereo_wav):
    specs = audio.audio_bytes_to_log_mel(tf.constant([stereo_wav, stereo_wav]), clip_seconds=2.0)
    assert specs.shape == (2, audio.num_frames(2.0), audio.N_MELS)
    with pytest.raises(ValueError, match="needs clip_seconds"):
        audio.audio_bytes_to_log_mel(tf.constant([stereo_wav]), clip_seconds=None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "audio bytes are empty"),
        (b"<html>not audio at all</html>", "not a WAV/FLAC/OGG/MP3 file"),
        (audio.wav_bytes(_tone(0.4), RATE_IN), "audio is 0.4 s long, at least 1.0 s is needed"),
        (audio.wav_bytes(_tone(2.0), RATE_IN)[:2000], "Data too short"),  # truncated: the decoder's own message
    ],
    ids=["empty", "not-audio", "too-short", "truncated"],
)
def test_bad_input_raises_a_readable_error(data, message, serve_fn):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        audio.audio_bytes_to_log_mel(data)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        serve_fn(tf.constant(data))


def test_silence_is_allowed_and_sits_at_the_floor():
    spec = audio.audio_bytes_to_log_mel(audio.wav_bytes(np.zeros(2 * RATE_IN), RATE_IN), clip_seconds=2.0)
    np.testing.assert_allclose(spec, np.log(audio.LOG_OFFSET), atol=1e-4)


@pytest.mark.parametrize(("fmt", "subtype"), [("FLAC", "PCM_16"), ("FLAC", "PCM_24"), ("OGG", "VORBIS"), ("MP3", None)])
def test_compressed_formats_decode_with_their_rate(stereo, fmt, subtype):
    samples, rate = audio.decode_audio(_encode(stereo, RATE_IN, fmt, subtype))
    assert rate.numpy() == RATE_IN
    assert samples.shape[0] == pytest.approx(len(stereo), abs=RATE_IN // 100)
    assert _peak_hz(samples.numpy(), RATE_IN) == pytest.approx(TONE_HZ, abs=2.0)
    if fmt == "FLAC":  # lossless
        np.testing.assert_allclose(samples.numpy(), stereo.mean(axis=1), atol=1e-4)


def test_mp3_rate_is_read_past_an_id3_tag():
    tag = b"ID3\x04\x00\x00" + bytes([0, 0, 1, 0]) + b"\0" * 128  # ID3v2.4 header, syncsafe size 128
    samples, rate = audio.decode_audio(tag + _encode(_tone(1.0, 16000), 16000, "MP3"))
    assert rate.numpy() == 16000 and samples.shape[0] == pytest.approx(16000, abs=200)


def test_formats_left_out_of_the_graph_fail_clearly(stereo):
    flac = _encode(stereo, RATE_IN, "FLAC")
    with pytest.raises(tf.errors.InvalidArgumentError, match="FLAC decoding is not in this graph"):
        audio.decode_audio(flac, formats=("wav",))
    with pytest.raises(ValueError, match="unknown audio formats"):
        audio.decode_audio(flac, formats=("aiff",))


def test_long_recordings_are_processed_in_windows():
    assert audio.window_starts(25500, 1000).numpy().tolist() == [0, 10000, 20000]  # the last 5.5 s long
    overlapping = audio.window_starts(25500, 1000, window_seconds=10, hop_seconds=5).numpy().tolist()
    assert overlapping == [0, 5000, 10000, 15000, 20000]  # the last one reaches the end
    assert audio.window_starts(20500, 1000).numpy().tolist() == [0, 10000]  # a 0.5-s tail is left out
    assert audio.window_starts(700, 1000).numpy().tolist() == [0]  # check_duration refuses it later
    samples = tf.random.stateless_normal([25500 * 8], seed=[1, 2]) * 0.1
    windows = audio.recording_log_mels(samples, 8000)
    assert windows.shape == (3, audio.num_frames(10.0), audio.N_MELS)
    np.testing.assert_array_equal(windows[2], audio.waveform_to_log_mel(samples[160000:], 8000))


def test_wav_bytes_round_trip_clips_to_16_bit():
    data, rate = sf.read(io.BytesIO(audio.wav_bytes(np.array([0.0, 0.5, 2.0, -2.0]), 8000)), dtype="float32")
    assert rate == 8000
    np.testing.assert_allclose(data, [0.0, 0.5, 1.0, -1.0], atol=1e-4)
