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
