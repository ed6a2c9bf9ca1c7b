"""Hostile inputs, crafted the way an attacker or a careless client would send them.

Used by ``tests/integration/security`` (each case with its expected answer) and ``make bench-security`` (each case
against a running server, with its memory before and after). Every input here is small on the wire and claims to be
large.
"""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import soundfile as sf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png(width: int, height: int, idat: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def png_bomb(width: int, height: int) -> bytes:
    """A real grayscale PNG of ``width`` × ``height`` white pixels: kilobytes on the wire, W·H bytes decoded."""
    row = b"\x00" + b"\xff" * width  # filter byte "none", then the row
    packer = zlib.compressobj(9)
    return _png(width, height, b"".join([packer.compress(row) for _ in range(height)] + [packer.flush()]))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` × ``height`` and which carries one 32 × 32 image's data."""
    return _png(width, height, zlib.compress((b"\x00" + b"\xff" * 32) * 32))


def gif(width: int = 64, height: int = 64) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (width, height), 255).save(buffer, format="GIF")
    return buffer.getvalue()


def wav(seconds: float = 1.0, rate: int = 22050, channels: int = 1, seed: int = 0) -> bytes:
    """Quiet noise as 16-bit PCM WAV."""
    samples = np.random.default_rng(seed).normal(0, 0.05, (int(seconds * rate), channels)).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def wav_claiming_rate(rate: int, seconds: float = 1.0) -> bytes:
    """A one-second WAV whose header says it was sampled at ``rate`` Hz (1 Hz: 22,050-fold upsampling)."""
    data = bytearray(wav(seconds))
    fmt = data.index(b"fmt ") + 8
    struct.pack_into("<II", data, fmt + 4, rate, rate * 2)  # sample rate, byte rate (mono 16-bit)
    return bytes(data)


def flac_claiming_seconds(seconds: float, rate: int = 22050) -> bytes:
    """A two-second FLAC whose STREAMINFO says it lasts ``seconds`` (silence packs hours into kilobytes)."""
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(2 * rate, np.float32), rate, format="FLAC", subtype="PCM_16")
    data = bytearray(buffer.getvalue())
    frames = int(seconds * rate)
    data[21] = (data[21] & 0xF0) | ((frames >> 32) & 0x0F)  # total samples: 36 bits from byte 21's low nibble
    struct.pack_into(">I", data, 22, frames & 0xFFFFFFFF)
    return bytes(data)


def string_tensor(values: list[bytes], shape: list[int]) -> tensor_pb2.TensorProto:
    """A DT_STRING TensorProto whose shape says ``shape`` whatever ``values`` it carries."""
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=values)
    proto.tensor_shape.CopyFrom(tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in shape]))
    return proto


# name → (TensorProto, what the server must answer): one value and a shape that claims many, and other lies
def tensor_claims(clip: bytes) -> dict[str, tensor_pb2.TensorProto]:
    unknown_rank = string_tensor([clip], [])
    unknown_rank.tensor_shape.unknown_rank = True
    return {
        "one value, shape [50000000]": string_tensor([clip], [50_000_000]),
        "one value, shape [2000]": string_tensor([clip], [2000]),
        "one value, shape [2^40]": string_tensor([clip], [2 ** 40]),
        "shape [-1]": string_tensor([clip], [-1]),
        "empty batch, shape [0]": string_tensor([], [0]),
        "unknown rank": unknown_rank,
    }
