"""Deciding what an uploaded file really is, by its content.

The checks run in order of cost: the leading bytes say which format the file
claims to be, and its header how many pixels it has and in what shape
(`read_header`: MAX_IMAGE_PIXELS, MAX_ASPECT_RATIO); Pillow
then opens it with that format's decoder alone and decodes every pixel, under a
pixel limit; last, anything after the image's end is refused, except a little
NUL padding (`check_image`, to run on the decode pool).
"""

from __future__ import annotations

import mmap
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from errors import InvalidImage, UnsupportedType
from storage import decode
from storage.aspect import check_aspect
from storage.decode import without_paths

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
# After the image's end only padding is allowed: at most this many bytes, all
# NUL (some encoders and cameras pad files to a block size). Anything else
# (markup, a PDF, an archive, a camera's appended video) is refused, so no
# document hides behind the pixels.
MAX_PADDING = 4096


@dataclass(frozen=True)
class ImageInfo:
    mime_type: str
    width: int  # as displayed, after EXIF orientation
    height: int
    previewed: bool = False  # whether check_image wrote a preview


def sniff_type(head: bytes) -> str | None:
    for offset, magic, mime in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            if mime == "image/webp" and head[:4] != b"RIFF":
                continue
            return mime
    if head.lstrip()[:5].lower() in _TEXT_IMAGES:
        return "image/svg+xml"
    return None


@dataclass(frozen=True)
class ImageHeader:
    mime_type: str
    width: int  # as stored, before EXIF orientation
    height: int


def read_header(
    path: Path, *, allowed_types: tuple[str, ...], max_pixels: int, max_aspect_ratio: float
) -> ImageHeader:
    """The type and size the file declares, without decoding it; raises
    InvalidImage or UnsupportedType. Cheap: it tells what decoding will cost,
    and whether a model could read its shape (storage/aspect.py)."""
    with path.open("rb") as f:
        head = f.read(64)
    mime = sniff_type(head)
    if mime is None:
        raise InvalidImage("The file is not an image (JPEG or PNG expected).")
    if mime not in allowed_types:
        raise UnsupportedType(
            f"{mime} files are not accepted; allowed types: {', '.join(allowed_types)}."
        )
    try:
        with Image.open(path, formats=[_PILLOW_FORMATS[mime]]) as img:
            width, height = img.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_big(max_pixels) from None
    except Exception as exc:  # Pillow raises many kinds for damaged files
        raise _damaged(exc) from None
    if width * height > max_pixels:
        raise _too_big(max_pixels)
    check_aspect(width, height, max_ratio=max_aspect_ratio)
    return ImageHeader(mime_type=mime, width=width, height=height)


@dataclass(frozen=True)
class PreviewOut:
    """Where check_image writes the preview made from its decode, and its size."""

    path: Path
    side: int


def check_image(
    path: Path, header: ImageHeader, *, max_pixels: int, preview: PreviewOut | None = None
) -> ImageInfo:
    """Decode every pixel and look after the image's end; raises InvalidImage.
    With `preview`, the decoded pixels of an image larger than it are also shrunk
    to what recognition reads (storage/decode.preview) and written there as a
    JPEG: no second decode. ImageInfo.previewed says whether it was written."""
    width, height = _decode(path, header.mime_type, max_pixels, preview)
    _refuse_hidden_tail(path, header.mime_type)
    previewed = preview is not None and max(width, height) > preview.side
    return ImageInfo(header.mime_type, width, height, previewed)


def _too_big(max_pixels: int) -> InvalidImage:
    return InvalidImage(f"The image has more than {max_pixels:,} pixels.")


def _damaged(exc: Exception) -> InvalidImage:
    # Pillow's messages name the file: keep the reason, never the server's path.
    reason = without_paths(str(exc)) or type(exc).__name__
    return InvalidImage(f"The image is damaged or truncated and cannot be read ({reason}).")


def _decode(path: Path, mime: str, max_pixels: int, preview: PreviewOut | None) -> tuple[int, int]:
    fmt = _PILLOW_FORMATS[mime]
    try:
        with Image.open(path, formats=[fmt]) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise _too_big(max_pixels)
            img.verify()  # checksums (PNG CRCs) before spending time decoding
        with Image.open(path, formats=[fmt]) as img:
            # An image no larger than a preview is its own: recognition reads it
            # as it is, with nothing lost to a JPEG.
            side = preview.side if preview and max(width, height) > preview.side else None
            if side and fmt == "JPEG":
                _scaled_for(img, side)
            img.load()  # every pixel: a truncated or corrupt file fails here
            orientation = img.getexif().get(0x0112, 1)
            small = None
            if side:
                small = decode.preview(img, orientation, side=side, full=(width, height))
    # Pillow warns, then fails, past its own pixel limit (checked as it opens the
    # file); either way the image is over ours, which is lower.
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_big(max_pixels) from None
    except InvalidImage:
        raise
    except Exception as exc:  # Pillow raises many kinds for damaged files
        raise _damaged(exc) from None
    if preview is not None and small is not None:
        # Quality 95 with full-resolution colour: the model sees what a decode
        # of the original gives, to within a few grey levels (tests/recognition).
        small.save(preview.path, "JPEG", quality=95, subsampling=0)
    if orientation in (5, 6, 7, 8):  # rotated a quarter turn: shown sideways
        width, height = height, width
    return width, height


def _scaled_for(img: Image.Image, side: int) -> None:
    """Have libjpeg decode `img` at the smallest of its scales (1/2, 1/4, 1/8)
    that still gives 1.5 times a preview of `side`, or whole.

    This is still a check of every pixel. A JPEG's pixels are stored as the
    entropy-coded coefficients of 8x8 blocks; at any scale libjpeg reads and
    decodes every coefficient of every block (it must, to find where the next
    block starts), and that is where a damaged or truncated file fails. What a
    smaller scale leaves out is the full-size inverse DCT, upsampling and colour
    conversion, which cannot fail on any input: a 12 MP photo costs half as much
    (84 ms for 10 MB, against 126). tests/storage/test_images.py mutates JPEGs
    by the hundred and checks that the verdict is the full decode's.
    """
    width, height = img.size
    longest = max(width, height)
    target = side * 3 // 2
    img.draft("RGB", (-(-width * target // longest), -(-height * target // longest)))


def _refuse_hidden_tail(path: Path, mime: str) -> None:
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data.rfind(_ZIP_EOCD, max(0, len(data) - _ZIP_TAIL)) >= 0:
            raise InvalidImage("The file hides an archive after the image; it is refused.")
        end = _IMAGE_END[mime](data)
        if end is None:  # decoders stop once they have the pixels; what follows went unread
            raise InvalidImage("The image has no end marker; it is refused.")
        tail = len(data) - end
        if tail and (tail > MAX_PADDING or data[end:].count(0) != tail):
            raise InvalidImage(
                "The file has other content hidden after the end of the image "
                f"(only up to {MAX_PADDING} NUL bytes of padding may follow it)."
            )


def _png_end(data: mmap.mmap) -> int | None:
    """The offset just past the IEND chunk, walking the chunk headers; None
    when there is none."""
    pos = 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunk_type = data[pos + 4 : pos + 8]
        pos += 12 + length
        if chunk_type == b"IEND":
            return pos if pos <= len(data) else None
    return None


# In entropy-coded data, 0xFF followed by 0x00 is a stuffed byte, by 0xD0-0xD7 a
# restart and by 0xFF fill; anything else is the next marker. A regular
# expression finds it in C: a Python loop took 5 ms over a 10 MB photo.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def _jpeg_end(data: mmap.mmap) -> int | None:
    """The offset just past the EOI marker, or None when there is none. Segments
    are skipped by their length (so an EXIF thumbnail's own EOI is not mistaken
    for the end); entropy-coded data is scanned for the next marker that is not
    a stuffed 0xFF or a restart."""
    pos = 2
    size = len(data)
    while pos + 2 <= size:
        if data[pos] != 0xFF:
            # Stray bytes between segments: libjpeg skips to the next marker and
            # decodes on, so must we, or an EOI beyond them would go unseen.
            pos = data.find(b"\xff", pos)
            if pos < 0:
                return None
            continue
        marker = data[pos + 1]
        if marker == 0xD9:
            return pos + 2
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:  # markers with no length
            pos += 2
            continue
        if pos + 4 > size:
            return None
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        pos += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            found = _NEXT_MARKER.search(data, pos)
            if found is None:
                return None
            pos = found.start()
    return None


def _webp_end(data: mmap.mmap) -> int | None:
    end = 8 + int.from_bytes(data[4:8], "little")
    return end if end <= len(data) else None


_IMAGE_END = {"image/png": _png_end, "image/jpeg": _jpeg_end, "image/webp": _webp_end}
