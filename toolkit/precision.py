"""Numeric precision of a run: which Keras dtype policy is fastest on this hardware, and scopes that set one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import keras

from toolkit.errors import ConfigError

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


def fastest_precision() -> str:
    """mixed_bfloat16 where the hardware computes in bfloat16 natively, float32 elsewhere.

    Native: an accelerator of the active backend that is a TPU or a GPU of compute capability 8.0 or more
    (A100, H100, RTX 30xx and later); without one, a CPU with AVX-512 BF16 or AMX, where bfloat16 convolutions
    run about 3x faster than float32 ones (bench/results/fast_path.md).
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform == "tpu":
            return "mixed_bfloat16"
        if device.platform == "gpu":
            return "mixed_bfloat16" if float(getattr(device, "compute_capability", 0) or 0) >= 8 else "float32"
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0))
            return "mixed_bfloat16" if tuple(capability) >= (8, 0) else "float32"
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        flags = []
    return "mixed_bfloat16" if {"avx512_bf16", "amx_bf16"} & set(flags) else "float32"


def resolve_precision(precision: str) -> str:
    """The Keras dtype policy that `precision` names; "auto" is `fastest_precision()` on this machine."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision={precision} is not one of {', '.join(PRECISIONS)}.")
    return fastest_precision() if precision == "auto" else precision


@contextmanager
def policy_scope(policy: str | keras.DTypePolicy) -> Iterator[None]:
    """Layers made inside take the Keras dtype `policy` (e.g. "bfloat16": 16-bit weights); the old one comes back."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@contextmanager
def dtype_policy(precision: str) -> Iterator[None]:
    """Layers made inside compute in `precision` and keep float32 weights; the policy is saved with each layer.

    mixed_bfloat16 speeds up CPUs with AVX-512 BF16/AMX, TPUs and recent GPUs; mixed_float16 older GPUs
    (Keras then scales the loss). Output layers that need float32 (softmax, the residual) say so themselves.
    """
    with policy_scope(resolve_precision(precision)):
        yield
