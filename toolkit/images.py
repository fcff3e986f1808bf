"""Decoding images that users bring (uploads, bytes): checked before anything heavy happens."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from toolkit.errors import InputError

MAX_PIXELS = 16_000_000  # a 4000x4000 photo; larger ones are refused before decoding
DEEP_GREYS = {"I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I;16N": 65535, "I": 65535, "F": 1}  # mode: white


def require_known_channels(pixels: np.ndarray) -> None:
    """Refuse an (H, W, C) array whose C is not grey (1), RGB (3) or RGBA (4), naming the count it has."""
    if pixels.ndim == 3 and pixels.shape[-1] not in (1, 3, 4):
        raise InputError(f"Expected a grey, RGB or RGBA image, got {pixels.shape[-1]} channels.")


def decode_image(data: bytes, mode: str = "RGB", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Bytes of an image file -> uint8 array (H, W, 3) for mode "RGB" or (H, W) for "L".

    Raises InputError for empty or non-image data and for images over `max_pixels` (checked from
    the header, so a decompression bomb is never decoded).
    """
    if not data:
        raise InputError("The file is empty.")
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise InputError(
                    f"The image is {width}x{height} pixels; the limit is {max_pixels / 1e6:.0f} megapixels. "
                    "Resize it and try again."
                )
            if width < 1 or height < 1:
                raise InputError("The image has no pixels.")
            if image.mode in DEEP_GREYS:  # 16-bit or float greys: PIL would clip them to 255, not scale them
                image = _to_8_bits(image)
            if image.mode in ("RGBA", "LA", "P"):  # flatten transparency onto white, as viewers show it
                background = Image.new("RGBA", image.size, (255, 255, 255, 255))
                image = Image.alpha_composite(background, image.convert("RGBA"))
            return np.asarray(image.convert(mode), dtype=np.uint8)
    except InputError:
        raise
    except Image.DecompressionBombError as err:  # a header PIL itself refuses to open: billions of pixels
        raise InputError(
            f"The image claims more pixels than can be opened safely; the limit is {max_pixels / 1e6:.0f} "
            "megapixels. Resize it and try again."
        ) from err
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as err:
        raise InputError(f"This file is not a readable image ({type(err).__name__}). Use PNG or JPEG.") from err


def _to_8_bits(image: Image.Image) -> Image.Image:
    """A 16-bit (0-65535) or float (0-1) grey image as 8-bit "L"; a float image brighter than 1 is taken as 0-255."""
    values = np.nan_to_num(np.asarray(image, dtype=np.float32))
    white = DEEP_GREYS[image.mode] if image.mode != "F" or values.max(initial=0) <= 1 else 255
    return Image.fromarray(np.clip(values * (255 / white), 0, 255).round().astype(np.uint8), "L")
