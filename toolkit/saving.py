"""Saving and loading: atomic writes of models, cards and checkpoints, and `load_model` for any toolkit file.

Everything is written to a temporary file in the target folder and moved over the target with
`os.replace`, which is atomic on POSIX and Windows; a full disk or a kill leaves the old file intact.
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import keras

from toolkit.errors import InputError, ToolkitError

# The modules that define every class a saved toolkit model names (layers, losses, metrics, model classes), all
# registered with `keras.saving.register_keras_serializable(package="toolkit")`. Loading imports these and nothing
# else, so reading a file never runs a task adapter. tests/test_contract.py loads every file in trained/ so.
SAVED_CLASS_MODULES = (
    "toolkit.layers",
    "toolkit.classification",
    "toolkit.denoising.models",
    "toolkit.objects.models",
    "toolkit.separation.model",
    "toolkit.inpainting.dcgan",
    "toolkit.inpainting.fill_net",
)

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def _atomic_target(path: Path, suffix: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_atomically(path: str | os.PathLike, suffix: str, writer: Callable[[Path], None]) -> Path:
    """Call `writer(tmp)` on a temporary file named `*<suffix>` beside `path`, then move it over `path`."""
    path = Path(path)
    try:
        with _atomic_target(path, suffix) as tmp:
            writer(tmp)
    except OSError as err:
        raise ToolkitError(
            f"Cannot write {path}: {err.strerror or err}. The previous file, if any, is unchanged."
        ) from err
    return path


def save_model(model: keras.Model, path: str | os.PathLike) -> Path:
    """Save a `.keras` file atomically."""
    return write_atomically(path, ".tmp.keras", lambda tmp: model.save(tmp))


def save_model_and_card(model: keras.Model, card: dict, stem: str | os.PathLike) -> Path:
    """`<stem>.keras` and its card `<stem>.json`, both written in full before either replaces the old pair.

    Saving them one after the other left a window of minutes (the model's write) in which a kill paired the new
    model with the old card; now it is the instant between two renames.
    """
    stem = Path(stem)
    text = _json_text(card)
    try:
        with _atomic_target(stem.with_suffix(".keras"), ".tmp.keras") as model_tmp:
            with _atomic_target(stem.with_suffix(".json"), ".tmp") as card_tmp:
                model.save(model_tmp)
                card_tmp.write_text(text)
    except OSError as err:
        raise ToolkitError(
            f"Cannot write {stem}.keras: {err.strerror or err}. The previous files are unchanged."
        ) from err
    return stem.with_suffix(".keras")


def save_weights(model: keras.Model, path: str | os.PathLike) -> Path:
    """Save a `.weights.h5` file atomically."""
    return write_atomically(path, ".tmp.weights.h5", lambda tmp: model.save_weights(tmp))


def write_json(data: Any, path: str | os.PathLike) -> Path:
    text = _json_text(data)
    return write_atomically(path, ".tmp", lambda tmp: tmp.write_text(text))


def _json_text(data: Any) -> str:
    return json.dumps(data, indent=2, default=_json_default) + "\n"


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    return str(value)


def register_saved_classes() -> None:
    """Import the modules that register every class a saved toolkit model names (`import toolkit` does this)."""
    for module in SAVED_CLASS_MODULES:
        importlib.import_module(module)


def load_model(path: str | os.PathLike) -> keras.Model:
    """Load a `.keras` file (safe mode on), turning a missing or damaged file into a clear error."""
    register_saved_classes()
    path = Path(path)
    if not path.is_file():
        raise InputError(f"No model file at {path}.")
    try:
        return keras.saving.load_model(path)
    except Exception as err:  # keras raises many kinds for a truncated zip or bad config
        raise InputError(
            f"{path} is not a readable Keras model ({type(err).__name__}: {str(err)[:200]}). "
            "The file may be truncated or corrupt; retrain it or restore it from git."
        ) from err
