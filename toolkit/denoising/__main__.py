"""`python -m toolkit.denoising photo.png [--sigma 25] [--ensemble] [--out FILE] [--model NAME|FILE]`: denoise a photo.

Grey or colour (each channel in turn), 8 or 16 bits: the output keeps the input's mode and bit depth. The default
model is the shipped FFDNet, told `--sigma` (0-255 scale) or, without it, the level estimated from the photo.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from toolkit import pretrained, saving
from toolkit.denoising.inference import denoise_image, estimate_noise_sigma
from toolkit.denoising.models import takes_noise_level
from toolkit.errors import InputError, ToolkitError

DEFAULT_MODELS = ("denoising_ffdnet", "denoising_blind", "denoising")  # the first one shipped


def read_picture(path: Path) -> np.ndarray:
    """uint8 (H, W) or (H, W, 3), or uint16 (H, W) for a 16-bit grey file; colour with alpha loses the alpha."""
    try:
        with Image.open(path) as image:
            if image.mode in ("I;16", "I;16B", "I"):
                return np.asarray(image, dtype=np.int64).clip(0, 65535).astype(np.uint16)
            return np.asarray(image.convert("L" if image.mode in ("L", "LA", "1", "P") else "RGB"))
    except (OSError, UnidentifiedImageError) as err:
        raise InputError(f"Cannot read image {path}: {err}") from err


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m toolkit.denoising", description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("photo", help="an image file (PNG, JPEG, TIFF, ...)")
    parser.add_argument("--sigma", type=float, default=None, help="noise level, 0-255 scale (default: estimated)")
    parser.add_argument(
        "--ensemble", action="store_true", help="average the 8 rotations and mirror images: ~0.1 dB, 8x the time"
    )
    parser.add_argument("--out", default=None, help="output file (default: <photo>_denoised.png beside it)")
    parser.add_argument("--model", default=None, help="a shipped model's name or a .keras file (default: FFDNet)")
    args = parser.parse_args(argv)
    photo = Path(args.photo)
    out = Path(args.out) if args.out else photo.with_name(f"{photo.stem}_denoised.png")
    out = out if out.suffix else out.with_suffix(".png")
    try:
        if args.model and Path(args.model).suffix == ".keras":
            model = saving.load_model(args.model)
        else:
            shipped = pretrained.list()
            name = args.model or next((m for m in DEFAULT_MODELS if m in shipped), DEFAULT_MODELS[-1])
            model = pretrained.load(name)
        picture = read_picture(photo)
        sigma = args.sigma
        if sigma is None and takes_noise_level(model):
            sigma = estimate_noise_sigma(picture / float(np.iinfo(picture.dtype).max))
            print(f"Estimated noise level: sigma = {sigma:.1f} (0-255 scale).")
        clean = denoise_image(model, picture, sigma, args.ensemble)
        saving.write_atomically(out, out.suffix, lambda tmp: Image.fromarray(clean).save(tmp))  # format from the name
    except ToolkitError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from err
    print(f"Wrote {out} ({model.name}).")
    return out


if __name__ == "__main__":
    main()
