"""Objects: CIFAR-10 readers, the networks, photo preparation, training and evaluation through the CLIs, Grad-CAM
and the page."""

import json
import pickle

import keras
import numpy as np
import pytest
import streamlit as st
from omegaconf import OmegaConf
from PIL import Image

from tests.harness import app_page, assert_round_trip, run_script, train_once
from tests.tiny_data import write_cifar_batch
from toolkit import pretrained, saving, tasks
from toolkit.data.cifar import CIFAR10_CLASSES, load_cifar10, read_cifar_batch
from toolkit.errors import ConfigError, DataNotFoundError, InputError
from toolkit.evaluate import evaluate
from toolkit.grad_cam import grad_cam, heatmap_overlay
from toolkit.objects.data import DATASETS, load_object_split
from toolkit.objects.models import ZeroPadShortcut
from toolkit.objects.predict import photo_to_dataset_image
from toolkit.train import train

TASK = tasks.get("objects")


def build(**settings) -> keras.Model:
    """The network the objects task builds for these settings."""
    return TASK.build(OmegaConf.structured(TASK.Config(**settings)))


@pytest.fixture(scope="module")
def tiny_fashion_run(tiny_fashion, tmp_path_factory):
    """One epoch of a resnet8 on the tiny Fashion-MNIST through the train CLI: (result, folder with run/ and out/)."""
    folder = tmp_path_factory.mktemp("fashion_run")
    words = ["task=objects", "depth=8", "validation_size=10", f"data_dir={tiny_fashion}"]
    return train_once(words, folder), folder


def test_cifar_batch_reader_keeps_pixel_order(tmp_path):
    images = np.zeros((3, 32, 32, 3), np.uint8)
    images[1, 2, 5] = (10, 20, 30)  # image 1, row 2, column 5: red 10, green 20, blue 30
    write_cifar_batch(tmp_path / "data_batch_1", images, np.array([7, 0, 9]))
    read, labels = read_cifar_batch(tmp_path / "data_batch_1")
    assert read.shape == (3, 32, 32, 3) and read.dtype == np.uint8
    np.testing.assert_array_equal(read, images)
    assert labels.tolist() == [7, 0, 9] and labels.dtype == np.int32


def test_cifar_loader_reads_the_official_batches(tiny_cifar_pickles):
    train_images, train_labels = load_cifar10("objects", "train", tiny_cifar_pickles)
    test_images, _ = load_cifar10("objects", "test", tiny_cifar_pickles)
    assert train_images.shape == (100, 32, 32, 3) and len(train_labels) == 100 and len(test_images) == 20


def test_cifar_loader_reads_the_jpeg_folders(tmp_path):
    for split in ("train", "test"):
        for label, name in enumerate(CIFAR10_CLASSES[::-1]):
            (tmp_path / "cifar-10-jpeg" / split / name).mkdir(parents=True)
            colour = (25 * label, 0, 0)
            Image.new("RGB", (32, 32), colour).save(tmp_path / "cifar-10-jpeg" / split / name / "0000.jpg", quality=95)
    images, labels = load_cifar10("objects", "test", tmp_path)
    assert images.shape == (10, 32, 32, 3)
    assert sorted(labels.tolist()) == list(range(10))  # labels follow the official order, not the folders'
    assert labels.tolist() != sorted(labels.tolist())  # classes mixed, so a held-out tail is not one class
    assert abs(int(images[labels.tolist().index(CIFAR10_CLASSES.index("airplane")), 0, 0, 0]) - 225) < 4


def test_cifar_loader_names_both_layouts_when_data_is_missing(tmp_path):
    with pytest.raises(DataNotFoundError, match="cifar-10-jpeg.*\n.*cifar-10-batches-py"):
        load_cifar10("objects", "train", tmp_path)


def test_cifar_reader_refuses_damaged_and_crafted_files(tmp_path):
    (tmp_path / "truncated").write_bytes(b"\x80\x02}q\x00(U")
    (tmp_path / "crafted").write_bytes(pickle.dumps({b"data": print}))  # a pickle that names a callable
    (tmp_path / "wrong_shape").write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    for name in ("truncated", "crafted", "wrong_shape"):
        with pytest.raises(InputError, match="CIFAR|expected"):
            read_cifar_batch(tmp_path / name)


@pytest.mark.parametrize("depth, millions", [(20, 0.27), (32, 0.46), (56, 0.85)])
def test_resnet_has_the_papers_parameter_count(depth, millions):
    model = build(dataset="cifar10", model="resnet", depth=depth)
    assert model.name == f"resnet{depth}"
    assert model.count_params() == pytest.approx(millions * 1e6, rel=0.02)  # He et al. 2016, table 6


def test_resnet_depth_must_be_6n_plus_2():
    with pytest.raises(ConfigError, match="6n"):
        build(model="resnet", depth=21)


@pytest.mark.parametrize("dataset", list(DATASETS))
@pytest.mark.parametrize("variant", ["vgg_small", "resnet"])
def test_variant_maps_raw_pixels_to_probabilities(variant, dataset):
    """Saving and reloading every task's model is test_contract's; here: raw pixels in, no augmentation at inference."""
    model = build(model=variant, dataset=dataset, depth=8, width=8)
    pixels = np.random.default_rng(0).integers(0, 256, (3, *DATASETS[dataset].shape)).astype("uint8")
    probabilities = model.predict(pixels, verbose=0)
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(-1), 1, rtol=1e-5)
    np.testing.assert_array_equal(model.predict(pixels, verbose=0), probabilities)


def test_cutout_blanks_one_square_per_training_image_only(tmp_path):
    model = build(dataset="cifar10", model="vgg_small", width=8, shift=0, cutout=8)
    cutout = model.get_layer("cutout")
    images = np.full((16, 32, 32, 3), 5.0, "float32")  # no pixel is the fill value 0
    blanked = keras.ops.convert_to_numpy(cutout(images, training=True)) == 0
    assert (blanked.sum(axis=(1, 2, 3)) == 8 * 8 * 3).all()
    rows, columns = blanked[..., 0].any(axis=2), blanked[..., 0].any(axis=1)
    assert (rows.sum(1) == 8).all() and (columns.sum(1) == 8).all()  # a square, wholly inside
    assert len({tuple(np.flatnonzero(r)) for r in rows}) > 1  # at a new place in each image
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(cutout(images, training=False)), images)
    pixels = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype("float32")
    assert_round_trip(model, pixels, tmp_path)
    with pytest.raises(ConfigError, match="cutout=32"):
        build(dataset="cifar10", cutout=32)
    with pytest.raises(ConfigError, match="bias_boost=0"):
        build(dataset="cifar10", bias_boost=0)
    with pytest.raises(ConfigError, match="bn_momentum=1"):
        build(dataset="cifar10", bn_momentum=1.0)


def test_airbench94_settings_reach_the_network_and_the_optimizer():
    settings = dict(dataset="cifar10", widths=[8, 16, 16], activation="gelu", shift_fill="reflect", momentum=0.85)
    config = OmegaConf.structured(TASK.Config(**settings))
    model = TASK.build(config)
    activations = {layer.activation.__name__ for layer in model.layers if isinstance(layer, keras.layers.Activation)}
    assert activations == {"gelu", "softmax"}
    assert model.get_layer("shift").fill_mode == "reflect"
    TASK.compile(model, config, steps_per_epoch=10)
    assert model.optimizer.momentum == 0.85 and model.optimizer.nesterov
    for wrong, value in [("activation", "tanh"), ("shift_fill", "tanh"), ("momentum", 1.0)]:
        with pytest.raises(ConfigError, match=f"{wrong}={value}"):
            build(**{**settings, wrong: value})


class InterruptAfterSecondEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt  # after the epoch's backup: what Ctrl-C does between epochs


def test_airbench_freezes_its_whitening_bias_from_the_epoch_asked_also_when_resumed(
    tiny_cifar_pickles, tmp_path, monkeypatch
):
    run = tmp_path / "run"
    words = ["task=objects", "dataset=cifar10", "widths=[8,8,8]", "batch_size=20", "validation_size=0", "verbose=0"]
    words += ["epochs=4", "freeze_whitening=1", f"data_dir={tiny_cifar_pickles}", f"run_dir={run}"]
    Objects, fit, seen = type(TASK), type(TASK).fit, []

    def recording(*extra: keras.callbacks.Callback):  # Objects.fit that records the weights at each epoch's end
        def fit_and_record(self, model, data, config, callbacks):
            whitening, classifier = model.get_layer("whitening"), model.get_layer("logits")

            def record(epoch, logs):
                seen.append((whitening.bias.numpy().copy(), classifier.kernel.numpy().copy()))

            callbacks = [*callbacks, keras.callbacks.LambdaCallback(on_epoch_end=record), *extra]
            return fit(self, model, data, config, callbacks)

        return fit_and_record

    monkeypatch.setattr(Objects, "fit", recording(InterruptAfterSecondEpoch()))
    with pytest.raises(KeyboardInterrupt):
        train(words)
    monkeypatch.setattr(Objects, "fit", recording())
    result = train(["task=objects", "resume=true", f"run_dir={run}"])
    biases, heads = zip(*seen)
    assert np.abs(biases[0]).max() > 0  # trained from zeros in the first epoch
    for epoch in (1, 2, 3):  # then frozen, before and after the resume; the classifier still trains
        np.testing.assert_array_equal(biases[epoch], biases[0])
        assert not np.array_equal(heads[epoch], heads[epoch - 1])
    assert not result.model.get_layer("whitening").bias_frozen  # the switch belongs to the run, not to the model
    with pytest.raises(ConfigError, match="freeze_whitening=-1"):
        build(dataset="cifar10", freeze_whitening=-1)


FREEZE_ON_JAX = """
import json, keras, numpy as np
from omegaconf import OmegaConf
from toolkit import tasks
from toolkit.distribute import ArrayBatches
from toolkit.tasks.base import Data

task = tasks.get("objects")
settings = dict(dataset="cifar10", widths=[8, 8, 8], epochs=3, batch_size=8, momentum=0.0, freeze_whitening=1)
config = OmegaConf.structured(task.Config(**settings, verbose=0))
model = task.build(config)
task.compile(model, config, steps_per_epoch=1)
bias, seen = model.get_layer("whitening").bias, []
record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(bias.numpy().tolist()))
rng = np.random.default_rng(0)
images, labels = rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8), np.arange(8) % 10
task.fit(model, Data(ArrayBatches((images, labels), 8, seed=0), None), config, [record])
print(json.dumps({"backend": keras.backend.backend(), "biases": seen}))
"""


def test_the_whitening_bias_freezes_on_jax_too():
    # JAX's optimiser step needs a fixed list of trained weights, so the bias stays in it with zero gradients
    measured = json.loads(run_script(FREEZE_ON_JAX).strip().splitlines()[-1])
    first, *frozen = np.array(measured["biases"])
    assert measured["backend"] == "jax" and np.abs(first).max() > 0
    for bias in frozen:  # without momentum, zero gradients leave it where it was
        np.testing.assert_array_equal(bias, first)


def test_zero_pad_shortcut_subsamples_and_pads_channels():
    x = np.arange(2 * 4 * 4 * 3, dtype="float32").reshape(2, 4, 4, 3)
    y = keras.ops.convert_to_numpy(ZeroPadShortcut(filters=7, strides=2)(x))
    assert y.shape == (2, 2, 2, 7)
    np.testing.assert_array_equal(y[..., 2:5], x[:, ::2, ::2, :])
    assert not y[..., :2].any() and not y[..., 5:].any()


def test_unknown_dataset_is_a_clear_error(tiny_fashion, tmp_path):
    with pytest.raises(ConfigError, match="fashion_mnist, cifar10"):
        train_once(["task=objects", "dataset=imagenet", f"data_dir={tiny_fashion}"], tmp_path)


def test_train_cli_writes_card_and_confusion_matrix(tiny_cifar_pickles, tmp_path):
    words = ["task=objects", "dataset=cifar10", "model=vgg_small", "width=4", "validation_size=20", "batch_size=20"]
    result = train_once([*words, f"data_dir={tiny_cifar_pickles}"], tmp_path)
    assert (tmp_path / "run" / "confusion_matrix.png").stat().st_size > 1000
    card = json.loads((tmp_path / "out" / "objects_cifar10.json").read_text())
    assert card["data"]["name"] == "CIFAR-10" and card["data"]["train"] == 80 and card["data"]["validation"] == 20
    assert card["data"]["version"].startswith("official python batches")
    assert card["metrics"]["test_examples"] == 20
    assert card["metrics"]["test_accuracy"] == pytest.approx(result.evaluation.metrics["test_accuracy"])
    assert list(card["details"]["per_class_accuracy"]) == CIFAR10_CLASSES
    assert np.sum(card["details"]["confusion_matrix"]) == 20


def test_mixed_precision_computes_in_bfloat16_and_answers_in_float32(tiny_fashion, tmp_path):
    words = ["task=objects", "depth=8", "validation_size=10", "precision=mixed_bfloat16", f"data_dir={tiny_fashion}"]
    result = train_once(words, tmp_path)
    shipped = saving.load_model(tmp_path / "out" / "objects_fashion_mnist.keras")
    for model in (result.model, shipped):
        convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
        assert {layer.compute_dtype for layer in convolutions} == {"bfloat16"}
        assert {layer.variable_dtype for layer in convolutions} == {"float32"}
        assert keras.ops.convert_to_numpy(model(np.zeros((2, 28, 28, 1)))).dtype == np.float32
    assert keras.config.dtype_policy().name == "float32"  # the policy was set for the build only
    with pytest.raises(ConfigError, match="mixed_bfloat16"):
        train_once([*words[:-2], "precision=half", f"data_dir={tiny_fashion}"], tmp_path / "bad")


def test_evaluate_cli_reproduces_the_card(tiny_fashion, tiny_fashion_run):
    result, folder = tiny_fashion_run
    model_path = folder / "out" / "objects_fashion_mnist.keras"
    evaluation = evaluate(["task=objects", f"data_dir={tiny_fashion}", f"model_path={model_path}"])
    assert evaluation.metrics == result.evaluation.metrics
    assert evaluation.details["classes"][0] == "T-shirt/top"


def test_evaluate_refuses_a_model_for_the_other_dataset(tiny_fashion, tmp_path):
    path = tmp_path / "cifar.keras"
    build(dataset="cifar10", depth=8).save(path)
    with pytest.raises(InputError, match=r"\(32, 32, 3\)"):
        evaluate(["task=objects", f"data_dir={tiny_fashion}", f"model_path={path}"])


def test_limit_takes_a_random_subset(tiny_fashion):
    images, labels = load_object_split("fashion_mnist", "test", str(tiny_fashion), limit=10)
    assert images.shape == (10, 28, 28, 1) and len(set(labels.tolist())) > 1


def test_a_photo_on_a_light_background_is_inverted_for_fashion_mnist():
    photo = np.full((300, 200, 3), 240, np.uint8)
    photo[100:200, 60:140] = 20  # a dark garment on a light background
    pixels = photo_to_dataset_image(photo, "fashion_mnist")
    assert pixels.shape == (28, 28, 1) and pixels.dtype == np.uint8
    assert pixels[14, 14, 0] > 200 and pixels[0, 0, 0] < 30  # light garment on black, as in the data set


def test_a_photo_is_cropped_to_its_centre_square_for_cifar():
    photo = np.zeros((40, 80, 4), np.uint8)
    photo[:, 20:60] = (255, 0, 0, 255)  # the centre square is red
    pixels = photo_to_dataset_image(photo, "cifar10")
    assert pixels.shape == (32, 32, 3)
    assert pixels[..., 0].min() > 240 and pixels[..., 1:].max() < 15


@pytest.mark.parametrize("shape", [(4, 4, 3), (20, 20, 2), (3, 20, 20, 3)])
def test_unusable_photo_arrays_are_refused(shape):
    with pytest.raises(InputError, match="8x8"):
        photo_to_dataset_image(np.zeros(shape, np.uint8), "cifar10")


def cam_model() -> keras.Model:
    """Feature map 0 is the image itself, feature map 1 its negative; class k reads feature map k."""
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 1, use_bias=False)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.layers[1].set_weights([np.array([1.0, -1.0]).reshape(1, 1, 1, 2)])
    model.layers[-1].set_weights([np.eye(2), np.zeros(2)])
    return model


def test_grad_cam_highlights_the_evidence_for_the_class():
    image = np.zeros((1, 8, 8, 1), "float32")
    image[0, :4, :4] = 1.0  # a bright top-left quarter: evidence for class 0, against class 1
    maps = grad_cam(cam_model(), image)
    assert maps.shape == (1, 8, 8)
    assert maps[0, 0, 0] == pytest.approx(1) and maps[0, 7, 7] == pytest.approx(0)
    assert not grad_cam(cam_model(), image, class_index=1).any()  # class 1 has no positive evidence
    overlay = heatmap_overlay((image[0] * 255).astype("uint8"), maps[0])
    assert overlay.shape == (8, 8, 3) and overlay.dtype == np.uint8


def test_grad_cam_matches_the_gradient_definition():
    """On TensorFlow: Grad-CAM from the gradient of the class logit equals the closed form.

    Seeded: with some random weights an image has no positive evidence for the class (the reference divides 0 by
    0) or nearly none (normalising amplifies rounding), and the comparison says nothing.
    """
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the reference uses tf.GradientTape")
    keras.utils.set_random_seed(0)
    model = build(dataset="cifar10", model="resnet", depth=8, precision="float32")  # a float32 reference
    images = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3)).astype("float32")
    features_model = keras.Model(model.input, model.get_layer("pool").input)
    dense = model.get_layer("probabilities")
    with tf.GradientTape() as tape:
        features = features_model(images, training=False)  # no augmentation
        tape.watch(features)
        logits = tf.reduce_mean(features, (1, 2)) @ dense.kernel + dense.bias
        score = tf.reduce_sum(logits[:, 3])
    weights = tf.reduce_mean(tape.gradient(score, features), (1, 2))  # Selvaraju et al., eq. 1
    reference = tf.nn.relu(tf.einsum("nhwk,nk->nhw", features, weights)).numpy()
    reference = tf.image.resize(reference[..., None], (32, 32)).numpy()[..., 0].clip(0)
    peak = reference.max((1, 2), keepdims=True)
    assert (peak > 0.01).all(), "a map without clear positive evidence: pick another seed"
    reference /= peak
    np.testing.assert_allclose(grad_cam(model, images, class_index=3), reference, atol=1e-4)


def test_grad_cam_refuses_models_without_a_pooling_head():
    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    with pytest.raises(InputError, match="global pooling"):
        grad_cam(model, np.zeros((1, 8, 8, 1), "float32"))


def test_page_classifies_a_test_image_with_a_tiny_model(tiny_fashion, tiny_fashion_run, monkeypatch):
    monkeypatch.setenv("TOOLKIT_TRAINED", str(tiny_fashion_run[1] / "out"))
    monkeypatch.setenv("TOOLKIT_DATA", str(tiny_fashion))
    st.cache_resource.clear()
    st.cache_data.clear()
    page = app_page("objects").run()
    page.number_input(key="index").set_value(3).run()
    assert not page.exception and not page.error
    assert page.metric[0].value in DATASETS["fashion_mnist"].classes
    assert "True class: **Dress**" in [m.value for m in page.markdown]  # tiny label 3 is class 3
    top5 = page.dataframe[0].value
    assert len(top5) == 5 and list(top5["probability"]) == sorted(top5["probability"], reverse=True)
    page.radio(key="dataset").set_value("cifar10").run()  # not shipped in this folder: a warning, no crash
    assert not page.exception and "not in" in page.warning[0].value
    st.cache_resource.clear()
    st.cache_data.clear()


shipped = pytest.mark.skipif(
    not {"objects_fashion_mnist", "objects_cifar10"} <= set(pretrained.list()), reason="trained/objects_* not built"
)


@shipped
def test_shipped_cards_report_the_test_splits():
    for name, data_set in (("objects_fashion_mnist", "Fashion-MNIST"), ("objects_cifar10", "CIFAR-10")):
        card = pretrained.card(name)
        assert card["data"]["name"] == data_set and card["metrics"]["test_examples"] == 10000
        assert sum(map(sum, card["details"]["confusion_matrix"])) == 10000
    assert pretrained.card("objects_fashion_mnist")["metrics"]["test_accuracy"] > 0.9


@shipped
def test_page_runs_on_the_shipped_models():
    page = app_page("objects").run()
    assert not page.exception
    page.radio(key="dataset").set_value("cifar10").run()
    page.number_input(key="index").set_value(1).run()
    assert not page.exception and page.metric[0].value in CIFAR10_CLASSES
