"""Inpainting: the DCGAN, masks and contextual weights, Poisson blending, latent search, the CLIs and the page,
in grey (Fashion-MNIST) and in colour (CIFAR-10); the fill network, its training batches, the cut-out around a hole
in a larger photo, and the page that shows it."""

import io as io_module
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from omegaconf import OmegaConf
from PIL import Image

from tests.harness import app_page, run_script, train_once
from toolkit import pretrained, saving, tasks
from toolkit.data.cifar import CIFAR10_CLASSES
from toolkit.data.paths import REPO_ROOT
from toolkit.data.tfds_source import FLOWER_PHOTOS_CLASSES
from toolkit.errors import ConfigError, DataNotFoundError, InputError
from toolkit.evaluate import evaluate
from toolkit.inpainting import fill_around_hole, inpaint
from toolkit.inpainting.blend import poisson_blend
from toolkit.inpainting.classic import CLASSIC_METHODS, psnr, ssim
from toolkit.inpainting.data import EpochSetter, MaskedBatches, fit_photo, fit_to_dataset, load_images
from toolkit.inpainting.dcgan import DCGAN, NORMS
from toolkit.inpainting.fill_net import FillNet
from toolkit.inpainting.masks import (
    MASKS,
    TRAINING_MIX,
    check_mask,
    contextual_weights,
    make_mask,
    mask_from_drawing,
    training_masks,
)
from toolkit.inpainting.predict import hole_window, method_of
from toolkit.inpainting.search import SearchSettings, combine_starts, latent_search
from toolkit.tasks.inpainting import InpaintingConfig, evaluation_image_count, search_settings
from toolkit.train import train

TINY = ["filters=4", "latent_dim=8", "batch_size=32", "images=4", "steps=3", "starts=2"]
COLOUR = (32, 32, 3)


def tiny_gan(image_shape=(32, 32, 1), norm: str = "batch") -> DCGAN:
    gan = DCGAN(latent_dim=8, image_shape=image_shape, filters=4, seed=0, norm=norm)
    gan.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
    return gan


@pytest.fixture(scope="module")
def shipped_tiny(tiny_fashion, tmp_path_factory):
    """A tiny model trained by the CLI into its own trained/ folder."""
    folder = tmp_path_factory.mktemp("trained")
    train_once(["task=inpainting", f"data_dir={tiny_fashion}", *TINY], folder)
    return folder / "out"


@pytest.fixture(scope="module")
def shipped_colour(tiny_cifar, tmp_path_factory):
    """A tiny CIFAR-10 model trained by the CLI (one epoch: 100 images, 4 steps); the card and the run."""
    folder = tmp_path_factory.mktemp("trained")
    return train_once(["task=inpainting", "dataset=cifar10", f"data_dir={tiny_cifar}", *TINY], folder)


def test_one_train_step_updates_both_networks():
    gan = tiny_gan()
    before = [[np.array(v) for v in net.trainable_variables] for net in (gan.generator, gan.discriminator)]
    pixels = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 1)).astype("uint8")
    logs = gan.train_on_batch(pixels, return_dict=True)
    assert {"loss", "d_loss", "g_loss", "d_real", "d_fake"} <= set(logs)
    for net, old in zip((gan.generator, gan.discriminator), before):
        assert all(not np.allclose(a, np.array(b)) for a, b in zip(old, net.trainable_variables)), net.name


def test_each_adversarial_loss_reaches_only_its_own_network():
    import tensorflow as tf  # the default test backend; JAX is checked end to end below

    gan = tiny_gan()
    pixels = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 1)).astype("float32")
    with tf.GradientTape(persistent=True) as tape:
        d_loss, g_loss = gan.adversarial_losses(gan(pixels, training=True))
    discriminator, generator = gan.discriminator.trainable_variables, gan.generator.trainable_variables
    assert all(g is None or not np.any(g) for g in tape.gradient(g_loss, discriminator))
    assert all(g is None or not np.any(g) for g in tape.gradient(d_loss, generator))
    assert all(g is not None and np.any(g) for g in tape.gradient(g_loss, generator))
    assert all(g is not None and np.any(g) for g in tape.gradient(d_loss, discriminator))


@pytest.mark.parametrize("shape", [(32, 32, 1), (32, 32, 3), (64, 64, 3)])
def test_dcgan_shapes_and_round_trip(shape, tmp_path):
    gan = tiny_gan(shape)
    assert gan.generator.output_shape == (None, *shape) and gan.discriminator.output_shape == (None, 1)
    assert gan.generate(3).shape == (3, *shape)
    loaded = keras.saving.load_model(saving.save_model(gan, tmp_path / "gan.keras"))  # safe mode on
    assert isinstance(loaded, DCGAN) and loaded.image_shape == shape
    np.testing.assert_allclose(loaded.generate(2, seed=5), gan.generate(2, seed=5), atol=1e-6)
    images = np.random.default_rng(0).uniform(-1, 1, (4, *shape)).astype("float32")
    np.testing.assert_allclose(loaded.discriminator(images), gan.discriminator(images), atol=1e-5)


def test_masks_hide_what_their_names_say():
    for name in MASKS:
        mask = make_mask(name, 32, 32, seed=3)
        assert mask.shape == (32, 32) and 0 < mask.mean() < 1, name
    assert make_mask("center", 32, 32)[8:24, 8:24].sum() == 0 and make_mask("center", 32, 32).sum() == 1024 - 256
    assert make_mask("left", 32, 32)[:, :16].sum() == 0 and make_mask("left", 32, 32)[:, 16:].all()
    assert make_mask("random", 32, 32).mean() == pytest.approx(0.2, abs=0.05)
    with pytest.raises(InputError, match="Unknown mask"):
        make_mask("star", 32, 32)


def test_contextual_weights_count_missing_neighbours_in_a_7x7_window():
    mask = np.ones((11, 11), np.float32)
    mask[5, 5] = 0  # one missing pixel
    weights = contextual_weights(mask, window=7)
    assert weights[5, 5] == 0  # missing pixels carry no weight
    assert np.allclose(weights[2:9, 2:9][mask[2:9, 2:9] > 0], 1 / 49)  # within 3 pixels of the hole
    assert weights[1, 5] == 0 and weights[5, 9] == 0  # 4 pixels away: outside the window
    mask[5, 6] = 0
    assert contextual_weights(mask)[5, 4] == pytest.approx(2 / 49)


def test_check_mask_refuses_masks_without_a_hole_or_without_context():
    with pytest.raises(InputError, match="hides nothing"):
        check_mask(np.ones((8, 8)), (8, 8, 1))
    with pytest.raises(InputError, match="whole image"):
        check_mask(np.zeros((8, 8)), (8, 8, 1))
    with pytest.raises(InputError, match="is \\(4, 4\\)"):
        check_mask(np.ones((4, 4)), (8, 8, 1))


def test_mask_from_drawing_marks_painted_area_missing():
    canvas = np.zeros((256, 256, 4), np.uint8)
    canvas[:128, :, 3] = 255  # top half painted
    mask = mask_from_drawing(canvas, 32, 32)
    assert mask[:16].sum() == 0 and mask[16:].all()


def test_poisson_blending_keeps_known_pixels_and_matches_the_boundary():
    rng = np.random.default_rng(0)
    target = rng.random((16, 16, 3)).astype(np.float32) * 0.5
    mask = make_mask("center", 16, 16)
    shifted = target + 0.3  # same gradients, other colours: the blend must give back the target exactly
    blended = poisson_blend(shifted, target, mask)
    np.testing.assert_array_equal(blended[mask > 0], target[mask > 0])
    np.testing.assert_allclose(blended, target, atol=1e-5)
    # a flat source takes the boundary's values: no seam at the hole's edge
    flat = poisson_blend(np.zeros_like(target), target, make_mask("left", 16, 16))
    assert np.abs(flat[:, 7] - target[:, 8]).mean() < np.abs(np.zeros_like(target[:, 7]) - target[:, 8]).mean() / 2


def test_latent_search_reduces_the_loss_on_a_tiny_generator():
    gan = tiny_gan()
    images = gan.generate(2, seed=7)  # reachable targets
    masks = np.stack([make_mask("center", 32, 32)] * 2)
    _, start = latent_search(gan, images, masks, SearchSettings(steps=1, starts=2, learning_rate=0.05))
    _, end = latent_search(gan, images, masks, SearchSettings(steps=40, starts=2, learning_rate=0.05))
    assert np.all(end < 0.7 * start)


def test_averaging_takes_the_mean_of_the_lowest_loss_starts():
    fakes = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)  # 2 images, 3 starts, 2 "pixels"
    losses = np.array([[0.3, 0.1, 0.2], [0.5, 0.9, 0.4]], np.float32)
    best, loss = combine_starts(fakes, losses, average=1)
    np.testing.assert_array_equal(best, [fakes[0, 1], fakes[1, 2]])
    np.testing.assert_array_equal(loss, losses[[0, 1], [1, 2]])
    mean, _ = combine_starts(fakes, losses, average=2)
    np.testing.assert_array_equal(mean, [(fakes[0, 1] + fakes[0, 2]) / 2, (fakes[1, 2] + fakes[1, 0]) / 2])
    with pytest.raises(InputError, match="average=3 must be between 1 and starts=2"):
        SearchSettings(starts=2, average=3)


def test_inpaint_keeps_the_known_pixels_and_refuses_wrong_sizes():
    gan = tiny_gan()
    images = np.random.default_rng(1).random((2, 32, 32, 1)).astype(np.float32)
    masks = np.stack([make_mask("right", 32, 32)] * 2)
    result = inpaint(gan, images, masks, SearchSettings(steps=2, starts=2, average=2))
    known = masks[..., None] > 0
    for filled in (result.filled, result.overlay):
        assert filled.shape == images.shape
        np.testing.assert_allclose(np.where(known, filled, 0), np.where(known, images, 0), atol=1e-6)
    with pytest.raises(InputError, match="Expected images"):
        inpaint(gan, images[:, :28, :28], masks, SearchSettings(steps=1))


def test_train_cli_writes_card_and_sample_grids(shipped_tiny, tmp_path_factory):
    card = json.loads((shipped_tiny / "inpainting_fashion_mnist.json").read_text())
    run = shipped_tiny.parent / "run"
    assert (run / "samples_001.png").exists() and (run / "model.keras").exists()
    assert card["details"]["figure"] == str(run / "inpainting_fashion_mnist_center.png")  # not in the checkout
    assert Path(card["details"]["figure"]).is_file()
    assert card["data"]["train"] == 96 and card["metrics"]["test_images"] == 4
    assert [row["method"] for row in card["evaluation_table"]][:3] == [
        "latent_search",
        "latent_search_overlay",
        "telea",
    ]


def test_evaluate_cli_on_four_images_writes_table_and_figure(shipped_tiny, tiny_fashion, tmp_path):
    figure, report = tmp_path / "compare.png", tmp_path / "eval.json"
    model = shipped_tiny / "inpainting_fashion_mnist.keras"
    words = ["task=inpainting", f"data_dir={tiny_fashion}", f"model_path={model}"]
    evaluation = evaluate([*words, *TINY, "mask=left", f"figure={figure}", f"json={report}"])
    assert len(evaluation.table) == 7 and all(row["images"] == 4 for row in evaluation.table)
    assert all(np.isfinite(row["PSNR hole"]) and -1 <= row["SSIM hole"] <= 1 for row in evaluation.table)
    assert figure.exists() and json.loads(report.read_text())["metrics"]["mask"] == "left"


def test_loaders_read_the_colour_sets_in_their_official_layouts(tmp_path):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for cls in CIFAR10_CLASSES:
            (tmp_path / "cifar-10-jpeg" / split / cls).mkdir(parents=True)
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
                tmp_path / "cifar-10-jpeg" / split / cls / "0001.jpg"
            )
    for cls in FLOWER_PHOTOS_CLASSES:
        (tmp_path / "flower_photos" / cls).mkdir(parents=True)
        for i in range(3):
            photo = np.zeros((128, 96, 3), np.uint8)
            photo[16:112] = 255  # a white square between black bars: the centre crop keeps the square alone
            Image.fromarray(photo).save(tmp_path / "flower_photos" / cls / f"{i}.jpg")
    cifar = load_images("cifar10", "test", str(tmp_path))
    flowers = load_images("flower_photos", "train", str(tmp_path))
    assert cifar.shape == (10, 32, 32, 3) and flowers.shape == (13, 64, 64, 3)  # 15 photos, every tenth held out
    assert flowers.min() > 200  # cropped to the square, not squashed with the bars (JPEG rings a little)


def test_unknown_dataset_and_missing_data_give_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="Unknown dataset 'svhn'"):
        load_images("svhn", "train")
    with pytest.raises(DataNotFoundError, match="fashion-mnist"):
        load_images("fashion_mnist", "train", str(tmp_path))


def test_fit_to_dataset_sizes_uploads_like_the_training_images():
    photo = np.full((100, 60, 3), 255, np.uint8)
    grey = fit_to_dataset(photo, "fashion_mnist")
    assert grey.shape == (32, 32, 1) and grey[2:30, 2:30].min() == pytest.approx(1) and grey[0].max() == 0
    assert fit_to_dataset(photo[..., 0], "flower_photos").shape == (64, 64, 3)
    bars = np.zeros((40, 60, 3), np.uint8)
    bars[:, 10:50] = (255, 128, 0)  # an orange square between black bars: cropped, not squashed
    cropped = fit_to_dataset(bars, "cifar10")  # bilinear: the border columns take in a little of the bars
    np.testing.assert_allclose(cropped[:, 1:-1], np.broadcast_to([1, 128 / 255, 0], (32, 30, 3)), atol=0.01)
    assert cropped.shape == COLOUR and cropped[..., 0].min() > 0.9
    with pytest.raises(InputError, match="at least 8x8"):
        fit_to_dataset(np.zeros((4, 4), np.uint8), "mnist")


@pytest.mark.parametrize(("shape", "dtype"), [((32, 32, 1), "float32"), (COLOUR, "mixed_bfloat16")])
def test_training_and_search_run_on_jax(shape, dtype):
    script = (
        "import numpy as np, keras\n"
        "from toolkit.inpainting.dcgan import DCGAN\n"
        "from toolkit.inpainting.masks import make_mask\n"
        "from toolkit.inpainting.search import SearchSettings, latent_search\n"
        f"gan = DCGAN(latent_dim=8, image_shape={shape}, filters=4, seed=0, dtype='{dtype}')\n"
        "gan.compile(optimizer='adam')\n"
        f"logs = gan.train_on_batch(np.zeros((8, *{shape}), 'uint8'), return_dict=True)\n"
        "images = gan.generate(1, seed=3)\n"
        "_, a = latent_search(gan, images, make_mask('center', 32, 32)[None], SearchSettings(steps=1, starts=1))\n"
        "_, b = latent_search(gan, images, make_mask('center', 32, 32)[None], SearchSettings(steps=30, starts=1))\n"
        "assert np.isfinite(logs['loss']) and b[0] < a[0], (logs, a, b)\n"
        "print('ok', keras.backend.backend(), gan.generator.layers[1].dtype_policy.name)\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and f"ok jax {dtype}" in done.stdout, done.stderr[-2000:]


def image_captions(page) -> list[str]:
    return [image.proto.imgs[0].caption for image in page.get("image")]


def test_page_without_a_fill_network_shows_the_classic_fills_and_searches_on_a_button(
    shipped_tiny, tiny_fashion, monkeypatch
):
    monkeypatch.setenv("TOOLKIT_TRAINED", str(shipped_tiny))
    monkeypatch.setenv("TOOLKIT_DATA", str(tiny_fashion))
    page = app_page("inpainting").run()
    assert not page.exception and not page.error
    assert "inpainting_fill_net_cifar10" in page.info[0].value and "not been shipped" in page.info[0].value
    assert page.selectbox(key="dataset").value == "fashion_mnist"
    page.number_input(key="index").set_value(3).run()
    page.selectbox(key="mask").set_value("left").run()
    captions = image_captions(page)  # the classic fills at once, each with its PSNR in the hole
    assert captions[0] == "with the hole" and captions[-1] == "original" and "fill network" not in " ".join(captions)
    assert captions[1].startswith("Telea · ") and captions[2].startswith("biharmonic · ")
    assert "runs on the button" in page.caption[-1].value
    page.slider(key="steps").set_value(10).run()
    page.button(key="search").click().run()
    assert not page.exception and not page.error
    assert "after 10 steps" in page.caption[-1].value and "averaged" not in page.caption[-1].value
    assert any(caption.startswith("GAN + Poisson · ") for caption in image_captions(page))
    page.checkbox(key="average").check().run()
    page.button(key="search").click().run()
    assert not page.exception and "fills averaged" in page.caption[-1].value
    if "draw" in page.selectbox(key="mask").options:  # the optional canvas: nothing painted yet
        page.selectbox(key="mask").set_value("draw").run()
        assert not page.exception and "Paint the part" in page.info[-1].value


# --- colour: CIFAR-10 -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", NORMS)
def test_each_generator_norm_trains_and_round_trips_in_mixed_bfloat16(norm, tmp_path):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        gan = tiny_gan(COLOUR, norm)
    finally:
        keras.config.set_dtype_policy(previous)
    pixels = np.random.default_rng(0).integers(0, 256, (8, *COLOUR)).astype("uint8")
    assert np.isfinite(gan.train_on_batch(pixels, return_dict=True)["loss"])
    images = gan.generate(2, seed=5)
    assert images.dtype == np.float32 and images.shape == (2, *COLOUR)  # float32 output layers
    loaded = keras.saving.load_model(saving.save_model(gan, tmp_path / "gan.keras"))  # loaded in float32 code
    assert loaded.norm == norm and loaded.generator.layers[1].dtype_policy.name == "mixed_bfloat16"
    np.testing.assert_allclose(loaded.generate(2, seed=5), images, atol=1e-6)


def test_unknown_norm_is_a_config_error():
    with pytest.raises(ConfigError, match="Unknown generator norm 'group'"):
        tiny_gan(COLOUR, "group")


def test_shipped_grey_models_still_load_as_batchnorm_generators():
    names = [name for name in pretrained.list() if name.startswith("inpainting_") and "fill_net" not in name]
    if not names:
        pytest.skip("no shipped inpainting model in trained/")
    for name in names:
        gan = pretrained.load(name)
        norms = {type(layer).__name__ for layer in gan.generator.layers} & {"BatchNormalization", "PixelNorm"}
        assert isinstance(gan, DCGAN) and norms <= {"BatchNormalization"}, name
        samples = gan.generate(2, seed=1)
        assert samples.shape == (2, *gan.image_shape) and 0 <= samples.min() and samples.max() <= 1, name


def test_colour_training_cli_writes_a_cifar10_model_and_card(shipped_colour):
    card = shipped_colour.card
    assert card["artifact"] == "inpainting_cifar10" and card["data"]["train"] == 100
    assert card["data"]["image_shape"] == list(COLOUR) and card["config"]["norm"] == "batch"
    assert card["metrics"]["test_images"] == 4 and "biharmonic_hole_psnr" in card["metrics"]
    assert (shipped_colour.run_dir / "samples_001.png").exists()
    shipped = Path(card["config"]["out"]) / "inpainting_cifar10.keras"
    gan = saving.load_model(shipped)
    assert gan.image_shape == COLOUR and gan.generate(1).shape == (1, *COLOUR)
    with zipfile.ZipFile(shipped) as archive, h5py.File(io_module.BytesIO(archive.read("model.weights.h5"))) as h5:
        assert "optimizer" not in h5  # weights only: Adam's slots would triple the file
    run = saving.load_model(shipped_colour.run_dir / "model.keras")
    z = np.random.default_rng(0).standard_normal((2, gan.latent_dim)).astype("float32")
    np.testing.assert_array_equal(gan.generator.predict(z, verbose=0), run.generator.predict(z, verbose=0))


def test_colour_search_and_blend_keep_known_pixels_in_every_channel():
    gan = tiny_gan(COLOUR)
    images = np.random.default_rng(1).random((3, *COLOUR)).astype(np.float32)
    masks = np.stack([make_mask(name, 32, 32, seed=2) for name in ("center", "blocks", "random")])
    result = inpaint(gan, images, masks, SearchSettings(steps=3, starts=2))
    known = masks[..., None] > 0
    for filled in (result.filled, result.overlay, result.generated, result.masked):
        assert filled.shape == images.shape and filled.dtype == np.float32
    for filled in (result.filled, result.overlay):
        np.testing.assert_allclose(np.where(known, filled, 0), np.where(known, images, 0), atol=1e-6)
    assert result.loss.shape == (3,)
    # each channel is blended on its own: per-channel shifts of the source vanish
    shift = np.array([0.1, -0.2, 0.3], np.float32)
    np.testing.assert_allclose(poisson_blend(images[0] * 0.5 + shift + 0.2, images[0] * 0.5 + 0.2, masks[0]),
                               images[0] * 0.5 + 0.2, atol=1e-5)  # fmt: skip


def test_classic_methods_fill_each_colour_channel_on_its_own():
    ys, xs = np.mgrid[0:32, 0:32] / 31
    ramps = np.stack([0.2 + 0.6 * xs, 0.9 - 0.5 * ys, 0.3 + 0.3 * xs + 0.3 * ys], -1).astype(np.float32)
    mask, hole = make_mask("center", 32, 32), make_mask("center", 32, 32) < 0.5
    flat = np.broadcast_to(np.float32([0.2, 0.5, 0.9]), COLOUR).copy()
    errors = {}
    for title, method in CLASSIC_METHODS.items():
        np.testing.assert_allclose(method(flat, mask), flat, atol=0.02, err_msg=title)  # no channel mixing
        filled = method(ramps, mask)
        assert filled.shape == COLOUR and filled.dtype == np.float32
        np.testing.assert_array_equal(filled[~hole], ramps[~hole])
        errors[title] = np.abs(filled - ramps)[hole].mean()
    assert errors["harmonic"] < 1e-5 and errors["biharmonic"] < 1e-4  # a linear ramp is harmonic and biharmonic
    assert max(errors["telea"], errors["navier_stokes"]) < errors["mean_fill"]


def test_colour_ssim_is_the_mean_of_the_channel_ssims_and_psnr_counts_the_hole_only():
    rng = np.random.default_rng(0)
    image = rng.random(COLOUR).astype(np.float32)
    noisy = image.copy()
    noisy[..., 2] = np.clip(noisy[..., 2] + rng.normal(0, 0.2, (32, 32)), 0, 1)  # blue only
    per_channel = [ssim(image[..., c : c + 1], noisy[..., c : c + 1]) for c in range(3)]
    assert per_channel[:2] == [1.0, 1.0] and per_channel[2] < 0.9
    assert ssim(image, noisy) == pytest.approx(np.mean(per_channel))
    hole = make_mask("center", 32, 32) < 0.5
    damaged = image.copy()
    damaged[~hole] = 1 - damaged[~hole]  # only outside the hole
    assert psnr(damaged, image, hole) == 100.0 and psnr(damaged, image) < 20


def test_evaluation_defaults_scale_with_the_data_set():
    cifar = OmegaConf.structured(InpaintingConfig(dataset="cifar10"))
    grey = OmegaConf.structured(InpaintingConfig(dataset="mnist"))
    assert evaluation_image_count(cifar) == 256 and evaluation_image_count(grey) == 64
    assert search_settings(cifar).steps == 400 and search_settings(grey).steps == 1000
    assert evaluation_image_count(OmegaConf.merge(cifar, {"limit": 10})) == 10
    assert search_settings(OmegaConf.merge(cifar, {"steps": 7})).steps == 7
    assert search_settings(OmegaConf.merge(cifar, {"starts": 8, "average": 8})).average == 8
    with pytest.raises(ConfigError, match="average=5 must be between 1 and starts=4"):
        search_settings(OmegaConf.merge(cifar, {"average": 5}))


@pytest.mark.parametrize("mask", ["center", "random", "left", "blocks"])
def test_evaluate_cli_on_tiny_colour_data_compares_every_method(shipped_colour, tiny_cifar, mask, tmp_path):
    model = Path(shipped_colour.card["config"]["out"]) / "inpainting_cifar10.keras"
    words = ["task=inpainting", "dataset=cifar10", f"data_dir={tiny_cifar}", f"model_path={model}", *TINY]
    evaluation = evaluate([*words, f"mask={mask}", f"figure={tmp_path / 'compare.png'}"])
    methods = [row["method"] for row in evaluation.table]
    assert methods == ["latent_search", "latent_search_overlay", *CLASSIC_METHODS]
    assert all(row["images"] == 4 and np.isfinite(row["PSNR hole"]) for row in evaluation.table)
    assert all(-1 <= row["SSIM hole"] <= 1 for row in evaluation.table)
    assert evaluation.metrics["mask"] == mask and evaluation.metrics["test_images"] == 4
    assert (tmp_path / "compare.png").exists()


def test_page_opens_on_the_colour_dcgan_and_fills_a_cifar10_hole(
    shipped_colour, shipped_tiny, tiny_cifar, monkeypatch, tmp_path
):
    colour = Path(shipped_colour.card["config"]["out"]) / "inpainting_cifar10"
    for stem in (colour, shipped_tiny / "inpainting_fashion_mnist"):  # a trained/ folder with both DCGANs
        for suffix in (".keras", ".json"):
            shutil.copy(stem.with_suffix(suffix), tmp_path)
    monkeypatch.setenv("TOOLKIT_TRAINED", str(tmp_path))
    monkeypatch.setenv("TOOLKIT_DATA", str(tiny_cifar))
    page = app_page("inpainting").run()
    assert not page.exception and not page.error
    assert page.selectbox(key="dataset").value == "cifar10"
    assert page.selectbox(key="dataset").options == ["cifar10", "fashion_mnist"]
    assert page.selectbox(key="mask").value == "center"
    assert "DCGAN trained on cifar10" in page.caption[0].value
    page.slider(key="steps").set_value(10).run()
    page.button(key="search").click().run()
    assert not page.exception and not page.error
    assert "after 10 steps" in page.caption[-1].value
    if "draw" in page.selectbox(key="mask").options:  # the canvas, over the colour image: nothing painted yet
        page.selectbox(key="mask").set_value("draw").run()
        assert not page.exception and "Paint the part" in page.info[-1].value


# --- the fill network (Pathak et al. 2016) ---------------------------------------------------------------------------

TINY_FILL = ["model=fill_net", "dataset=cifar10", "filters=4", "batch_size=32", "images=4"]


def tiny_fill_net(image_shape=COLOUR, **settings) -> FillNet:
    net = FillNet(image_shape, filters=4, **settings)
    net.compile(optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5))
    return net


def training_batch(count: int = 8, shape=COLOUR, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (count, *shape)).astype("uint8")
    return {"pixels": pixels, "mask": training_masks(count, *shape[:2], rng)}


@pytest.fixture(scope="module")
def shipped_fill(tiny_cifar, tmp_path_factory):
    """A tiny CIFAR-10 fill network trained by the CLI (one epoch: 100 images, 4 steps); the card and the run."""
    return train_once(["task=inpainting", f"data_dir={tiny_cifar}", *TINY_FILL], tmp_path_factory.mktemp("trained"))


@pytest.mark.parametrize("shape", [(32, 32, 1), COLOUR, (64, 64, 3)])
def test_fill_net_shapes_and_only_the_hole_changes(shape):
    net = tiny_fill_net(shape)
    assert net.generator.output_shape == (None, *shape)
    assert net.discriminator.output_shape == (None, shape[0] // 8, shape[1] // 8, 1)
    images = np.random.default_rng(0).random((3, *shape)).astype(np.float32)
    masks = np.stack([make_mask(kind, *shape[:2], seed=1) for kind in ("center", "strokes", "random")])
    filled, output = net.fill(images, masks)
    assert filled.shape == output.shape == images.shape and filled.dtype == output.dtype == np.float32
    assert 0 <= output.min() and output.max() <= 1
    known = np.broadcast_to(masks[..., None] > 0, images.shape)
    np.testing.assert_array_equal(filled[known], images[known])  # the known pixels exactly
    np.testing.assert_array_equal(filled[~known], output[~known])  # the network's output in the hole alone
    assert not np.allclose(filled[~known], images[~known])
    with pytest.raises(InputError, match="Expected images"):
        net.fill(images[:, :16], masks)


def test_fill_net_loss_weighs_the_hole_the_known_pixels_and_the_adversary():
    net = FillNet(COLOUR, 4, adversarial_weight=0.01, known_weight=0.1)
    mask = np.stack([make_mask("center", 32, 32)] * 2)
    x = {"pixels": np.full((2, *COLOUR), 255, np.uint8), "mask": mask}  # real images: 1.0 everywhere
    output = np.where(mask[..., None] > 0, 0.8, 0.5) * np.ones(COLOUR, np.float32)  # known off by 0.2, hole by 0.5
    logits = {key: np.zeros((2, 4, 4, 1), np.float32) for key in ("real", "fake", "fooled")}
    parts = {k: float(v) for k, v in net.losses_of(x, {"output": output, **logits}).items()}
    ln2 = np.log(2)
    assert parts == pytest.approx({"hole": 0.5, "known": 0.2, "g_adv": ln2, "d": 2 * ln2}, rel=1e-5)
    total = float(net.compute_loss(x, None, {"output": output, **logits}))
    assert total == pytest.approx(0.5 + 0.1 * 0.2 + 0.01 * ln2 + 2 * ln2, rel=1e-5)
    logits["fake"][:, 0, 0] = 50.0  # a patch without hole (the centre hole is pixels 8-23): it does not count
    assert float(net.losses_of(x, {"output": output, **logits})["d"]) == pytest.approx(2 * ln2, rel=1e-5)
    l2 = FillNet(COLOUR, 4, reconstruction="l2").losses_of(x, {"output": output, **logits})
    assert float(l2["hole"]) == pytest.approx(0.25) and float(l2["known"]) == pytest.approx(0.04)
    with pytest.raises(ConfigError, match="reconstruction=l3"):
        FillNet(COLOUR, 4, reconstruction="l3")


def test_one_fill_net_step_updates_generator_and_discriminator():
    net = tiny_fill_net()
    before = [[np.array(v) for v in part.trainable_variables] for part in (net.generator, net.discriminator)]
    logs = net.train_on_batch(training_batch(), return_dict=True)
    assert {"loss", "hole_error", "d_loss", "g_adv", "d_real", "d_fake"} <= set(logs)
    assert all(np.isfinite(value) for value in logs.values())
    for part, old in zip((net.generator, net.discriminator), before):
        assert all(not np.allclose(a, np.array(b)) for a, b in zip(old, part.trainable_variables)), part.name


def test_each_fill_net_adversarial_loss_reaches_only_its_own_network():
    import tensorflow as tf  # the default test backend; JAX is checked end to end below

    net = tiny_fill_net(adversarial_weight=1.0)
    x = training_batch()
    with tf.GradientTape(persistent=True) as tape:
        parts = net.losses_of(x, net(x, training=True))
    discriminator, generator = net.discriminator.trainable_variables, net.generator.trainable_variables
    assert all(g is None or not np.any(g) for g in tape.gradient(parts["g_adv"], discriminator))
    assert all(g is None or not np.any(g) for g in tape.gradient(parts["hole"], discriminator))
    assert all(g is None or not np.any(g) for g in tape.gradient(parts["d"], generator))
    assert all(g is not None and np.any(g) for g in tape.gradient(parts["g_adv"], generator))
    assert all(g is not None and np.any(g) for g in tape.gradient(parts["d"], discriminator))


@pytest.mark.parametrize(("gated", "policy"), [(False, "float32"), (True, "mixed_bfloat16")])
def test_fill_net_round_trips_with_safe_mode(gated, policy, tmp_path):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        net = tiny_fill_net(gated=gated, adversarial_weight=0.01, known_weight=0.2, reconstruction="l2")
    finally:
        keras.config.set_dtype_policy(previous)
    net.train_on_batch(training_batch())
    loaded = keras.saving.load_model(saving.save_model(net, tmp_path / "net.keras"))  # safe mode on
    assert isinstance(loaded, FillNet) and loaded.get_config() == net.get_config()
    assert loaded.generator.layers[2].dtype_policy.name == policy
    images = np.random.default_rng(1).random((2, *COLOUR)).astype(np.float32)
    masks = np.stack([make_mask("strokes", 32, 32, seed=i) for i in range(2)])
    np.testing.assert_array_equal(loaded.fill(images, masks)[0], net.fill(images, masks)[0])


def test_training_masks_of_every_kind_have_a_hole_and_context():
    for kind in TRAINING_MIX:
        for seed in range(20):
            mask = make_mask(kind, 32, 32, seed=seed)
            assert 0 < mask.mean() < 1, (kind, seed)
    strokes = [1 - make_mask("strokes", 32, 32, seed=seed).mean() for seed in range(200)]
    assert 0.03 <= min(strokes) and max(strokes) < 0.6 and 0.08 < np.median(strokes) < 0.3
    np.testing.assert_array_equal(make_mask("strokes", 32, 32, seed=4), make_mask("strokes", 32, 32, seed=4))
    assert not np.array_equal(make_mask("strokes", 32, 32, seed=4), make_mask("strokes", 32, 32, seed=5))
    masks = training_masks(300, 32, 32, np.random.default_rng(0))
    np.testing.assert_array_equal(masks, training_masks(300, 32, 32, np.random.default_rng(0)))
    missing = 1 - masks.mean(axis=(1, 2))
    assert masks.shape == (300, 32, 32) and missing.min() > 0 and missing.max() < 1
    assert np.isclose(missing, 0.25).sum() > 20  # the centre square among them, and the halves, and the rest
    assert np.isclose(missing, 0.5).sum() > 5 and (missing < 0.2).sum() > 50


def test_masked_batches_depend_on_the_seed_the_epoch_and_the_index_alone():
    images = np.broadcast_to(np.arange(10, dtype=np.uint8)[:, None, None, None], (10, *COLOUR)).copy()
    batches = MaskedBatches(images, 4, seed=1)
    assert len(batches) == 3
    epoch0 = [batches[i][0] for i in range(3)]
    assert sorted(np.concatenate([b["pixels"][:, 0, 0, 0] for b in epoch0])) == list(range(10))  # each image once
    again = MaskedBatches(images, 4, seed=1)[1][0]
    np.testing.assert_array_equal(again["pixels"], epoch0[1]["pixels"])
    np.testing.assert_array_equal(again["mask"], epoch0[1]["mask"])
    setter = EpochSetter(batches)
    setter.on_epoch_begin(1)
    assert batches.epoch == 1 and not np.array_equal(batches[0][0]["mask"], epoch0[0]["mask"])
    assert not np.array_equal(MaskedBatches(images, 4, seed=2)[0][0]["mask"], epoch0[0]["mask"])
    assert epoch0[0]["mask"].dtype == np.float32 and epoch0[0]["pixels"].dtype == np.uint8


def test_fill_around_hole_cuts_out_the_holes_neighbourhood_fills_it_and_puts_it_back():
    rng = np.random.default_rng(0)
    photo = rng.random((100, 150, 3)).astype(np.float32)
    mask = np.ones((100, 150), np.float32)
    mask[40:50, 60:80] = 0  # a 10x20 hole: a 40x40 square around it
    assert hole_window(mask) == (25, 50, 40, 40)
    seen = []

    def fill(image, small_mask):
        seen.append((image.copy(), small_mask.copy()))
        return np.where(small_mask[..., None] > 0.5, image, 0.25)

    result = fill_around_hole(fill, photo, mask, (32, 32))
    image, small_mask = seen[0]
    assert image.shape == (32, 32, 3) and small_mask.shape == (32, 32)
    assert np.all(image[small_mask < 0.5] == 0.5)  # the fill never sees a hidden pixel
    assert small_mask.mean() < 1 - (10 * 20) / 40**2 + 1e-6  # a small pixel with any hidden part is missing
    np.testing.assert_array_equal(result[mask > 0], photo[mask > 0])
    np.testing.assert_allclose(result[43:47, 64:76], 0.25, atol=1e-5)  # enlarged; at its edge it meets the photo
    small = photo[:32, :32]  # a photo of the model's size is filled as it is
    np.testing.assert_array_equal(fill_around_hole(fill, small, make_mask("center", 32, 32), (32, 32)),
                                  fill(small, make_mask("center", 32, 32)))  # fmt: skip
    wide = np.ones((100, 150), np.float32)
    wide[50:52, 5:140] = 0  # a stroke longer than the photo is high: the whole photo
    assert hole_window(wide) == (0, 0, 100, 150)
    assert fill_around_hole(fill, photo, wide, (32, 32)).shape == photo.shape


def test_inpaint_dispatches_on_the_model_kind():
    images = np.random.default_rng(1).random((2, *COLOUR)).astype(np.float32)
    masks = np.stack([make_mask("blocks", 32, 32, seed=i) for i in range(2)])
    net = tiny_fill_net()
    result = inpaint(net, images, masks)
    np.testing.assert_array_equal(result.filled, net.fill(images, masks)[0])
    assert result.loss is None and method_of(net) == "fill_net"
    assert method_of(tiny_gan(COLOUR)) == "latent_search"
    assert inpaint(tiny_gan(COLOUR), images, masks, SearchSettings(steps=2, starts=1)).loss.shape == (2,)
    with pytest.raises(InputError, match="FillNet or a DCGAN"):
        inpaint(keras.Sequential([keras.Input((2,))]), images, masks)


def test_fill_net_trains_through_the_cli_and_ships_with_its_card(shipped_fill):
    card, run = shipped_fill.card, shipped_fill.run_dir
    assert card["artifact"] == "inpainting_fill_net_cifar10" and card["variant"] == "fill_net"
    assert card["data"]["train"] == 100 and card["metrics"]["test_images"] == 4
    assert [row["method"] for row in card["evaluation_table"]] == ["fill_net", *CLASSIC_METHODS]
    assert (run / "fills_001.png").exists() and (run / "inpainting_fill_net_cifar10_center.md").exists()
    assert "hole_error" in (run / "log.csv").read_text().splitlines()[0]
    shipped = Path(card["config"]["out"]) / "inpainting_fill_net_cifar10.keras"
    net = saving.load_model(shipped)
    assert isinstance(net, FillNet) and net.image_shape == COLOUR
    with zipfile.ZipFile(shipped) as archive, h5py.File(io_module.BytesIO(archive.read("model.weights.h5"))) as h5:
        assert "optimizer" not in h5


def test_fill_net_resumes_an_interrupted_run_with_the_epochs_masks(tiny_cifar, tmp_path, monkeypatch):
    class InterruptAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt  # what Ctrl-C does in the middle of a run

    words = ["task=inpainting", f"data_dir={tiny_cifar}", *TINY_FILL, "verbose=0", "limit=64"]
    run_dir = f"run_dir={tmp_path / 'run'}"
    Inpainting = type(tasks.get("inpainting"))
    fit = Inpainting.fit
    monkeypatch.setattr(
        Inpainting, "fit", lambda self, m, d, c, cb: fit(self, m, d, c, [*cb, InterruptAfterFirstEpoch()])
    )
    with pytest.raises(KeyboardInterrupt):
        train([*words, "epochs=2", run_dir])
    assert (tmp_path / "run" / "backup").exists()
    monkeypatch.undo()
    epochs = []
    getitem = MaskedBatches.__getitem__
    monkeypatch.setattr(MaskedBatches, "__getitem__", lambda self, i: epochs.append(self.epoch) or getitem(self, i))
    train(["task=inpainting", "resume=true", run_dir])  # settings come back from the run's config.yaml
    assert epochs[-2:] == [1, 1]  # the resumed epoch's two batches are epoch 1's
    logged = [line.split(",")[0] for line in (tmp_path / "run" / "log.csv").read_text().splitlines()]
    assert logged == ["epoch", "0", "1"] and not (tmp_path / "run" / "backup").exists()


def test_evaluate_fill_net_table_names_every_method(shipped_fill, shipped_colour, tiny_cifar, tmp_path):
    out = Path(shipped_fill.card["config"]["out"])
    words = [
        "task=inpainting",
        f"data_dir={tiny_cifar}",
        *TINY_FILL,
        f"model_path={out / 'inpainting_fill_net_cifar10.keras'}",
    ]
    report, figure = tmp_path / "eval.json", tmp_path / "compare.png"
    evaluation = evaluate([*words, "mask=strokes", f"figure={figure}", f"json={report}"])
    rows = json.loads(report.read_text())["table"]
    assert [row["method"] for row in rows] == ["fill_net", *CLASSIC_METHODS] and "D(x)" not in rows[0]
    assert all(row["images"] == 4 and np.isfinite(row["PSNR hole"]) and -1 <= row["SSIM hole"] <= 1 for row in rows)
    assert evaluation.metrics["hole_psnr"] == rows[0]["PSNR hole"] and evaluation.metrics["mask"] == "strokes"
    assert "| fill_net | 4 |" in figure.with_suffix(".md").read_text() and figure.exists()
    gan = Path(shipped_colour.card["config"]["out"]) / "inpainting_cifar10.keras"
    search = ["latent_search=true", f"gan_path={gan}", "steps=3", "starts=2", f"figure={tmp_path / 'both.png'}"]
    both = evaluate([*words, "mask=center", *search])
    methods = [row["method"] for row in both.table]
    assert methods == ["fill_net", "latent_search", "latent_search_overlay", *CLASSIC_METHODS]
    assert all("D(x)" in row for row in both.table)
    assert both.metrics["latent_search_hole_psnr"] == both.table[1]["PSNR hole"]


def test_fill_net_trains_and_fills_on_jax():
    script = (
        "import numpy as np, keras\n"
        "from toolkit.inpainting.fill_net import FillNet\n"
        "from toolkit.inpainting.masks import training_masks\n"
        "net = FillNet((32, 32, 3), 4, gated=True, dtype='mixed_bfloat16')\n"
        "net.compile(optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5))\n"
        "rng = np.random.default_rng(0)\n"
        "x = {'pixels': rng.integers(0, 256, (8, 32, 32, 3)).astype('uint8'), 'mask': training_masks(8, 32, 32, rng)}\n"
        "logs = [net.train_on_batch(x, return_dict=True) for _ in range(3)]\n"
        "filled, _ = net.fill(x['pixels'] / 255, x['mask'])\n"
        "known = x['mask'][..., None] > 0\n"
        "assert np.isfinite(logs[-1]['loss']) and np.allclose(filled[np.broadcast_to(known, filled.shape)],\n"
        "    (x['pixels'] / 255)[np.broadcast_to(known, filled.shape)])\n"
        "print('ok', keras.backend.backend())\n"
    )
    assert "ok jax" in run_script(script, backend="jax", timeout=180)


def test_page_shows_the_fill_network_telea_and_biharmonic_at_once(
    shipped_fill, shipped_colour, tiny_cifar, monkeypatch, tmp_path
):
    network = Path(shipped_fill.card["config"]["out"]) / "inpainting_fill_net_cifar10"
    for suffix in (".keras", ".json"):
        shutil.copy(network.with_suffix(suffix), tmp_path)
    monkeypatch.setenv("TOOLKIT_TRAINED", str(tmp_path))
    monkeypatch.setenv("TOOLKIT_DATA", str(tiny_cifar))
    page = app_page("inpainting").run()  # the network alone: no latent search
    assert not page.exception and not page.error and not page.info and not page.get("button")
    assert (
        page.selectbox(key="dataset").value == "cifar10" and "Fill network trained on cifar10" in page.caption[0].value
    )
    captions = image_captions(page)
    assert captions[0] == "with the hole" and captions[-1] == "original"
    assert [c.split(" · ")[0] for c in captions[1:4]] == ["fill network", "Telea", "biharmonic"]
    assert all(float(c.split(" · ")[1].removesuffix(" dB")) > 0 for c in captions[1:4])
    page.selectbox(key="mask").set_value("strokes").run()
    assert not page.exception and not page.error
    gan = Path(shipped_colour.card["config"]["out"]) / "inpainting_cifar10"
    for suffix in (".keras", ".json"):
        shutil.copy(gan.with_suffix(suffix), tmp_path)
    page = app_page("inpainting").run()  # both kinds shipped: the search on its button
    assert "Fill network trained" in page.caption[0].value and "DCGAN trained" in page.caption[0].value
    page.slider(key="steps").set_value(10).run()
    page.button(key="search").click().run()
    assert not page.exception and not page.error
    assert [c.split(" · ")[0] for c in image_captions(page)[1:5]] == [
        "fill network",
        "Telea",
        "biharmonic",
        "GAN + Poisson",
    ]


def test_fit_photo_keeps_the_aspect_and_bounds_the_longer_side():
    photo = np.zeros((600, 300, 3), np.uint8)
    photo[:, 150:] = 255
    fitted = fit_photo(photo, "cifar10", max_side=256)
    assert fitted.shape == (256, 128, 3) and fitted.dtype == np.float32
    assert fitted[:, :60].max() < 0.05 and fitted[:, 70:].min() > 0.95
    assert fit_photo(photo, "fashion_mnist").shape == (256, 128, 1)
    assert fit_photo(photo[:40, :30], "cifar10").shape == (40, 30, 3)  # small photos keep their size
    with pytest.raises(InputError, match="at least 8x8"):
        fit_photo(np.zeros((4, 40), np.uint8), "cifar10")
    net = tiny_fill_net()  # a painted stroke on the photo, filled by the network around the hole
    mask = np.ones((256, 128), np.float32)
    mask[100:140, 30:90] = 0
    filled = fill_around_hole(lambda im, m: inpaint(net, im[None], m[None]).filled[0], fitted, mask, (32, 32))
    assert filled.shape == fitted.shape and np.array_equal(filled[mask > 0], fitted[mask > 0])
