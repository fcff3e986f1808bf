"""Backbone weights stored as float16 in HDF5, keyed by layer name: half the size of float32, layout-proof.

Layout: one group per layer (`/<layer name>`), datasets `0`, `1`, ... in `layer.get_weights()` order.
Loading casts back to the layer's dtype; layers absent from the model (an ImageNet head a backbone was built
without) are skipped, but every layer of the model with weights must be in the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import keras
import numpy as np

from toolkit.errors import InputError
from toolkit.saving import write_atomically


def save_weights_float16(model: keras.Model, path: str | os.PathLike) -> Path:
    """Write every weighted layer of `model` (nested models flattened by layer name), atomically."""

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            f.attrs["model_name"] = model.name
            for layer in model.layers:
                weights = layer.get_weights()
                if weights:
                    group = f.create_group(layer.name)
                    for i, w in enumerate(weights):
                        group.create_dataset(str(i), data=np.asarray(w, dtype="float16"))

    return write_atomically(path, ".tmp.h5", write)


def load_weights_float16(model: keras.Model, path: str | os.PathLike) -> None:
    """Set the weights of `model` from a file written by `save_weights_float16`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"No backbone weights at {path}.")
    try:
        with h5py.File(path, "r") as f:
            for layer in model.layers:
                if not layer.weights:
                    continue
                if layer.name not in f:
                    raise InputError(f"{path} has no weights for layer '{layer.name}': is it for another backbone?")
                group = f[layer.name]
                arrays = [group[str(i)][()].astype(w.dtype) for i, w in enumerate(layer.weights)]
                layer.set_weights(arrays)
    except (OSError, KeyError, ValueError) as err:
        raise InputError(f"Cannot read backbone weights {path}: {err}") from err
