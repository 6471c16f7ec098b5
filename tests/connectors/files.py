"""Small real media files and posts for the connector tests."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

from connectors.base import OutgoingPost


def png_bytes(width: int = 1, height: int = 1) -> bytes:
    """A valid RGB PNG of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + b"\x1d\x4e\x89" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def png(path: Path, width: int = 1, height: int = 1) -> Path:
    path.write_bytes(png_bytes(width, height))
    return path


def jpeg(path: Path, width: int = 2, height: int = 2) -> Path:
    """A whole JPEG (Pillow's encoder), which validation decodes to its last byte."""
    from PIL import Image

    Image.new("RGB", (width, height), (29, 78, 137)).save(path, format="JPEG")
    return path


def post(text: str, key: str = "delivery-1", **kwargs: Any) -> OutgoingPost:
    return OutgoingPost(text=text, idempotency_key=key, **kwargs)
