"""The pixels a backend classifies: the whole image, or the region of it that
an ImageRef's box names, decoded no larger than needed, or taken from an image
already decoded, so that a photo with several vehicles is decoded once (a
region too small in a reduced decode to cover the model's input is decoded
again, at the scale it needs).

Whatever a model reads comes from here, cut to its central part within
MAX_ASPECT_RATIO (storage/aspect.py): a file stored before the rule, or a
detector's thin box, never reaches an image processor over it."""

from __future__ import annotations

import io
import math
from pathlib import Path

from PIL import Image

from recognition.base import Box, DecodedImage, ImageRef
from storage.aspect import central_box, over_ratio, within_aspect
from storage.decode import open_upright_rgb
from storage.decode_pool import decoded_bytes

# EXIF orientations that turn the image a quarter: width and height swap.
_QUARTER_TURNS = {5, 6, 7, 8}


def preview_ref(preview: Path, *, width: int, height: int, side: int, fit: int) -> ImageRef | None:
    """What to recognize instead of the original of an upright `width` x `height`
    image: its stored preview (longest side `side`, made at upload by
    storage/decode.preview), when that still covers the model's `fit` x `fit`
    input; None when only the original does (a panorama, a larger model)."""
    scale = min(1.0, side / max(width, height, 1))
    small = (max(1, round(width * scale)), max(1, round(height * scale)))
    # The preview's sides are rounded twice as it is made (after a whole-factor
    # shrink, then Lanczos): a pixel short of this at most, which the model's
    # resize does not notice.
    if min(small) < fit:
        return None
    return ImageRef(preview, "image/jpeg", width=small[0], height=small[1])


def upright_size(image: Image.Image) -> tuple[int, int]:
    """The size of an opened (not yet decoded) image as displayed."""
    width, height = image.size
    if image.getexif().get(0x0112) in _QUARTER_TURNS:
        return height, width
    return width, height


def decode(ref: ImageRef, *, fit: int) -> DecodedImage:
    """The whole image, upright, decoded to cover at least `fit` x `fit`."""
    with Image.open(ref.path) as header:
        full_width, full_height = upright_size(header)
    return DecodedImage(open_upright_rgb(ref.path, fit=fit), full_width, full_height)


def detector_view(decoded: DecodedImage, *, max_ratio: float) -> tuple[Image.Image, Box]:
    """What a detector looks at in a decoded photo: its central part within the
    ratio, and where that part lies in full-size pixels, to put its boxes back
    in the photo's own coordinates."""
    box = Box(*central_box(decoded.full_width, decoded.full_height, max_ratio=max_ratio))
    if (box.width, box.height) == (decoded.full_width, decoded.full_height):
        return decoded.pixels, box
    return crop_decoded(decoded, box), box


def open_ref(ref: ImageRef, *, fit: int, max_ratio: float) -> Image.Image:
    """What `ref` shows (its box, or all of it), upright RGB, cut to its central
    part within `max_ratio`. `fit` is the side the model resizes to: a file is
    decoded just large enough that the region still covers it (JPEGs at reduced
    scale when they can); the cut keeps the short side, so it changes nothing
    there."""
    return within_aspect(_region(ref, fit=fit), max_ratio=max_ratio)


def _region(ref: ImageRef, *, fit: int) -> Image.Image:
    if ref.decoded is not None:
        region = crop_decoded(ref.decoded, ref.box)
        reduced = ref.decoded.pixels.width < ref.decoded.full_width
        if min(region.size) >= fit or not reduced:
            return region.copy()  # its own pixels: the decode may be shared
    if ref.box is None:
        return open_upright_rgb(ref.path, fit=fit)
    with Image.open(ref.path) as header:
        full_width, full_height = upright_size(header)
    # Decoding at scale s keeps the region at s times its size: ask for the
    # whole image at the size that makes the region's short side reach `fit`.
    short = max(1, min(ref.box.width, ref.box.height))
    whole_fit = math.ceil(fit * min(full_width, full_height) / short)
    decoded = DecodedImage(open_upright_rgb(ref.path, fit=whole_fit), full_width, full_height)
    return crop_decoded(decoded, ref.box)


def decode_cost(ref: ImageRef, *, fit: int) -> int | None:
    """What `open_ref(ref, fit=fit)` may hold in memory, for the decode pool
    (None: unknown, the whole budget). A region of an image already decoded
    costs its copy, unless it has to be decoded again."""
    if ref.decoded is not None:
        region = crop_size(ref.decoded, ref.box)
        if min(region) >= fit or ref.decoded.pixels.width >= ref.decoded.full_width:
            return decoded_bytes(*region)
    return decoded_bytes(ref.width, ref.height, fit=fit) if ref.width else None


def crop_size(decoded: DecodedImage, box: Box | None) -> tuple[int, int]:
    left, top, right, bottom = _corners(decoded, box)
    return right - left, bottom - top


def crop_decoded(decoded: DecodedImage, box: Box | None) -> Image.Image:
    """The region `box` (in full-size pixels) of an image decoded at any scale."""
    if box is None:
        return decoded.pixels
    return decoded.pixels.crop(_corners(decoded, box))


def _corners(decoded: DecodedImage, box: Box | None) -> tuple[int, int, int, int]:
    width, height = decoded.pixels.size
    if box is None:
        return 0, 0, width, height
    sx, sy = width / decoded.full_width, height / decoded.full_height
    left = max(0, math.floor(box.x * sx))
    top = max(0, math.floor(box.y * sy))
    right = min(width, max(left + 1, math.ceil((box.x + box.width) * sx)))
    bottom = min(height, max(top + 1, math.ceil((box.y + box.height) * sy)))
    return left, top, right, bottom


def image_bytes(ref: ImageRef, *, fit: int, max_ratio: float) -> bytes:
    """What a backend that takes bytes (the remote one) is sent: the file's own
    bytes, as ever, when all of it is to be read and its shape is within the
    ratio; else what open_ref reads, as a JPEG of its own (a region, or the
    central part of a file stored before MAX_ASPECT_RATIO: the model behind the
    API resizes as ours do). Raises OSError or ValueError when it cannot be read."""
    if ref.box is None and ref.decoded is None:
        if ref.width and ref.height:
            size = ref.width, ref.height
        else:
            with Image.open(ref.path) as header:
                size = header.size
        if not over_ratio(*size, max_ratio=max_ratio):
            return ref.path.read_bytes()
    return jpeg_bytes(open_ref(ref, fit=fit, max_ratio=max_ratio))


def jpeg_bytes(image: Image.Image, *, quality: int = 95) -> bytes:
    """An image re-encoded for a backend that takes bytes (the remote one)."""
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()
