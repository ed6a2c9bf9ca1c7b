"""An input's size, read from its header before anything is decoded.

A 441 KB PNG can claim 20,000 × 20,000 pixels and a few kilobytes of FLAC can claim hours of audio: decoding them
is what costs memory, so the library, the CLI and the server read the header first (Pillow and libsndfile read
headers without decoding) and refuse what lies outside the ranges the models accept. The serving graphs make the
same checks in TensorFlow (``image.decode_image``, ``audio.decode_audio``), because stock TF Serving runs them
without this Python.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass

import soundfile as sf
from PIL import Image, UnidentifiedImageError

from zoo.preprocessing import audio, image
from zoo.preprocessing.errors import AudioInputError, ImageInputError

# Pillow's format names → what the graph's decoder is (PNG, JPEG and BMP; GIF frames are decoded whole before
# one is kept, so a GIF's header does not bound its cost)
IMAGE_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "BMP": "BMP"}
AUDIO_FORMATS = {"WAV": "wav", "WAVEX": "wav", "FLAC": "flac", "OGG": "ogg", "MP3": "mp3"}


@dataclass(frozen=True)
class ImageHeader:
    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class AudioHeader:
    format: str  # one of audio.FORMATS
    rate: int
    channels: int
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.rate


def image_header(data: bytes) -> ImageHeader:
    """The format and size an image's header states, checked against what the recognizer accepts."""
    if not data:
        raise ImageInputError("image bytes are empty")
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt, (width, height) = img.format, img.size
    except Image.DecompressionBombError as exc:  # Pillow's own, far larger cap: its message gives the pixel count
        found = re.search(r"\((\d+) pixels\)", str(exc))
        count = f"{int(found.group(1)):,}" if found else "more than that"
        raise ImageInputError(f"image has {count} pixels; at most {image.MAX_INPUT_PIXELS:,} pixels are accepted") \
            from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageInputError(f"not an image (PNG, JPEG or BMP): {exc}") from None
    if fmt not in IMAGE_FORMATS:
        raise ImageInputError(f"{fmt} images are not accepted; send PNG, JPEG or BMP")
    check_image_size(width, height)
    return ImageHeader(IMAGE_FORMATS[fmt], width, height)


def check_image_size(width: int, height: int) -> None:
    if min(width, height) < image.MIN_SIDE:
        raise ImageInputError(image.SMALL_MESSAGE.format(width, height))
    if width * height > image.MAX_INPUT_PIXELS:
        raise ImageInputError(image.LARGE_MESSAGE.format(width, height))


def audio_header(data: bytes) -> AudioHeader:
    """Format, rate, channels and length an audio file's header states, checked against the accepted ranges."""
    if not data:
        raise AudioInputError("audio bytes are empty")
    try:
        info = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioInputError(f"not a WAV/FLAC/OGG/MP3 file: {exc}") from None
    fmt = AUDIO_FORMATS.get(info.format)
    if fmt is None:
        raise AudioInputError(f"{info.format} audio is not accepted; send WAV, FLAC, Ogg Vorbis or MP3")
    if fmt == "wav" and info.subtype != "PCM_16":
        raise AudioInputError(f"WAV audio must be 16-bit PCM; this file is {info.subtype_info or info.subtype}")
    if fmt == "ogg" and info.subtype != "VORBIS":
        raise AudioInputError(f"Ogg audio must be Vorbis; this file is {info.subtype_info or info.subtype}")
    header = AudioHeader(fmt, int(info.samplerate), int(info.channels), int(info.frames))
    check_audio(header.rate, header.channels, header.seconds if header.rate > 0 else 0.0)
    return header


def check_audio(rate: int, channels: int, seconds: float) -> None:
    if not audio.MIN_RATE <= rate <= audio.MAX_RATE:
        raise AudioInputError(audio.RATE_MESSAGE.format(rate))
    if not 1 <= channels <= audio.MAX_CHANNELS:
        raise AudioInputError(audio.CHANNELS_MESSAGE.format(channels))
    if seconds > audio.MAX_SECONDS:
        raise AudioInputError(audio.LONG_MESSAGE.format(round(seconds)))
