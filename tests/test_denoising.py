"""Denoising: patch sampler, models, quality measures, tiled inference, the CLIs on tiny PNG sets, the page."""

import json
import re

import keras
import numpy as np
import pytest
from omegaconf import OmegaConf
from PIL import Image

from tests.harness import app_page, assert_round_trip, train_once
from tests.tiny_data import smooth_image
from toolkit import saving
from toolkit.config import parse_overrides
from toolkit.denoising.__main__ import main as denoising_cli
from toolkit.denoising.baselines import FigureCache, nlm_denoise
from toolkit.denoising.data import PatchSampler, load_image_set, read_gray
from toolkit.denoising.inference import (
    add_noise,
    denoise,
    denoise_channels,
    denoise_image,
    estimate_noise_sigma,
    noise_rng,
)
from toolkit.denoising.models import PixelShuffle, PixelUnshuffle
from toolkit.denoising.quality import psnr, ssim
from toolkit.errors import ConfigError, DataNotFoundError, InputError
from toolkit.evaluate import evaluate
from toolkit.tasks.denoising import Denoising, DenoisingConfig
from toolkit.train import train

TINY = ["depth=4", "filters=8", "batch_size=8", "patch_size=16", "patches_per_epoch=16", "precision=float32"]


def config(**overrides):
    return OmegaConf.structured(DenoisingConfig(**{"depth": 4, "filters": 8, "precision": "float32", **overrides}))


def test_patch_sampler_gives_patches_with_the_set_noise_level():
    images = [np.full((30, 50), 0.5, np.float32), np.full((40, 40), 0.5, np.float32)]
    sampler = PatchSampler(images, 25.0, patches=70, batch_size=32, patch_size=24, seed=3)
    assert len(sampler) == 3
    noisy, clean = sampler[0]
    assert noisy.shape == clean.shape == (32, 24, 24, 1) and sampler[2][0].shape == (6, 24, 24, 1)
    noise = noisy - clean
    assert abs(noise.mean()) < 0.003 and noise.std() == pytest.approx(25 / 255, rel=0.03)
    np.testing.assert_array_equal(sampler[1][0], sampler[1][0])  # a batch is a function of (seed, epoch, index)
    before = sampler[1][0]
    sampler.on_epoch_end()
    assert not np.array_equal(sampler[1][0], before)  # fresh noise and places every epoch


def test_blind_sampler_spreads_noise_levels_and_fixed_sampler_repeats():
    images = [np.zeros((20, 20), np.float32)]
    sampler = PatchSampler(images, None, patches=256, batch_size=256, patch_size=20, fixed=True)
    levels = 255 * sampler[0][0].std(axis=(1, 2, 3))
    assert levels.min() < 8 and 47 < levels.max() < 58  # drawn from [0, 55]
    first = sampler[0][0]
    sampler.on_epoch_end()
    np.testing.assert_array_equal(sampler[0][0], first)


def test_sampler_uses_flips_and_rotations():
    ramp = np.tile(np.linspace(0, 1, 16, dtype=np.float32), (16, 1))  # brightness grows to the right
    _, clean = PatchSampler([ramp], 0.0, patches=64, batch_size=64, patch_size=16)[0]
    orientations = {tuple(np.round(p[[0, -1], :, 0][:, [0, -1]].ravel(), 2)) for p in clean}
    assert len(orientations) == 4  # a ramp has 4 distinct orientations among the 8 transforms


def test_sampler_refuses_images_smaller_than_a_patch():
    with pytest.raises(InputError, match="at least 40x40"):
        PatchSampler([np.zeros((30, 60), np.float32)], 25.0, 8, 8, 40)


def test_dncnn_has_the_papers_size():
    model = Denoising().build(OmegaConf.structured(DenoisingConfig()))
    assert len([w for w in model.layers if w.__class__.__name__ == "Conv2D"]) == 17
    # 1x64 first conv with bias; 15 x (64x64 conv + BatchNorm); 64x1 last conv with bias
    assert model.count_params() == (9 * 64 + 64) + 15 * (9 * 64 * 64 + 4 * 64) + (9 * 64 + 1)
    # the default mixed_bfloat16: hidden layers compute in bfloat16, the residual and the output stay float32
    assert model.layers[1].compute_dtype == "bfloat16" and model.get_layer("clean").compute_dtype == "float32"


def test_sampler_tells_a_noise_level_model_each_patchs_level():
    images = [np.zeros((20, 20), np.float32)]
    sampler = PatchSampler(images, None, 64, 64, 20, sigma_range=(0, 75), noise_level_input=True)
    (noisy, levels), clean = sampler[0]
    assert levels.shape == (64, 1) and 60 / 255 < levels.max() <= 75 / 255
    np.testing.assert_allclose(noisy.std(axis=(1, 2, 3)), levels[:, 0], rtol=0.15, atol=0.005)


def test_pixel_unshuffle_splits_into_sub_images_and_shuffle_undoes_it():
    image = np.random.default_rng(0).random((2, 6, 8, 3)).astype("float32")
    sub_images = keras.ops.convert_to_numpy(PixelUnshuffle(2)(image))
    assert sub_images.shape == (2, 3, 4, 12)
    np.testing.assert_array_equal(sub_images[..., 0], image[:, ::2, ::2, 0])  # top-left pixel of each 2x2 block
    np.testing.assert_array_equal(sub_images[..., 3], image[:, ::2, 1::2, 0])  # top-right
    np.testing.assert_array_equal(sub_images[..., 6], image[:, 1::2, ::2, 0])  # bottom-left
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(PixelShuffle(2)(sub_images)), image)


def randomize_convolutions(model: keras.Model) -> list[keras.layers.Layer]:
    """Random filters in every convolution (the output one starts at zero, so a new model is the identity)."""
    conv = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    for i, layer in enumerate(conv):
        layer.kernel.assign(
            np.random.default_rng(i).normal(0, 0.3 if layer is not conv[-1] else 0.1, layer.kernel.shape)
        )
    return conv


def test_ffdnet_runs_at_half_resolution_and_listens_to_the_noise_level(tmp_path):
    model = Denoising().build(config(model="ffdnet", batch_norm=False))
    conv = randomize_convolutions(model)
    assert conv[0].kernel.shape == (3, 3, 5, 8) and conv[-1].kernel.shape == (3, 3, 8, 4)  # 4 sub-images + map
    assert model.get_layer("noise").output.shape[1:] == (None, None, 4)
    noisy = np.random.default_rng(2).random((1, 37, 23, 1)).astype("float32")  # odd sizes: padded, then cropped
    low, high = (model.predict([noisy, np.full((1, 1), s, "float32")], verbose=0) for s in (0.05, 0.3))
    assert low.shape == (1, 37, 23, 1) and np.abs(high - low).max() > 1e-3
    assert_round_trip(model, [noisy, np.full((1, 1), 0.1, "float32")], tmp_path)


def test_ffdnet_unet_body_keeps_any_size_listens_to_the_level_and_tiles_exactly(tmp_path):
    model = Denoising().build(config(model="ffdnet", body="unet", batch_norm=False))
    strided = [layer.filters for layer in model.layers if getattr(layer, "strides", (1, 1)) == (2, 2)]
    assert strided == [16, 32, 16, 8]  # down to 2x and 4x the filters, then back up
    output = model.get_layer("noise")
    output.kernel.assign(np.random.default_rng(0).normal(0, 0.1, output.kernel.shape))  # the rest: orthogonal init
    noisy = np.random.default_rng(2).random((1, 37, 23, 1)).astype("float32")  # padded to multiples of 8, cropped
    low, high = (model.predict([noisy, np.full((1, 1), s, "float32")], verbose=0) for s in (0.05, 0.3))
    assert low.shape == (1, 37, 23, 1) and np.abs(high - low).max() > 1e-3
    assert_round_trip(model, [noisy, np.full((1, 1), 0.1, "float32")], tmp_path)
    photo = np.random.default_rng(3).random((150, 136)).astype("float32")
    whole = denoise(model, photo, 25, tile=1000)
    assert 0.5 < np.mean((whole > 0) & (whole < 1))  # not saturated: the comparison below means something
    np.testing.assert_allclose(denoise(model, photo, 25, tile=64), whole, atol=1e-5)  # the default margin
    with pytest.raises(ConfigError, match="body=unet"):
        Denoising().build(config(body="unet"))
    with pytest.raises(ConfigError, match="body"):
        Denoising().build(config(model="ffdnet", body="resnet", batch_norm=False))


def test_denoise_tells_a_noise_level_model_the_level_or_its_estimate():
    class ShowLevel(keras.layers.Layer):  # outputs the level it is told, everywhere
        def call(self, noisy, sigma):
            return keras.ops.zeros_like(noisy) + keras.ops.reshape(sigma, (-1, 1, 1, 1))

    noisy_in, sigma_in = keras.Input((None, None, 1)), keras.Input((1,))
    model = keras.Model([noisy_in, sigma_in], ShowLevel()(noisy_in, sigma_in))
    image = add_noise(np.full((64, 64), 0.5, np.float32), 30, np.random.default_rng(0))
    np.testing.assert_allclose(denoise(model, image, 20), 20 / 255, rtol=1e-6)
    assert denoise(model, image).mean() == pytest.approx(30 / 255, rel=0.1)  # estimated from the image


def test_denoise_image_keeps_the_bit_depth_and_colour():
    half = keras.Sequential([keras.Input((None, None, 1)), keras.layers.Rescaling(0.5)])  # a stand-in "denoiser"
    grey8 = np.full((20, 30), 200, np.uint8)
    assert denoise_image(half, grey8).dtype == np.uint8 and (denoise_image(half, grey8) == 100).all()
    grey16 = np.full((20, 30), 60000, np.uint16)
    assert denoise_image(half, grey16).dtype == np.uint16 and (denoise_image(half, grey16) == 30000).all()
    colour = np.full((20, 30, 3), 0.8, np.float32)
    np.testing.assert_allclose(denoise_image(half, colour), 0.4, atol=1e-6)
    for bad in (np.zeros((20, 30, 2), np.uint8), np.zeros((8, 8), np.uint32), np.zeros((8, 8), bool)):
        with pytest.raises(InputError):
            denoise_image(half, bad)


def test_denoising_command_writes_the_photo_in_its_mode(tmp_path):
    model = Denoising().build(config(model="ffdnet", batch_norm=False))
    saving.save_model(model, tmp_path / "ffdnet.keras")
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 40, 3), dtype=np.uint8)).save(photo)
    written = denoising_cli(["--model", str(tmp_path / "ffdnet.keras"), str(photo)])
    assert written == tmp_path / "photo_denoised.png"
    with Image.open(written) as image:
        assert image.mode == "RGB" and image.size == (40, 24)
    randomize_convolutions(model)  # an untrained FFDNet is the identity, with or without the self-ensemble
    saving.save_model(model, tmp_path / "ffdnet.keras")
    args = ["--model", str(tmp_path / "ffdnet.keras"), "--sigma", "25", str(photo), "--out"]
    plain, ensemble = (
        denoising_cli([*args, str(tmp_path / "plain")]),
        denoising_cli([*args, str(tmp_path / "x8"), "--ensemble"]),
    )
    with Image.open(plain) as one, Image.open(ensemble) as eight:
        assert one.size == eight.size == (40, 24) and (np.asarray(one) != np.asarray(eight)).any()
    with pytest.raises(SystemExit):
        denoising_cli(["--model", str(tmp_path / "ffdnet.keras"), str(tmp_path / "missing.png")])


@pytest.mark.parametrize("variant", ["dncnn", "dae"])
def test_models_keep_any_image_size_and_round_trip(variant, tmp_path):
    model = Denoising().build(config(model=variant))
    noisy = np.random.default_rng(0).random((2, 37, 23, 1)).astype("float32")
    assert model.predict(noisy, verbose=0).shape == (2, 37, 23, 1)
    assert_round_trip(model, noisy, tmp_path)


def test_dncnn_output_is_input_minus_predicted_noise():
    model = Denoising().build(config())
    noisy = np.random.default_rng(1).random((1, 19, 21, 1)).astype("float32")
    noise_model = keras.Model(model.input, model.get_layer("noise").output)
    np.testing.assert_allclose(
        model.predict(noisy, verbose=0), noisy - noise_model.predict(noisy, verbose=0), atol=1e-6
    )


def test_psnr_and_ssim_match_known_values():
    clean = np.full((32, 32), 100 / 255)
    assert psnr(clean, clean + 10 / 255) == pytest.approx(10 * np.log10(255**2 / 100), abs=1e-6)  # 28.13 dB
    assert psnr(clean, clean) == float("inf") and ssim(clean, clean) == pytest.approx(1.0)
    assert psnr(np.zeros((4, 4)), np.full((4, 4), -3.0)) == float("inf")  # estimates are clipped to [0, 1]
    picture = smooth_image(40, 40, 0) / 255
    noisy = add_noise(picture, 25, noise_rng(0, 25, "a"))
    assert 0.1 < ssim(picture, noisy) < 0.8 and ssim(picture, noisy) < ssim(picture, nlm_denoise(noisy, 25))
    assert psnr(picture, noisy) == pytest.approx(20.6, abs=0.5)  # sigma 25 -> 20.17 dB before clipping


def test_test_noise_is_fixed_per_image_and_level():
    a, b = noise_rng(0, 25, "x.png").standard_normal(4), noise_rng(0, 25, "x.png").standard_normal(4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, noise_rng(0, 15, "x.png").standard_normal(4))
    assert not np.array_equal(a, noise_rng(0, 25, "y.png").standard_normal(4))


def test_noise_level_estimate_and_colour_photos_per_channel():
    rng = np.random.default_rng(0)
    clean = np.clip(np.add.outer(np.linspace(0, 1, 96), np.linspace(0, 0.5, 80)), 0, 1).astype(np.float32)
    for sigma in (15, 50):
        assert abs(estimate_noise_sigma(add_noise(clean, sigma, rng)) - sigma) < 0.1 * sigma
    colour = np.stack([clean, clean[::-1], 1 - clean], axis=-1)
    scale = keras.Sequential([keras.Input((None, None, 1)), keras.layers.Rescaling(0.5)])  # a stand-in "denoiser"
    np.testing.assert_allclose(denoise_channels(scale, colour), colour * 0.5, atol=1e-6)
    halved = denoise_channels(scale, colour)  # the page scores colour results: SSIM is the mean over channels
    assert ssim(colour, halved) == pytest.approx(np.mean([ssim(colour[..., c], halved[..., c]) for c in range(3)]))
    assert np.isfinite(psnr(colour, halved))
    assert denoise_channels(scale, clean).shape == clean.shape


def test_tiled_denoising_equals_one_pass():
    model = Denoising().build(config(depth=5))
    noisy = np.random.default_rng(2).random((45, 70)).astype("float32")
    whole = denoise(model, noisy, tile=1000)
    np.testing.assert_allclose(denoise(model, noisy, tile=16, margin=8), whole, atol=1e-5)
    assert whole.min() >= 0 and whole.max() <= 1
    with pytest.raises(InputError, match="grayscale"):
        denoise(model, np.zeros((8, 8, 3)))


def test_self_ensemble_is_the_mean_over_rotations_and_mirrors():
    model = Denoising().build(config(model="ffdnet", batch_norm=False))
    randomize_convolutions(model)  # random filters: the network itself prefers no orientation
    noisy = np.random.default_rng(3).random((21, 34)).astype("float32")  # not square: rotations change the shape
    ensemble = denoise(model, noisy, 25, ensemble=True)
    assert ensemble.shape == noisy.shape and np.abs(ensemble - denoise(model, noisy, 25)).max() > 1e-3
    for turn in (lambda x: np.rot90(x), lambda x: np.rot90(x, 2), lambda x: x[:, ::-1], lambda x: x.T):
        transformed = np.ascontiguousarray(turn(noisy))
        assert np.abs(denoise(model, transformed, 25) - turn(denoise(model, noisy, 25))).max() > 1e-3
        np.testing.assert_allclose(denoise(model, transformed, 25, ensemble=True), turn(ensemble), atol=1e-5)
    half = keras.Sequential([keras.Input((None, None, 1)), keras.layers.Rescaling(0.5)])  # has no orientation
    np.testing.assert_allclose(denoise(half, noisy, ensemble=True), denoise(half, noisy), atol=1e-6)


def test_figure_cache_keys_on_pixels(tmp_path):
    image = np.zeros((4, 4), np.float32)
    cache = FigureCache(tmp_path / "c.json")
    cache.put(FigureCache.key("bm3d", "a.png", image), (30.0, 0.9))
    reloaded = FigureCache(tmp_path / "c.json")
    assert reloaded.get(FigureCache.key("bm3d", "a.png", image)) == (30.0, 0.9)
    assert reloaded.get(FigureCache.key("bm3d", "a.png", image + 1)) is None
    (tmp_path / "c.json").write_text("{not json")
    assert FigureCache(tmp_path / "c.json").entries == {}


def test_artifact_names_say_variant_and_noise_level():
    task = Denoising()
    assert task.artifact(config()) == "denoising"
    assert task.artifact(config(sigma="blind")) == "denoising_blind"
    assert task.artifact(config(model="dae", sigma="50")) == "denoising_dae_sigma50"
    cli = parse_overrides(["task=denoising", "sigma=15"], DenoisingConfig)
    assert task.artifact(cli) == "denoising_sigma15"


def test_bad_settings_and_inputs_give_clear_errors(tiny_images, tmp_path):
    with pytest.raises(ConfigError, match="'blind'"):
        Denoising().artifact(config(sigma="loud"))
    with pytest.raises(ConfigError, match="Unknown baseline"):
        Denoising().evaluate(Denoising().build(config()), config(data_dir=str(tiny_images), baselines="wiener"))
    with pytest.raises(DataNotFoundError, match="denoising/bsd68"):
        load_image_set("bsd68", str(tmp_path))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    with pytest.raises(InputError, match="Cannot read image"):
        read_gray(broken)


def test_train_and_evaluate_clis_on_tiny_sets(tiny_images, tmp_path):
    result = train_once(["task=denoising", f"data_dir={tiny_images}", *TINY, "baselines=nlm", "cache=false"], tmp_path)
    card = json.loads((tmp_path / "out" / "denoising.json").read_text())
    assert card["data"]["train_images"] == 8 and card["data"]["validation_images"] == 2
    assert card["metrics"]["test_images"] == 2 and {"psnr", "ssim", "psnr_25", "nlm_psnr_25"} <= set(card["metrics"])
    assert card["metrics"]["psnr"] == pytest.approx(result.evaluation.metrics["psnr"])
    assert "val_patch_psnr" in (tmp_path / "run" / "log.csv").read_text()

    report = tmp_path / "eval.json"
    evaluation = evaluate(
        [
            "task=denoising",
            f"data_dir={tiny_images}",
            *TINY,
            "baselines=bm3d,nlm",
            "cache=false",
            "limit=1",
            f"model_path={tmp_path / 'out' / 'denoising.keras'}",
            f"json={report}",
        ]
    )
    methods = [row["method"] for row in evaluation.table]
    assert methods == ["noisy input", "dncnn", "BM3D", "NLM (scikit-image)"]  # in the order asked
    assert evaluation.metrics["test_images"] == 1
    assert evaluation.metrics["bm3d_psnr_25"] > evaluation.metrics["noisy_psnr_25"] + 3  # BM3D really ran
    assert json.loads(report.read_text())["metrics"]["psnr"] == pytest.approx(evaluation.metrics["psnr"])


def test_blind_evaluation_reports_the_three_published_levels(tiny_images):
    evaluation = Denoising().evaluate(
        Denoising().build(config(sigma="blind")), config(sigma="blind", data_dir=str(tiny_images), baselines="none")
    )
    assert [row["sigma"] for row in evaluation.table] == ["15", "15", "25", "25", "50", "50"]
    assert evaluation.metrics["psnr"] == evaluation.metrics["psnr_25"] and "psnr_50" in evaluation.metrics


def test_ffdnet_trains_blind_and_is_measured_at_each_published_level(tiny_images, tmp_path):
    words = ["task=denoising", "model=ffdnet", f"data_dir={tiny_images}", *TINY, "baselines=nlm", "cache=false"]
    result = train_once([*words, "self_ensemble=true"], tmp_path)
    card = json.loads((tmp_path / "out" / "denoising_ffdnet.json").read_text())
    assert card["data"]["sigma"] == "blind" and card["data"]["sigma_range"] == [0, 75]
    assert [row["sigma"] for row in result.evaluation.table] == ["15"] * 4 + ["25"] * 4 + ["50"] * 4
    assert "ffdnet, self-ensemble x8" in {row["method"] for row in result.evaluation.table}
    assert {"psnr_15", "psnr_50", "nlm_psnr_50", "x8_psnr_25", "x8_ssim_50", "psnr"} <= set(card["metrics"])
    with pytest.raises(ConfigError, match="sigma=blind only"):
        Denoising().artifact(config(model="ffdnet", sigma="25"))


@pytest.fixture
def shipped_tiny_model(tiny_images, tmp_path, monkeypatch):
    """Tiny `denoising`, `denoising_blind` and `denoising_ffdnet` models trained on the tiny sets, shipped into a
    private trained/."""
    for i, variant in enumerate([[], ["sigma=blind"], ["model=ffdnet"]]):  # each its own run folder, one out/
        words = ["task=denoising", *variant, f"data_dir={tiny_images}", *TINY, "baselines=none"]
        train([*words, "epochs=1", "verbose=0", f"run_dir={tmp_path / f'run{i}'}", f"out={tmp_path / 'out'}"])
    ffdnet = saving.load_model(tmp_path / "out" / "denoising_ffdnet.keras")  # two steps barely leave the identity:
    randomize_convolutions(ffdnet)  # random filters make its output depend on the level it is told
    saving.save_model(ffdnet, tmp_path / "out" / "denoising_ffdnet.keras")
    monkeypatch.setenv("TOOLKIT_TRAINED", str(tmp_path / "out"))
    monkeypatch.setenv("TOOLKIT_DATA", str(tiny_images))
    return tmp_path / "out"


def test_page_tells_ffdnet_the_noise_level_and_lets_the_user_change_it(shipped_tiny_model):
    page = app_page("denoising").run()
    assert not page.exception and page.radio(key="model").value == "denoising_ffdnet"  # the first choice
    page.slider(key="sigma").set_value(50).run()
    told = page.slider(key="told_sigma_50")
    assert told.value == 50 and not page.warning  # told the noise added; one model for every level
    before = page.get("image")[1].proto.imgs[0].caption
    told.set_value(10).run()
    assert not page.exception and page.get("image")[1].proto.imgs[0].caption != before
    before = page.get("image")[1].proto.imgs[0].caption
    page.checkbox(key="ensemble").check().run()
    assert not page.exception and page.get("image")[1].proto.imgs[0].caption != before  # a different estimate
    page.checkbox(key="ensemble").uncheck().run()
    page.checkbox(key="already_noisy").check().run()
    told = [s for s in page.slider if s.key.startswith("told_sigma_")]
    estimate = float(re.search(r"sigma = (\d+\.\d)", page.info[0].value).group(1))
    assert not page.exception and len(told) == 1 and told[0].value == round(estimate)  # the image's own level


def test_page_denoises_a_test_image_and_offers_the_result(shipped_tiny_model):
    page = app_page("denoising")
    page.session_state["model"] = "denoising"
    page.run()
    assert not page.exception and not page.error
    page.selectbox(key="image").set_value("test002.png").run()
    page.slider(key="sigma").set_value(50).run()
    assert not page.exception and not page.error
    assert page.warning  # sigma 50 is outside the model's training level
    assert len(page.columns) == 3 + 3 + 3  # noisy, denoised, clean; crop position and zoom; the three crops
    page.radio(key="model").set_value("denoising_blind").run()
    assert not page.exception and not page.warning  # the blind model covers sigma 50
    assert "dB at sigma 15" in page.caption[0].value and "dB at sigma 50" in page.caption[0].value
    page.slider(key="crop_left").set_value(0).run()
    captions = [image.proto.imgs[0].caption for image in page.get("image")]
    assert not page.exception and len(captions) == 6 and re.fullmatch(r"clean, \d+x\d+ px at 4x", captions[-1])
    page.checkbox(key="already_noisy").check().run()
    assert not page.exception and len(page.columns) == 2 + 3 + 2
    assert re.search(r"Estimated noise level: sigma = \d+\.\d", page.info[0].value)
    assert page.get("download_button")
