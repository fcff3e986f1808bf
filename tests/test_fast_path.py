"""The fast training path: precision=auto, patch whitening, test-time flips, SkipInit, the airbench recipe."""

import json

import keras
import numpy as np
import pytest
from omegaconf import OmegaConf

from tests.harness import assert_round_trip, run_script, train_once
from toolkit import layers as fast_layers  # not `import TestTimeFlips`: pytest would try to collect it
from toolkit import saving, tasks
from toolkit.classification import Lookahead, SparseCrossentropy
from toolkit.grad_cam import grad_cam
from toolkit.objects.data import load_object_split
from toolkit.objects.models import adapt_whitening
from toolkit.precision import fastest_precision, resolve_precision
from toolkit.tasks.denoising import Denoising, DenoisingConfig

OBJECTS = tasks.get("objects")


def cpu_flags() -> set[str]:
    with open("/proc/cpuinfo") as f:
        return set(next(line for line in f if line.startswith("flags")).split(":", 1)[1].split())


def test_auto_precision_is_bfloat16_exactly_where_the_cpu_has_it():
    expected = "mixed_bfloat16" if {"avx512_bf16", "amx_bf16"} & cpu_flags() else "float32"
    assert fastest_precision() == expected == resolve_precision("auto")
    assert resolve_precision("float32") == "float32"


def test_patch_whitening_decorrelates_the_training_patches():
    rng = np.random.default_rng(0)
    smooth = rng.normal(size=(64, 9, 9, 3)).cumsum(axis=1).cumsum(axis=2)  # strongly correlated neighbours
    layer = fast_layers.PatchWhitening(patch=2)
    layer.adapt(smooth)
    out = keras.ops.convert_to_numpy(layer(smooth.astype("float32")))
    assert out.shape == (64, 8, 8, 24)
    features = out[..., :12].reshape(-1, 12)  # the second half is the negation of the first
    covariance = features.T @ features / len(features)
    np.testing.assert_allclose(covariance, np.eye(12), atol=0.02)
    np.testing.assert_allclose(out[..., 12:], -out[..., :12], atol=1e-4)
    assert [w.name for w in layer.trainable_weights] == ["bias"]  # the filters are not trained


def test_test_time_flips_average_the_image_and_its_mirror():
    flatten, dense = keras.layers.Flatten(), keras.layers.Dense(3)
    inputs = keras.Input((4, 4, 1))
    model = keras.Model(inputs, fast_layers.MeanOverFlips()(dense(flatten(fast_layers.TestTimeFlips()(inputs)))))
    plain = keras.Model(inputs, dense(flatten(inputs)))  # the same layers without the flips
    images = np.random.default_rng(0).normal(size=(5, 4, 4, 1)).astype("float32")
    expected = (plain.predict(images, verbose=0) + plain.predict(images[:, :, ::-1], verbose=0)) / 2
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, atol=1e-5)
    training = keras.ops.convert_to_numpy(model(images, training=True))
    np.testing.assert_allclose(training, plain.predict(images, verbose=0), atol=1e-5)  # no flips in training


def test_test_time_translations_weigh_the_moved_views_half():
    flatten, dense = keras.layers.Flatten(), keras.layers.Dense(3)
    inputs = keras.Input((4, 4, 1))
    views = fast_layers.TestTimeFlips(translate=True)(inputs)
    model = keras.Model(inputs, fast_layers.MeanOverFlips(translate=True)(dense(flatten(views))))
    plain = keras.Model(inputs, dense(flatten(inputs)))
    images = np.random.default_rng(0).normal(size=(5, 4, 4, 1)).astype("float32")
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    down_right, up_left = padded[:, :-2, :-2], padded[:, 2:, 2:]
    assert down_right[0, 1, 1, 0] == images[0, 0, 0, 0] and up_left[0, 0, 0, 0] == images[0, 1, 1, 0]

    def mirrored_mean(x):
        return (plain.predict(x, verbose=0) + plain.predict(x[:, :, ::-1], verbose=0)) / 2

    expected = mirrored_mean(images) / 2 + (mirrored_mean(down_right) + mirrored_mean(up_left)) / 4
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, atol=1e-5)
    restored = keras.layers.deserialize(keras.layers.serialize(fast_layers.TestTimeFlips(translate=True)))
    assert restored.translate


def test_partial_identity_convolutions_pass_their_first_channels_through():
    images = np.random.default_rng(0).normal(size=(2, 5, 5, 3)).astype("float32")
    widen = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, kernel_initializer=fast_layers.PartialIdentity())
    out = keras.ops.convert_to_numpy(widen(images))
    np.testing.assert_allclose(out[..., :3], images, atol=1e-6)
    assert np.abs(out[..., 3]).sum() > 0  # the extra filter is random
    narrow = keras.layers.Conv2D(2, 3, padding="same", use_bias=False, kernel_initializer=fast_layers.PartialIdentity())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(narrow(images)), images[..., :2], atol=1e-6)


def test_boosted_bias_takes_boost_times_the_step_of_a_plain_bias():
    x = np.ones((4, 3), "float32")

    def bias_after_one_step(layer: keras.layers.Layer) -> np.ndarray:
        model = keras.Sequential([keras.Input((3,)), layer])
        model.compile(keras.optimizers.SGD(0.01), lambda y, out: keras.ops.sum(out, axis=-1))
        model.train_on_batch(x, np.zeros(4))
        return keras.ops.convert_to_numpy(model(x[:1]))[0]  # the bias itself: inputs are 1, the bias started at 0

    plain = bias_after_one_step(fast_layers.BoostedBias(boost=1)) - 1  # boost 1 is an ordinary bias
    np.testing.assert_allclose(plain, -0.01, rtol=1e-4)  # d loss / d bias = 1: one step of the rate
    np.testing.assert_allclose(bias_after_one_step(fast_layers.BoostedBias(boost=64)) - 1, -0.64, rtol=1e-4)


@pytest.mark.parametrize("center, scale", [(True, True), (True, False), (False, False)])
def test_low_precision_batchnorm_is_keras_batchnorm_in_float32(center, scale):
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, (16, 5, 5, 8)).astype("float32")  # a mean away from 0: E[x^2] - E[x]^2 must hold
    keras_bn = keras.layers.BatchNormalization(momentum=0.6, center=center, scale=scale)
    ours = fast_layers.LowPrecisionBatchNorm(momentum=0.6, center=center, scale=scale)
    for layer in (keras_bn, ours):
        layer.build(x.shape)
    weights = [rng.uniform(0.5, 2.0, w.shape).astype("float32") for w in keras_bn.get_weights()]
    for layer in (keras_bn, ours):
        layer.set_weights(weights)
    for training in (True, False):  # batch statistics, then the moving ones both layers updated
        expected = keras.ops.convert_to_numpy(keras_bn(x, training=training))
        np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(x, training=training)), expected, atol=1e-5)
    for theirs, mine in zip(keras_bn.get_weights(), ours.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5)


@pytest.mark.parametrize("center, scale", [(True, True), (False, False)])
def test_low_precision_batchnorm_trains_as_keras_batchnorm_in_float32(center, scale):
    """Its hand-written gradient is autodiff's through Keras' BatchNorm: one SGD step moves the filters before it
    (the input gradient, through the batch statistics), gamma and beta alike."""
    rng = np.random.default_rng(1)
    x = rng.normal(1.0, 2.0, (8, 6, 6, 3)).astype("float32")
    target = rng.normal(size=(8, 6, 6, 4)).astype("float32")

    def after_one_step(norm: type) -> list[np.ndarray]:
        inputs = keras.Input((6, 6, 3))
        features = keras.layers.Conv2D(4, 3, padding="same", kernel_initializer="ones", name="conv")(inputs)
        model = keras.Model(inputs, norm(momentum=0.6, center=center, scale=scale, name="bn")(features))
        if scale or center:  # start away from gamma 1, beta 0
            bn = model.get_layer("bn")
            bn.set_weights([np.linspace(0.5, 2.0, 4).astype("float32") for _ in bn.get_weights()])
        model.compile(keras.optimizers.SGD(0.1), lambda y, out: keras.ops.mean(keras.ops.square(out - y) * y))
        model.train_on_batch(x, target)
        return model.get_weights()

    for theirs, mine in zip(
        after_one_step(keras.layers.BatchNormalization), after_one_step(fast_layers.LowPrecisionBatchNorm)
    ):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)


def test_low_precision_batchnorm_normalises_in_bfloat16_from_float32_statistics():
    layer = fast_layers.LowPrecisionBatchNorm(momentum=0.0, center=False, scale=False, dtype="mixed_bfloat16")
    x = np.random.default_rng(0).normal(3.0, 1.0, (64, 4, 4, 3)).astype("float32")
    out = layer(x, training=True)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"  # the full-size work stays 16-bit
    seen = keras.ops.convert_to_numpy(keras.ops.cast(keras.ops.cast(x, "bfloat16"), "float32"))  # what it got
    mean, variance = seen.mean(axis=(0, 1, 2)), seen.var(axis=(0, 1, 2))
    # momentum 0: the moving statistics are this batch's. The mean is float32-exact; the variance is a bfloat16 sum
    # of squares of the centred batch (2^-9 relative, below a batch's own sampling noise), with no cancellation
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_mean), mean, rtol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_variance), variance, rtol=4e-3)
    expected = (seen - mean) / np.sqrt(variance + layer.epsilon)
    out = keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))
    np.testing.assert_allclose(out, expected, atol=0.05)  # a few bfloat16 steps of values up to ~6


def test_lookahead_pulls_the_weights_towards_its_slow_copy():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 4)).astype("float32"), rng.normal(size=(4, 3)).astype("float32")

    def trained(epochs: int, **lookahead) -> np.ndarray:  # one step per epoch
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        model.compile(keras.optimizers.SGD(0.1), "mse")
        callbacks = [Lookahead(start=0, every=1, **lookahead)] if lookahead else []
        model.fit(x, y, batch_size=4, epochs=epochs, shuffle=False, callbacks=callbacks, verbose=0)
        return model.get_weights()[0]

    np.testing.assert_allclose(trained(4, base=0.0), trained(4), rtol=1e-6)  # rho = 0: plain SGD
    np.testing.assert_allclose(trained(4, base=1.0, power=0.0), trained(1), rtol=1e-6)  # rho = 1: frozen at step 1
    halfway = trained(4, base=0.5, power=0.0)
    assert not np.allclose(halfway, trained(4)) and not np.allclose(halfway, trained(1))


def test_label_smoothing_loss_matches_the_smoothed_one_hot_targets():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], "float32")
    labels = np.array([0, 2])
    targets = np.eye(3)[labels] * 0.8 + 0.2 / 3
    expected = -(targets * np.log(probabilities)).sum(-1).mean()
    loss = SparseCrossentropy(label_smoothing=0.2)
    assert float(loss(labels, probabilities)) == pytest.approx(expected, rel=1e-5)
    assert keras.losses.deserialize(keras.losses.serialize(loss)).label_smoothing == 0.2


def test_skipinit_resnet_has_no_batchnorm_and_starts_as_the_identity_per_block():
    config = OmegaConf.structured(OBJECTS.Config(dataset="cifar10", model="resnet", depth=8, norm="none"))
    model = OBJECTS.build(config)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    gains = [layer for layer in model.layers if isinstance(layer, fast_layers.SkipInit)]
    assert len(gains) == 3 and all(float(layer.gain) == 0 for layer in gains)


def test_dncnn_without_batchnorm_has_biases_instead():
    model = Denoising().build(OmegaConf.structured(DenoisingConfig(depth=4, filters=8, batch_norm=False)))
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert all(layer.use_bias for layer in convolutions)


@pytest.mark.parametrize(
    "dataset, shape, bias_boost", [("fashion_mnist", (28, 28, 1), 1.0), ("cifar10", (32, 32, 3), 64.0)]
)
def test_airbench_maps_raw_pixels_to_probabilities_and_round_trips(dataset, shape, bias_boost, tmp_path):
    config = OBJECTS.Config(dataset=dataset, widths=[8, 16, 16], bias_boost=bias_boost, precision="float32")
    model = OBJECTS.build(OmegaConf.structured(config))
    pixels = np.random.default_rng(0).integers(0, 256, (3, *shape)).astype("float32")
    adapt_whitening(model, pixels)
    probabilities = model.predict(pixels, verbose=0)
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(-1), 1, rtol=1e-5)
    loaded = assert_round_trip(model, pixels, tmp_path)
    np.testing.assert_array_equal(loaded.get_layer("whitening").kernel.numpy(), model.get_layer("whitening").kernel)
    assert grad_cam(model, pixels).shape == (3, *shape[:2])  # the Objects page explains it too


def test_float32_stem_keeps_input_and_whitening_out_of_bfloat16():
    settings = dict(widths=[8, 16, 16], cutout=8, float32_stem=True, precision="mixed_bfloat16")
    model = OBJECTS.build(OmegaConf.structured(OBJECTS.Config(dataset="cifar10", **settings)))
    by_name = {layer.name: layer.compute_dtype for layer in model.layers}
    assert by_name["normalise"] == by_name["cutout"] == by_name["whitening"] == "float32"
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert {layer.compute_dtype for layer in convolutions} == {"bfloat16"}  # the network itself stays fast


def test_airbench_trains_through_the_cli_with_whitening_from_the_data(tiny_fashion, tmp_path):
    words = ["task=objects", "widths=[8,16,16]", "validation_size=0", "batch_size=16", "precision=auto"]
    result = train_once([*words, f"data_dir={tiny_fashion}"], tmp_path)
    whitening = result.model.get_layer("whitening")
    images = load_object_split("fashion_mnist", "train", str(tiny_fashion))[0][:48].astype("float32")
    normalised = result.model.get_layer("normalise")(images)
    features = keras.ops.convert_to_numpy(whitening(normalised) - whitening.bias)[..., :4].reshape(-1, 4)
    np.testing.assert_allclose(features.T @ features / len(features), np.eye(4), atol=0.15)  # set from the data
    kernel = whitening.kernel.numpy()
    card = json.loads((tmp_path / "out" / "objects_fashion_mnist.json").read_text())
    assert card["config"]["precision"] == fastest_precision()  # the card names what "auto" chose
    assert card["config"]["validation_size"] == 0 and card["data"]["validation"] == 0
    assert card["training_parts"] == 1 and card["training_seconds"] > 0
    shipped = saving.load_model(tmp_path / "out" / "objects_fashion_mnist.keras")
    np.testing.assert_array_equal(shipped.get_layer("whitening").kernel.numpy(), kernel)


JAX_SCRIPT = """
import sys
from pathlib import Path
from tests.harness import train_once
words = ["task=objects", "widths=[8,16,16]", "validation_size=16", "batch_size=16", f"data_dir={sys.argv[1]}"]
result = train_once(words, Path(sys.argv[2]))
print("ok", result.card["backend"], result.card["config"]["precision"], result.evaluation.metrics["test_examples"])
"""


def test_airbench_recipe_runs_unchanged_on_jax(tiny_fashion, tmp_path):
    stdout = run_script(JAX_SCRIPT, str(tiny_fashion), str(tmp_path))
    assert f"ok jax {fastest_precision()} 32" in stdout  # the tiny set's 32 test images
