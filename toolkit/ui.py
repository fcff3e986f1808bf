"""Streamlit helpers shared by the pages in apps/: cached models, safe uploads, clear errors."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import streamlit as st

from toolkit import pretrained
from toolkit.errors import ToolkitError
from toolkit.images import MAX_PIXELS, decode_image

IMAGE_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp"]


@st.cache_resource(show_spinner="Loading model...")
def shipped_model(name: str) -> keras.Model:
    """The shipped model `name`, loaded once per server."""
    return pretrained.load(name)


@st.cache_data
def shipped_card(name: str) -> dict[str, Any]:
    return pretrained.card(name)


def read_uploaded_image(uploaded: Any, mode: str = "RGB", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An `st.file_uploader` file -> uint8 array; raises InputError with a message for the page."""
    return decode_image(uploaded.getvalue(), mode=mode, max_pixels=max_pixels)


def drawing_canvas_available() -> bool:
    return canvas_component() is not None


def drawing_canvas(key: str = "canvas") -> np.ndarray | None:
    """A 280x280 black canvas to draw on in white: its RGBA pixels (H, W, 4) once something is drawn, else None."""
    drawing = canvas_component()(
        stroke_width=18,
        stroke_color="#FFFFFF",
        background_color="#000000",
        height=280,
        width=280,
        return_image_data=True,
        key=key,
    )
    if drawing.image_data is None or drawing.image_data[..., :3].max() == 0:
        return None
    return drawing.image_data


def canvas_component():
    """streamlit-drawable-canvas, or None where it cannot load (it refuses to import outside a running app)."""
    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception:
        return None
    return st_canvas


def enlarge(image: np.ndarray, factor: int = 8) -> np.ndarray:
    """Each pixel as a `factor` x `factor` block, so a 28x28 input shows sharp instead of browser-blurred."""
    return np.repeat(np.repeat(np.asarray(image), factor, 0), factor, 1).squeeze()


def show_error(err: Exception) -> None:
    """A user error as a red box; anything else too, but with its type so it can be reported."""
    if isinstance(err, ToolkitError):
        st.error(str(err))
    else:
        st.error(f"Something went wrong ({type(err).__name__}: {err}).")


def require_shipped(name: str) -> bool:
    """Show a clear message and return False when the model `name` does not ship."""
    if name in pretrained.list():
        return True
    st.warning(
        f"The model '{name}' is not in {pretrained.trained_dir()}. Train it with "
        f"`python -m toolkit.train task=... out=trained/` (see the README)."
    )
    return False
