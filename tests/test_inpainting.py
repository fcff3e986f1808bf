"""Inpainting: the DCGAN, masks and contextual weights, Poisson blending, latent search, the CLIs and the page,
in grey (Fashion-MNIST) and in colour (CIFAR-10)."""

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

from tests.harness import app_page, train_once
from toolkit import pretrained, saving
from toolkit.data.cifar import CIFAR10_CLASSES
from toolkit.data.paths import REPO_ROOT
from toolkit.data.tfds_source import FLOWER_PHOTOS_CLASSES
from toolkit.errors import ConfigError, DataNotFoundError, InputError
from toolkit.evaluate import evaluate
from toolkit.inpainting.blend import poisson_blend
from toolkit.inpainting.classic import CLASSIC_METHODS, psnr, ssim
from toolkit.inpainting.data import fit_to_dataset, load_images
from toolkit.inpainting.dcgan import DCGAN, NORMS
from toolkit.inpainting.masks import MASKS, check_mask, contextual_weights, make_mask, mask_from_drawing
from toolkit.inpainting.search import SearchSettings, combine_starts, inpaint, latent_search
from toolkit.tasks.inpainting import InpaintingConfig, evaluation_image_count, search_settings

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
    for filled in (result.blended, result.overlay):
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
    assert [row["method"] for row in card["evaluation_table"]][:3] == ["GAN + Poisson (ours)", "GAN overlay", "Telea"]


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


def test_page_fills_a_test_image(shipped_tiny, tiny_fashion, monkeypatch):
    monkeypatch.setenv("TOOLKIT_TRAINED", str(shipped_tiny))
    monkeypatch.setenv("TOOLKIT_DATA", str(tiny_fashion))
    page = app_page("inpainting").run()
    assert not page.exception and not page.error
    page.number_input(key="index").set_value(3).run()
    page.selectbox(key="mask").set_value("left").run()
    page.slider(key="steps").set_value(10).run()
    page.button(key="run").click().run()
    assert not page.exception and not page.error
    assert "after 10 steps" in page.caption[-1].value and "averaged" not in page.caption[-1].value
    page.checkbox(key="average").check().run()
    page.button(key="run").click().run()
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
    names = [name for name in pretrained.list() if name.startswith("inpainting_")]
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
    for filled in (result.blended, result.overlay, result.generated, result.masked):
        assert filled.shape == images.shape and filled.dtype == np.float32
    for filled in (result.blended, result.overlay):
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
    assert max(errors["Telea"], errors["Navier-Stokes"]) < errors["mean fill"]


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
    assert methods == ["GAN + Poisson (ours)", "GAN overlay", *CLASSIC_METHODS]
    assert all(row["images"] == 4 and np.isfinite(row["PSNR hole"]) for row in evaluation.table)
    assert all(-1 <= row["SSIM hole"] <= 1 for row in evaluation.table)
    assert evaluation.metrics["mask"] == mask and evaluation.metrics["test_images"] == 4
    assert (tmp_path / "compare.png").exists()


def test_page_says_when_the_colour_model_is_missing_and_runs_a_grey_one(shipped_tiny, tiny_fashion, monkeypatch):
    monkeypatch.setenv("TOOLKIT_TRAINED", str(shipped_tiny))
    monkeypatch.setenv("TOOLKIT_DATA", str(tiny_fashion))
    page = app_page("inpainting").run()
    assert not page.exception and not page.error
    assert "inpainting_cifar10" in page.info[0].value and "not been shipped" in page.info[0].value
    assert page.selectbox(key="model").value == "inpainting_fashion_mnist"
    page.slider(key="steps").set_value(10).run()
    page.button(key="run").click().run()
    assert not page.exception and not page.error and "after 10 steps" in page.caption[-1].value


def test_page_opens_on_the_colour_model_and_fills_a_cifar10_hole(
    shipped_colour, shipped_tiny, tiny_cifar, monkeypatch, tmp_path
):
    colour = Path(shipped_colour.card["config"]["out"]) / "inpainting_cifar10"
    for stem in (colour, shipped_tiny / "inpainting_fashion_mnist"):  # a trained/ folder with both
        for suffix in (".keras", ".json"):
            shutil.copy(stem.with_suffix(suffix), tmp_path)
    monkeypatch.setenv("TOOLKIT_TRAINED", str(tmp_path))
    monkeypatch.setenv("TOOLKIT_DATA", str(tiny_cifar))
    page = app_page("inpainting").run()
    assert not page.exception and not page.error and not page.info
    assert page.selectbox(key="model").value == "inpainting_cifar10"
    assert page.selectbox(key="model").options == ["inpainting_cifar10", "inpainting_fashion_mnist"]
    assert page.selectbox(key="mask").value == "center"
    page.slider(key="steps").set_value(10).run()
    page.button(key="run").click().run()
    assert not page.exception and not page.error
    assert "after 10 steps" in page.caption[-1].value and "averaged" not in page.caption[-1].value
    page.checkbox(key="average").check().run()
    page.button(key="run").click().run()
    assert not page.exception and "fills averaged" in page.caption[-1].value
    if "draw" in page.selectbox(key="mask").options:  # the canvas, over the colour image: nothing painted yet
        page.selectbox(key="mask").set_value("draw").run()
        assert not page.exception and "Paint the part" in page.info[-1].value
