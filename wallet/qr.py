"""Credential offers read from a picture of their QR code (a PNG or JPEG file).

The file is hostile input: at most :data:`MAX_IMAGE_BYTES` read, its format checked by its
magic bytes (PNG or JPEG only), its size in pixels checked from the header before a pixel
is decoded (no decompression bomb), and exactly one QR code must be found in it. Pillow
decodes the picture, zxing-cpp finds the QR code; what it says is then an offer like any
other (`ancre.wallet.oid4vci.resolve_offer`).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Final

from ancre.trust.errors import Code, MalformedError

__all__ = ["MAX_IMAGE_BYTES", "MAX_IMAGE_PIXELS", "decode_qr", "looks_like_image"]

MAX_IMAGE_BYTES: Final = 8 * 1024 * 1024
#: 24 megapixels: a phone's photo of a screen fits, a decompression bomb does not.
MAX_IMAGE_PIXELS: Final = 24_000_000
_MAGIC: Final = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG"}


def _bad(why: str) -> MalformedError:
    return MalformedError(Code.OFFER_INVALID, why)


def looks_like_image(text: str) -> bool:
    """Whether the OFFER argument names an image file rather than a URI."""
    return "://" not in text and text.lower().endswith((".png", ".jpg", ".jpeg"))


def decode_qr(path: Path) -> str:
    """The text of the one QR code in the PNG or JPEG file at `path`."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_IMAGE_BYTES + 1)
    except OSError as error:
        raise _bad(f"{path}: {error.strerror}") from None
    if len(raw) > MAX_IMAGE_BYTES:
        raise _bad(f"{path}: the image is over {MAX_IMAGE_BYTES} bytes")
    kind = next((name for magic, name in _MAGIC.items() if raw.startswith(magic)), None)
    if kind is None:
        raise _bad(f"{path}: not a PNG or JPEG image")
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(raw), formats=[kind]) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise _bad(f"{path}: {width}×{height} pixels is over {MAX_IMAGE_PIXELS} pixels")
            grey = image.convert("L")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise _bad(f"{path}: the {kind} image cannot be decoded") from None
    found = zxingcpp.read_barcodes(
        grey, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    )
    texts = [code.text for code in found if code.valid and code.text]
    if not texts:
        raise _bad(f"{path}: no QR code found in the image")
    if len(set(texts)) != 1:
        raise _bad(f"{path}: the image holds {len(texts)} different QR codes")
    return texts[0]
