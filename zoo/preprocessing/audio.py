"""The audio front end of scorezoo: encoded bytes -> mono 22.05 kHz waveform -> log-mel spectrogram.

Training, the TFX ``preprocessing_fn`` and the TF Serving signature all call :func:`audio_bytes_to_log_mel` (or
:func:`waveform_to_log_mel` for already-decoded audio), so that there is no train/serve skew.  Do not re-implement
any of this elsewhere.

Everything on the tensor path is graph-compatible and works on a scalar ``tf.string`` inside ``tf.function``,
``tf.data`` and SavedModel signatures.  Decoders:

* WAV (16-bit PCM only, any rate, any channel count) uses the core op ``tf.audio.decode_wav``.
* FLAC (8/16/24-bit), Ogg Vorbis and MP3 use tensorflow-io custom ops (``IO>AudioDecode*``).  They work here with
  tensorflow-io 0.37.1 and TF 2.16.2, but the stock TF Serving binary does not contain them
  (tensorflow/serving#1742), and a Python process can only load a SavedModel or TFX transform graph holding them
  after :func:`register_tfio_ops` (a bare ``import tensorflow_io`` loads its kernels lazily, too late).  Build the
  serving signature with ``formats=("wav",)`` when it must load in stock TF Serving.
* The format is chosen by sniffing magic bytes in-graph; the sample rate of FLAC/Ogg/MP3 (which the tensorflow-io
  decoders do not return) is read from the stream header.

Resampling is a band-limited FFT resampler written with core TF ops (not ``tfio.audio.resample``, which works here
but is another custom op, so a WAV-only graph stays loadable everywhere).

Conventions: samples are float32 in [-1, 1]; multichannel audio is mixed down by averaging the channels; the
spectrogram is the natural log of the mel-filtered *power* STFT plus :data:`LOG_OFFSET`; frame ``i`` covers
samples ``[i * HOP, i * HOP + N_FFT)`` (no centre padding, so frame ``i`` is centred at ``(i * HOP + N_FFT / 2) /
SAMPLE_RATE`` seconds).  Pure digital silence is allowed: every log-mel value is then ``log(LOG_OFFSET)`` (about
-13.8), the floor of the scale.
"""
from __future__ import annotations

import functools
import io
import types
from collections.abc import Callable, Sequence

import numpy as np
import soundfile as sf
import tensorflow as tf

from zoo.preprocessing.header_bytes import bits, bytes_at, substr, uint

SAMPLE_RATE = 22050  # Hz; all audio is resampled to this rate (Nyquist 11025 Hz covers the partials that matter)
N_FFT = 2048  # STFT window and FFT length: 92.9 ms, 10.8 Hz per FFT bin, enough to separate low piano notes
HOP = 512  # 23.2 ms between frames, i.e. SAMPLE_RATE / HOP ~= 43.07 frames per second
N_MELS = 128  # mel bands
FMIN = 20.0  # Hz, lowest mel band edge (below the lowest piano note, A0 = 27.5 Hz)
FMAX = 11025.0  # Hz, highest mel band edge = SAMPLE_RATE / 2
LOG_OFFSET = 1e-6  # log-mel = ln(mel power + LOG_OFFSET); keeps silence finite at ln(1e-6) ~= -13.8
CLIP_SECONDS = 10.0  # fixed clip length the genre model and the serving signature see
WINDOW_BATCH = 32  # a recording's windows go through a network this many at a time, so its memory stays bounded
MIN_SECONDS = 1.0  # shorter audio is rejected: a clip padded from less than this is mostly zeros
# What a header may claim. Outside these ranges a file is refused before it is resampled: a WAV claiming 1 Hz
# would be upsampled 22,050-fold, and a few kilobytes of FLAC silence can claim days of audio.
MAX_SECONDS = 1800.0  # a recording of half an hour; split longer ones
MIN_RATE, MAX_RATE = 4000, 192000  # Hz: telephone speech to studio masters
MAX_CHANNELS = 8  # 7.1 surround
RATE_MESSAGE = "sample rate is {} Hz; " f"{MIN_RATE}-{MAX_RATE} Hz is accepted"
CHANNELS_MESSAGE = "audio has {} channels; " f"at most {MAX_CHANNELS} are accepted"
LONG_MESSAGE = "audio is {} s long; " f"at most {MAX_SECONDS:g} s is accepted (split the recording)"
FORMATS = ("wav", "flac", "ogg", "mp3")  # in the order of the in-graph format index
_RESAMPLE_PAD = 2048  # zeros appended before the FFT resampler so the end does not ring into the start
_CROP_CONTEXT_SECONDS = 0.05  # extra input kept on both sides of a centre crop, removed again after resampling
_MP3_SEARCH_BYTES = 8192  # how far after the ID3 tag to look for the first MP3 frame header


def frames_per_second() -> float:
    """Spectrogram frame rate, for converting between frame indices and seconds."""
    return SAMPLE_RATE / HOP


def num_samples(seconds: float) -> int:
    """Length in samples at :data:`SAMPLE_RATE` of ``seconds`` of audio (what ``waveform_to_log_mel`` pads to)."""
    return int(round(seconds * SAMPLE_RATE))


def num_frames(seconds: float) -> int:
    """Frames :func:`log_mel` returns for ``seconds`` of audio (427 for the 10 s clip)."""
    return max(0, 1 + (num_samples(seconds) - N_FFT) // HOP)


# ----------------------------------------------------------------------------------------------------- checks


def _checked(x: tf.Tensor, condition: tf.Tensor, message: str | tf.Tensor) -> tf.Tensor:
    """``x`` made to depend on an assertion, so the check runs in eager, tf.function, tf.data and TF1 graphs."""
    with tf.control_dependencies([tf.debugging.Assert(condition, [message])]):
        return tf.identity(x)


def check_duration(samples: tf.Tensor, rate: tf.Tensor | int, min_seconds: float = MIN_SECONDS) -> tf.Tensor:
    """``samples`` ([N] or [N, C]) unchanged, or an InvalidArgumentError "audio is 0.4 s long, at least 1.0 s ..."."""
    samples = tf.convert_to_tensor(samples)
    seconds = tf.cast(tf.shape(samples)[0], tf.float32) / tf.cast(rate, tf.float32)
    shown = tf.strings.as_string(tf.round(seconds * 100.0) / 100.0, shortest=True)
    message = tf.strings.join(["audio is ", shown, f" s long, at least {float(min_seconds)} s is needed"])
    return _checked(samples, seconds >= min_seconds, message)


# --------------------------------------------------------------------------------------------------- decoding


def _sniff(data: tf.Tensor) -> tf.Tensor:
    """Index into :data:`FORMATS` from the magic bytes, or -1."""
    head = substr(data, 0, 12)
    magic = tf.strings.substr(head, 0, 4)
    first = bytes_at(data, 0, 2)
    is_mp3_frame = tf.logical_and(tf.equal(first[0], 0xFF), tf.equal(bits(first[1], 5, 7), 7))
    found = tf.stack([
        tf.logical_and(tf.equal(magic, "RIFF"), tf.equal(tf.strings.substr(head, 8, 4), "WAVE")),
        tf.equal(magic, "fLaC"),
        tf.equal(magic, "OggS"),
        tf.logical_or(tf.equal(tf.strings.substr(head, 0, 3), "ID3"), is_mp3_frame),
    ])
    return tf.where(tf.reduce_any(found), tf.argmax(tf.cast(found, tf.int32), output_type=tf.int32), -1)


def _tfio() -> types.ModuleType:
    """tensorflow-io, imported only when a compressed format is put in the graph."""
    import tensorflow_io as tfio

    return tfio


def register_tfio_ops() -> None:
    """Load tensorflow-io's kernels now, so ``tf.saved_model.load`` finds the ``IO>AudioDecode*`` ops."""
    from tensorflow_io.python.ops import core_ops

    core_ops.io_audio_decode_flac  # noqa: B018 - the attribute access loads the shared library


def _decode_wav(data: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    audio, rate = tf.audio.decode_wav(data)  # 16-bit PCM only; other encodings raise "Bad audio format"
    return audio, rate


def _decode_flac(data: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """tfio needs the decoder dtype to match the bit depth, so read it (and the rate) from STREAMINFO.

    A FLAC stream of silence packs hours into a few kilobytes, so its stated length (36 bits after the bit
    depth) is checked against :data:`MAX_SECONDS` before anything is decoded.
    """
    info = bytes_at(data, 18, 4)  # STREAMINFO body starts at byte 8; rate: 20 bits from byte 18, then 3 + 5 bits
    rate = tf.bitwise.left_shift(info[0], 12) + tf.bitwise.left_shift(info[1], 4) + bits(info[2], 4, 15)
    depth = tf.bitwise.left_shift(tf.bitwise.bitwise_and(info[2], 1), 4) + bits(info[3], 4, 15) + 1
    frames = tf.bitwise.left_shift(tf.cast(bits(info[3], 0, 15), tf.int64), 32) + uint(data, 22, 4, True)
    seconds = tf.cast(frames, tf.float64) / tf.cast(tf.maximum(rate, 1), tf.float64)
    data = _checked(data, frames > 0, "FLAC header does not state the stream's length")
    data = _checked(data, seconds <= MAX_SECONDS, tf.strings.format(LONG_MESSAGE, tf.round(seconds)))
    decode = _tfio().audio.decode_flac
    audio = tf.case(
        [
            (depth <= 8, lambda: (tf.cast(decode(data, dtype=tf.uint8), tf.float32) - 128.0) / 128.0),
            (depth <= 16, lambda: tf.cast(decode(data, dtype=tf.int16), tf.float32) / 32768.0),
        ],
        default=lambda: tf.cast(decode(data, dtype=tf.int32), tf.float32) / 2147483648.0,
    )
    return audio, rate


def _decode_ogg(data: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The first Ogg page holds the Vorbis identification header, whose bytes 12..15 are the rate (little endian)."""
    start = 27 + bytes_at(data, 26, 1)[0]  # fixed page header, then one byte per segment
    is_vorbis = tf.equal(substr(data, start, 7), b"\x01vorbis")
    rate_bytes = bytes_at(data, start + 12, 4)
    rate = tf.reduce_sum(rate_bytes * tf.constant([1, 1 << 8, 1 << 16, 1 << 24]))
    rate = _checked(rate, is_vorbis, "Ogg stream is not Vorbis (Ogg Opus and Ogg FLAC are not supported)")
    return _tfio().audio.decode_vorbis(data), rate


def _mp3_rate(data: tf.Tensor) -> tf.Tensor:
    """Sample rate from the first valid MPEG audio frame header after an optional ID3v2 tag."""
    head = bytes_at(data, 0, 10)
    tag_size = tf.reduce_sum(head[6:10] * tf.constant([1 << 21, 1 << 14, 1 << 7, 1])) + 10
    tag_size += tf.where(tf.equal(bits(head[5], 4, 1), 1), 10, 0)  # footer present
    start = tf.where(tf.equal(substr(data, 0, 3), "ID3"), tag_size, 0)
    b = bytes_at(data, start, _MP3_SEARCH_BYTES + 2)
    b0, b1, b2 = b[:-2], b[1:-1], b[2:]
    version, layer, bitrate, rate_index = bits(b1, 3, 3), bits(b1, 1, 3), bits(b2, 4, 15), bits(b2, 2, 3)
    valid = tf.reduce_all(
        tf.stack([tf.equal(b0, 0xFF), tf.equal(bits(b1, 5, 7), 7), version != 1, layer != 0, bitrate != 15,
                  rate_index != 3]),
        axis=0,
    )
    i = tf.argmax(tf.cast(valid, tf.int32), output_type=tf.int32)
    table = tf.constant([[11025, 12000, 8000, 0], [0, 0, 0, 0], [22050, 24000, 16000, 0], [44100, 48000, 32000, 0]])
    rate = tf.gather_nd(table, tf.stack([version[i], rate_index[i]]))
    return _checked(rate, tf.reduce_any(valid), "MP3 data has no valid MPEG audio frame header")


def _decode_mp3(data: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    return _tfio().audio.decode_mp3(data), _mp3_rate(data)


def _not_in_graph(name: str, formats: Sequence[str]) -> Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
    """A branch that fails clearly for a format left out of this graph (e.g. to avoid tensorflow-io ops)."""

    def branch(data: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        message = f"{name.upper()} decoding is not in this graph (built with formats={tuple(formats)})"
        return _checked(tf.zeros([0, 1]), tf.constant(False), message), tf.constant(0)

    return branch


_DECODERS = {"wav": _decode_wav, "flac": _decode_flac, "ogg": _decode_ogg, "mp3": _decode_mp3}


def decode_audio(audio_bytes: tf.Tensor | bytes, formats: Sequence[str] = FORMATS) -> tuple[tf.Tensor, tf.Tensor]:
    """Decode WAV/FLAC/Ogg Vorbis/MP3 bytes to mono float32 samples [N] and the int32 sample rate.

    ``formats`` limits which decoders are put in the graph; leaving out flac/ogg/mp3 keeps tensorflow-io ops out.
    Raises InvalidArgumentError for empty bytes, unknown formats, excluded formats, corrupt streams (with the
    decoder's own message, e.g. "Data too short"), and rates, channel counts or lengths outside the accepted
    ranges (:data:`MIN_RATE`..:data:`MAX_RATE`, :data:`MAX_CHANNELS`, :data:`MAX_SECONDS`).
    """
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown audio formats {sorted(unknown)}; choose from {FORMATS}")
    data = tf.convert_to_tensor(audio_bytes, tf.string)
    data = _checked(data, tf.strings.length(data) > 0, "audio bytes are empty")
    kind = _sniff(data)
    kind = _checked(kind, kind >= 0, "not a WAV/FLAC/OGG/MP3 file (unrecognised header bytes)")
    branches = [
        functools.partial(_DECODERS[name] if name in formats else _not_in_graph(name, formats), data)
        for name in FORMATS
    ]
    audio, rate = tf.switch_case(kind, branches)
    rate = tf.cast(rate, tf.int32)
    rate = _checked(rate, rate > 0, "could not read the sample rate from the audio header")
    rate = _checked(rate, tf.logical_and(rate >= MIN_RATE, rate <= MAX_RATE), tf.strings.format(RATE_MESSAGE, rate))
    shape = tf.shape(audio)
    audio = _checked(audio, shape[-1] <= MAX_CHANNELS, tf.strings.format(CHANNELS_MESSAGE, shape[-1]))
    seconds = tf.cast(shape[0], tf.float64) / tf.cast(rate, tf.float64)
    audio = _checked(audio, seconds <= MAX_SECONDS, tf.strings.format(LONG_MESSAGE, tf.round(seconds)))
    return tf.reduce_mean(tf.cast(audio, tf.float32), axis=-1), rate


# ------------------------------------------------------------------------------------------------- resampling


def _gcd(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """Euclid's algorithm on int64 scalars, in-graph."""
    return tf.while_loop(lambda x, y: y > 0, lambda x, y: (y, x % y), (a, b))[0]


def _fft_resample(samples: tf.Tensor, rate_in: tf.Tensor, rate_out: tf.Tensor) -> tf.Tensor:
    """Keep the spectrum below both Nyquist frequencies and re-synthesise at the new length.

    The input is zero-padded to a length whose output length is exact (no time stretch), with at least
    ``_RESAMPLE_PAD`` zeros so that the FFT's wrap-around does not ring the end into the start.
    """
    n_in = tf.shape(samples, out_type=tf.int64)[-1]
    step_in = rate_in // _gcd(rate_in, rate_out)  # input lengths that are multiples of this resample exactly
    n_pad_in = (n_in + _RESAMPLE_PAD + step_in - 1) // step_in * step_in
    n_pad_out = n_pad_in * rate_out // rate_in
    pad = tf.zeros(tf.concat([tf.shape(samples)[:-1], [tf.cast(n_pad_in - n_in, tf.int32)]], 0), samples.dtype)
    spectrum = tf.signal.rfft(tf.concat([samples, pad], -1), fft_length=tf.cast([n_pad_in], tf.int32))
    keep = tf.cast((tf.minimum(n_pad_in, n_pad_out) + 1) // 2, tf.int32)  # below Nyquist: that bin is ambiguous
    missing = tf.cast(n_pad_out // 2 + 1, tf.int32) - keep
    zeros = tf.zeros(tf.concat([tf.shape(spectrum)[:-1], [missing]], 0), spectrum.dtype)
    spectrum = tf.concat([spectrum[..., :keep], zeros], -1)
    out = tf.signal.irfft(spectrum, fft_length=tf.cast([n_pad_out], tf.int32))
    out *= tf.cast(n_pad_out, tf.float32) / tf.cast(n_pad_in, tf.float32)
    n_out = (n_in * rate_out + rate_in // 2) // rate_in
    return out[..., :tf.cast(n_out, tf.int32)]


def resample(samples: tf.Tensor, rate_in: tf.Tensor | int, rate_out: tf.Tensor | int = SAMPLE_RATE) -> tf.Tensor:
    """Resample float32 audio along the last axis ([N] or [B, N]); rates may be tensors (e.g. from a header).

    Band-limited (a brick-wall low-pass at the lower Nyquist frequency, as in ``scipy.signal.resample``), in core
    TF so it runs anywhere a SavedModel can.  Output length is ``round(N * rate_out / rate_in)``.
    """
    samples = tf.convert_to_tensor(samples, tf.float32)
    rate_in = tf.cast(rate_in, tf.int64)
    rate_out = tf.cast(rate_out, tf.int64)
    return tf.cond(tf.equal(rate_in, rate_out), lambda: samples, lambda: _fft_resample(samples, rate_in, rate_out))


# ------------------------------------------------------------------------------------------------ spectrogram


def _center_crop(samples: tf.Tensor, length: tf.Tensor | int) -> tf.Tensor:
    """The middle ``length`` samples of [N], or all of them when shorter."""
    n = tf.shape(samples)[0]
    length = tf.minimum(tf.cast(length, tf.int32), n)
    return samples[(n - length) // 2:][:length]


def fix_length(samples: tf.Tensor, length: int) -> tf.Tensor:
    """[N] -> [length]: centre crop when longer, zeros appended when shorter (the start stays at t = 0)."""
    samples = _center_crop(samples, length)
    out = tf.pad(samples, [[0, length - tf.shape(samples)[0]]])
    return tf.ensure_shape(out, [length])


def mel_matrix() -> tf.Tensor:
    """[N_FFT // 2 + 1, N_MELS] HTK-mel filters of :func:`log_mel`, e.g. to find the band of a frequency."""
    return tf.signal.linear_to_mel_weight_matrix(N_MELS, N_FFT // 2 + 1, SAMPLE_RATE, FMIN, FMAX)


def log_mel(samples: tf.Tensor) -> tf.Tensor:
    """[..., N] samples at :data:`SAMPLE_RATE` -> [..., frames, N_MELS] natural-log mel power spectrogram."""
    samples = tf.convert_to_tensor(samples, tf.float32)
    stft = tf.signal.stft(samples, N_FFT, HOP, N_FFT, window_fn=tf.signal.hann_window, pad_end=False)
    power = tf.math.square(tf.math.abs(stft))
    # tensordot, not einsum: tf.einsum("...k,km->...m") is wrong under oneDNN on AVX512-VNNI CPUs (TF 2.16.2,
    # cf. tensorflow/tensorflow#61510); test_log_mel_matches_numpy guards this.
    mel = tf.tensordot(power, mel_matrix(), axes=1)
    return tf.math.log(mel + LOG_OFFSET)


def waveform_to_log_mel(
    samples: tf.Tensor, rate: tf.Tensor | int, clip_seconds: float | None = CLIP_SECONDS
) -> tf.Tensor:
    """Mono samples [N] at ``rate`` -> [frames, N_MELS]; fixed ``num_frames(clip_seconds)`` frames when given.

    Audio shorter than :data:`MIN_SECONDS` is an error.  Longer audio is centre-cropped *before* resampling (with a
    little context, so crop edges do not ring), which keeps long files cheap; shorter audio is zero-padded.
    """
    samples = check_duration(tf.convert_to_tensor(samples, tf.float32), rate)
    if clip_seconds is None:
        return log_mel(resample(samples, rate))
    rate_f = tf.cast(rate, tf.float32)
    keep = tf.math.ceil((clip_seconds + 2 * _CROP_CONTEXT_SECONDS) * rate_f)
    samples = resample(_center_crop(samples, keep), rate)
    return log_mel(fix_length(samples, num_samples(clip_seconds)))


def audio_bytes_to_log_mel(
    audio_bytes: tf.Tensor | bytes,
    clip_seconds: float | None = CLIP_SECONDS,
    formats: Sequence[str] = FORMATS,
) -> tf.Tensor:
    """Encoded audio -> log-mel: decode, mix to mono, resample, pad/crop to ``clip_seconds``, log-mel.

    A scalar string gives [frames, N_MELS]; a [B] string batch (as in a TFX ``preprocessing_fn``) gives
    [B, frames, N_MELS] and needs a ``clip_seconds``.  See :func:`decode_audio` for ``formats``.
    """
    data = tf.convert_to_tensor(audio_bytes, tf.string)
    if data.shape.rank == 1:
        if clip_seconds is None:
            raise ValueError("a batch of audio needs clip_seconds, so that all spectrograms have the same length")
        spec = tf.TensorSpec([num_frames(clip_seconds), N_MELS], tf.float32)
        return tf.map_fn(lambda one: audio_bytes_to_log_mel(one, clip_seconds, formats), data, fn_output_signature=spec)
    samples, rate = decode_audio(data, formats)
    return waveform_to_log_mel(samples, rate, clip_seconds)


# ------------------------------------------------------------------------------------------------ numpy side


def window_starts(length: tf.Tensor | int, rate: tf.Tensor | int, window_seconds: float = CLIP_SECONDS,
                  hop_seconds: float = CLIP_SECONDS) -> tf.Tensor:
    """Where the windows of a ``length``-sample recording start (int32 [W]), so that it is processed clip by clip.

    Windows are ``window_seconds`` long and ``hop_seconds`` apart until one reaches the end; each but the first
    must hold at least :data:`MIN_SECONDS` of audio (a shorter tail is left out; a recording shorter than that is
    refused by :func:`check_duration`).
    """
    if window_seconds <= 0 or hop_seconds <= 0:
        raise ValueError("window_seconds and hop_seconds must be positive")
    length = tf.cast(length, tf.int64)
    rate = tf.cast(rate, tf.float64)
    window = tf.cast(tf.round(window_seconds * rate), tf.int64)
    hop = tf.cast(tf.round(hop_seconds * rate), tf.int64)
    min_length = tf.cast(tf.math.ceil(MIN_SECONDS * rate), tf.int64)
    last = tf.maximum(tf.constant(0, tf.int64), (length - window + hop - 1) // hop)  # the first reaching the end
    starts = tf.range(last + 1) * hop
    keep = tf.logical_or(tf.equal(starts, 0), length - starts >= min_length)
    return tf.cast(tf.boolean_mask(starts, keep), tf.int32)


def recording_log_mels(samples: tf.Tensor, rate: tf.Tensor | int, window_seconds: float = CLIP_SECONDS,
                       hop_seconds: float = CLIP_SECONDS) -> tf.Tensor:
    """Mono samples [N] of a whole recording at ``rate`` -> [W, frames, N_MELS]: the log-mel of each window of
    :func:`window_starts`, each one as :func:`waveform_to_log_mel` makes a clip. The library and the serving
    signature both classify a recording as the mean over these windows."""
    samples = tf.convert_to_tensor(samples, tf.float32)
    window = tf.cast(tf.round(window_seconds * tf.cast(rate, tf.float64)), tf.int32)
    starts = window_starts(tf.shape(samples)[0], rate, window_seconds, hop_seconds)
    spec = tf.TensorSpec([num_frames(window_seconds), N_MELS], tf.float32)

    def each() -> tf.Tensor:
        return tf.map_fn(lambda start: waveform_to_log_mel(samples[start:start + window], rate, window_seconds),
                         starts, fn_output_signature=spec)

    # a clip of one window (most requests) skips the loop machinery
    return tf.cond(tf.equal(tf.size(starts), 1),
                   lambda: waveform_to_log_mel(samples[:window], rate, window_seconds)[None], each)


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    """16-bit PCM WAV bytes of float samples ([N] or [N, C], clipped to [-1, 1]) that :func:`decode_audio` reads."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(np.asarray(samples, np.float32), -1.0, 1.0), int(rate), format="WAV", subtype="PCM_16")
    return buffer.getvalue()
