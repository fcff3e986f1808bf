"""Every shipped model, saved on TensorFlow, loads on JAX (the GPU path) and predicts the same."""

import json

import keras
import numpy as np

from tests.harness import run_script
from toolkit import pretrained, saving

JAX_SCRIPT = """
import json, sys
import numpy as np
import keras
from tests.test_backends import networks
from toolkit import saving

folder = sys.argv[1]
differences = {}
for name in json.loads(sys.argv[2]):
    for part, network in networks(saving.load_model(f"{folder}/{name}.keras")).items():
        inputs = np.load(f"{folder}/{name}{part}.inputs.npz")
        expected = np.load(f"{folder}/{name}{part}.outputs.npz")
        arrays = [inputs[k] for k in sorted(inputs.files)]
        outputs = keras.tree.flatten(network.predict(arrays[0] if len(arrays) == 1 else arrays, verbose=0))
        wanted = [expected[f"out{i}"] for i in range(len(outputs))]
        differences[name + part] = max(
            float(np.abs(np.asarray(y, np.float32) - want).max() / (np.abs(want).max() + 1))
            for y, want in zip(outputs, wanted)
        )
print(json.dumps({"backend": keras.backend.backend(), "differences": differences}))
"""


def networks(model: keras.Model) -> dict[str, keras.Model]:
    """The deterministic networks to compare: the model itself, or the functional parts of a subclassed one
    (a DCGAN's generator and discriminator: its own call draws random latent codes)."""
    if hasattr(model, "inputs"):
        return {"": model}
    return {f".{layer.name}": layer for layer in model.layers if isinstance(layer, keras.Model) and layer.inputs}


def sample_inputs(model: keras.Model, rng: np.random.Generator) -> list[np.ndarray]:
    """Two random examples per model input; unknown sizes (fully convolutional models) become 32.

    A noise-level input (FFDNet's `sigma`, sigma / 255) stays in the range the model was trained on, 0-75: far
    outside it the network extrapolates, and bfloat16's rounding, which differs between backends in the last bits,
    grows to a few percent (0.4 % at sigma 25, 6 % at 255).
    """
    top = {"sigma": 75 / 255}
    return [
        rng.uniform(
            0, top.get(tensor.name, 1), [2, *(32 if size is None else size for size in tensor.shape[1:])]
        ).astype("float32")
        for tensor in model.inputs
    ]


def test_shipped_models_saved_on_tensorflow_predict_the_same_on_jax(tmp_path):
    assert keras.backend.backend() == "tensorflow"
    names = pretrained.list()
    assert names, "no shipped models in trained/"
    rng = np.random.default_rng(0)
    tolerances = {}
    for name in names:
        model = pretrained.load(name)
        saving.save_model(model, tmp_path / f"{name}.keras")
        for part, network in networks(model).items():
            inputs = sample_inputs(network, rng)
            outputs = keras.tree.flatten(network.predict(inputs[0] if len(inputs) == 1 else inputs, verbose=0))
            np.savez(tmp_path / f"{name}{part}.inputs.npz", **{f"in{i}": x for i, x in enumerate(inputs)})
            outputs = {f"out{i}": np.asarray(y, np.float32) for i, y in enumerate(outputs)}
            np.savez(tmp_path / f"{name}{part}.outputs.npz", **outputs)
            low_precision = any(layer.dtype_policy.compute_dtype != "float32" for layer in network.layers)
            tolerances[name + part] = 1e-2 if low_precision else 1e-4  # bfloat16 sums differ in their last bits
    stdout = run_script(JAX_SCRIPT, str(tmp_path), json.dumps(names), timeout=600)
    measured = json.loads(stdout.strip().splitlines()[-1])
    assert measured["backend"] == "jax"
    assert sorted(measured["differences"]) == sorted(tolerances), measured
    worse = {name: diff for name, diff in measured["differences"].items() if diff > tolerances[name]}
    assert not worse, f"outputs on JAX differ from TensorFlow's (relative to their scale): {worse}"
