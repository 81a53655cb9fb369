"""Deciding what an uploaded file really is, by its content.

The checks run in order of cost: the leading bytes say which format the file
claims to be; Pillow then opens it with that format's decoder alone and decodes
every pixel, under a pixel limit; last, bytes hidden after the image's end (a ZIP
or HTML tail that makes the file a polyglot) are refused.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from errors import InvalidImage, UnsupportedType

# Magic numbers of formats people upload, allowed or not, so that a GIF is told
# "type not allowed" (415) rather than "not an image" (400).
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (8, b"WEBP", "image/webp"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (4, b"ftypheic", "image/heic"),
    (4, b"ftypheix", "image/heic"),
    (4, b"ftypmif1", "image/heic"),
    (4, b"ftypavif", "image/avif"),
)
_PILLOW_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
_TEXT_IMAGES = (b"<svg", b"<?xml")

# A ZIP archive is read from its end-of-central-directory record, found in the
# last 64 KiB + 22 bytes of a file: a file with one there opens as an archive.
_ZIP_EOCD = b"PK\x05\x06"
_ZIP_TAIL = 65536 + 22
# What may not follow a JPEG's end marker. Cameras append harmless trailers (a
# motion-photo video, vendor data), so only document and archive formats are refused.
_FORBIDDEN_TRAILERS = (
    b"PK\x03\x04",
    b"%PDF",
    b"<",
    b"Rar!",
    b"7z\xbc\xaf",
    b"\x1f\x8b",
    b"MZ",
    b"\x7fELF",
)


@dataclass(frozen=True)
class ImageInfo:
    mime_type: str
    width: int  # as displayed, after EXIF orientation
    height: int


def sniff_type(head: bytes) -> str | None:
    for offset, magic, mime in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            if mime == "image/webp" and head[:4] != b"RIFF":
                continue
            return mime
    if head.lstrip()[:5].lower() in _TEXT_IMAGES:
        return "image/svg+xml"
    return None


def inspect_image(path: Path, *, allowed_types: tuple[str, ...], max_pixels: int) -> ImageInfo:
    """Check the file at `path` and describe it, or raise InvalidImage/UnsupportedType."""
    with path.open("rb") as f:
        head = f.read(64)
    mime = sniff_type(head)
    if mime is None:
        raise InvalidImage("The file is not an image (JPEG or PNG expected).")
    if mime not in allowed_types:
        raise UnsupportedType(
            f"{mime} files are not accepted; allowed types: {', '.join(allowed_types)}."
        )
    width, height = _decode(path, mime, max_pixels)
    _refuse_hidden_tail(path, mime)
    return ImageInfo(mime_type=mime, width=width, height=height)


def _decode(path: Path, mime: str, max_pixels: int) -> tuple[int, int]:
    fmt = _PILLOW_FORMATS[mime]
    too_big = InvalidImage(f"The image has more than {max_pixels:,} pixels.")
    try:
        with Image.open(path, formats=[fmt]) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise too_big
            img.verify()  # checksums (PNG CRCs) before spending time decoding
        with Image.open(path, formats=[fmt]) as img:
            img.load()  # every pixel: a truncated or corrupt file fails here
            orientation = img.getexif().get(0x0112, 1)
    # Pillow warns, then fails, past its own pixel limit (checked as it opens the
    # file); either way the image is over ours, which is lower.
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_big from None
    except InvalidImage:
        raise
    except Exception as exc:  # Pillow raises many kinds for damaged files
        raise InvalidImage(
            f"The image is damaged or truncated and cannot be read ({exc})."
        ) from None
    if orientation in (5, 6, 7, 8):  # rotated a quarter turn: shown sideways
        width, height = height, width
    return width, height


def _refuse_hidden_tail(path: Path, mime: str) -> None:
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data.rfind(_ZIP_EOCD, max(0, len(data) - _ZIP_TAIL)) >= 0:
            raise InvalidImage("The file hides an archive after the image; it is refused.")
        end = _IMAGE_END[mime](data)
        trailer = data[end : end + 64].lstrip(b"\x00")
        if not trailer:
            return
        if mime != "image/jpeg" or trailer.startswith(_FORBIDDEN_TRAILERS):
            raise InvalidImage("The file has other content hidden after the end of the image.")


def _png_end(data: mmap.mmap) -> int:
    """The offset just past the IEND chunk, walking the chunk headers."""
    pos = 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunk_type = data[pos + 4 : pos + 8]
        pos += 12 + length
        if chunk_type == b"IEND":
            break
    return min(pos, len(data))


def _jpeg_end(data: mmap.mmap) -> int:
    """The offset just past the EOI marker. Segments are skipped by their length
    (so an EXIF thumbnail's own EOI is not mistaken for the end); entropy-coded
    data is scanned for the next marker that is not a stuffed 0xFF or a restart."""
    pos = 2
    size = len(data)
    while pos + 4 <= size:
        if data[pos] != 0xFF:
            return size  # not where a marker should be: let the decoder's verdict stand
        marker = data[pos + 1]
        if marker == 0xD9:
            return pos + 2
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        pos += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= size:
                    return size
                following = data[pos + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    pos += 1
                    continue
                break
    return size


def _webp_end(data: mmap.mmap) -> int:
    return min(len(data), 8 + int.from_bytes(data[4:8], "little"))


_IMAGE_END = {"image/png": _png_end, "image/jpeg": _jpeg_end, "image/webp": _webp_end}
