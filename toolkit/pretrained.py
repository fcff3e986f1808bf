"""The shipped models in trained/: `load(name)`, `card(name)`, `list()`."""

from __future__ import annotations

import builtins
import json
import os
from pathlib import Path
from typing import Any

import keras

from toolkit import saving
from toolkit.data.paths import REPO_ROOT
from toolkit.errors import InputError


def trained_dir() -> Path:
    """`$TOOLKIT_TRAINED` if set (tests, private model stores), else trained/ in the checkout."""
    return Path(os.environ.get("TOOLKIT_TRAINED") or REPO_ROOT / "trained")


def list() -> builtins.list[str]:  # noqa: A001  the public name the README promises
    """Names of the shipped models (each has a `.keras` file and a card)."""
    return sorted(p.stem for p in trained_dir().glob("*.keras") if p.with_suffix(".json").exists())


def path(name: str) -> Path:
    file = trained_dir() / f"{name}.keras"
    if not file.exists():
        raise InputError(f"No shipped model '{name}' in {trained_dir()}. Shipped: {', '.join(list()) or 'none'}.")
    return file


def load(name: str) -> keras.Model:
    """The shipped model `name` (e.g. "digits"), ready for `predict`."""
    return saving.load_model(path(name))


def card(name: str) -> dict[str, Any]:
    """The model card of the shipped model `name`."""
    file = path(name).with_suffix(".json")
    try:
        return json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"Cannot read the model card {file}: {err}") from err
