"""Real image bytes for tests, good and hostile, made on the spot."""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib

from PIL import Image


def jpeg(
    width: int = 64,
    height: int = 48,
    *,
    color: tuple[int, int, int] = (200, 30, 30),
    orientation: int | None = None,
) -> bytes:
    img = Image.new("RGB", (width, height), color)
    # a little structure, so the JPEG has real entropy-coded data
    for x in range(0, width, 7):
        img.putpixel((x, x % height), (x % 256, 255 - x % 256, 90))
    out = io.BytesIO()
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    img.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def noisy_jpeg(width: int, height: int) -> bytes:
    """A JPEG of random pixels: it barely compresses, so its size is predictable
    (about 1.5 bytes per pixel at quality 95)."""
    img = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=95)
    return out.getvalue()


def png(width: int = 40, height: int = 30, *, mode: str = "RGBA") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), "teal").save(out, "PNG")
    return out.getvalue()


def other_format(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), "orange").save(out, fmt)
    return out.getvalue()


def heic_header() -> bytes:
    """The start of a HEIC file (an ISO-BMFF `ftyp` box naming heic): what a
    phone sends. Pillow cannot read it; the server must refuse it by type."""
    ftyp = struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00" + b"mif1heic"
    return ftyp + b"\x00" * 200


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="10" height="10"/></svg>'


def png_bomb(side: int = 20_000) -> bytes:
    """A real decompression bomb: a 1-bit PNG of side x side pixels of zeros,
    a few dozen kilobytes on disk, billions of bytes once decoded to RGB."""
    raw_row = b"\x00" + b"\x00" * ((side + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(raw_row) for _ in range(side)) + compressor.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def jpeg_with_size(width: int, height: int) -> bytes:
    """A small JPEG whose frame header claims another size (65535 x 65535: the
    largest a JPEG can declare)."""
    data = bytearray(jpeg(16, 16))
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def truncated_jpeg() -> bytes:
    whole = jpeg(400, 300)
    return whole[: len(whole) // 2]


def corrupt_png() -> bytes:
    data = bytearray(png(64, 64, mode="RGB"))
    idat = data.find(b"IDAT")
    for i in range(idat + 10, idat + 30):
        data[i] ^= 0xFF
    return bytes(data)


def zip_archive() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.html", "<script>alert(1)</script>")
    return out.getvalue()


def png_zip_polyglot() -> bytes:
    """A PNG that is also a valid ZIP archive (the archive appended after IEND)."""
    blob = png() + zip_archive()
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:  # it really opens as a ZIP
        assert archive.namelist() == ["payload.html"]
    return blob


def jpeg_html_polyglot() -> bytes:
    return jpeg() + b"<html><script>alert(1)</script></html>"


HTML = b"<html><script>alert(document.domain)</script></html>"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
# The start of an MP4, as Samsung and Google motion photos append one after the
# JPEG: a camera's own trailer, refused all the same (the accepted trade-off).
MP4_TAIL = struct.pack(">I", 24) + b"ftypmp42" + b"\x00\x00\x00\x00mp42isom" + b"\x00" * 64


def polyglots() -> dict[str, tuple[str, bytes]]:
    """Images with something else after their end, each a way through an
    earlier check: id -> (file name, bytes)."""
    return {
        "jpeg-newline-html": ("p.jpg", jpeg() + b"\n" + HTML),
        "jpeg-space-html": ("p.jpg", jpeg() + b" " + HTML),
        "jpeg-nul-html": ("p.jpg", jpeg() + b"\x00" * 64 + HTML),
        "png-nul-html": ("p.png", png() + b"\x00" * 64 + HTML),
        "jpeg-nul-pdf": ("p.jpg", jpeg() + b"\x00" * 64 + PDF),
        "jpeg-far-html": ("p.jpg", jpeg() + b"\x00" * 100_000 + HTML),
        # no EOI: a segment that claims to run past the end hides what follows
        "jpeg-no-end-html": ("p.jpg", jpeg()[:-2] + b"\xff\xe1\xff\xff" + HTML),
        "jpeg-motion-photo": ("p.jpg", jpeg() + MP4_TAIL),
    }


def multipart(field: str, filename: str, data: bytes) -> tuple[bytes, dict[str, str]]:
    """A multipart body with the file name sent as raw UTF-8, control characters
    and all, as a hostile client would (HTTP clients percent-encode them)."""
    boundary = "----cars-test-boundary"
    quoted = filename.replace('"', "%22")
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{quoted}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
