"""Foundations: the lecture basics as functions (checked against Keras where Keras has them) and their pages."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import streamlit as st
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as strategies
from streamlit.testing.v1 import AppTest

from toolkit import pretrained, saving
from toolkit.digits.models import build_cnn, build_lenet5, build_mlp
from toolkit.digits.predict import CLASS_NAMES
from toolkit.errors import InputError
from toolkit.foundations import activations, conv_arithmetic, feature_maps, optimizers
from toolkit.foundations.initialisation import weight_std
from toolkit.foundations.network import MLP
from toolkit.foundations.perceptron import Perceptron, accuracy, make_data, solve_xor
from toolkit.foundations.propagation import propagate

PAGES = Path(__file__).parents[1] / "apps" / "pages"


def page(topic: str) -> AppTest:
    return AppTest.from_file(str(PAGES / f"foundations_{topic}.py"), default_timeout=120).run()


# --- activations -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(activations.ACTIVATIONS))
def test_derivative_matches_finite_differences(name):
    z = np.array([-4.0, -1.3, -0.2, 0.3, 1.7, 4.0])  # away from ReLU's kink at 0
    f = activations.get(name)
    numeric = (f.function(z + 1e-6) - f.function(z - 1e-6)) / 2e-6
    np.testing.assert_allclose(f.derivative(z), numeric, rtol=1e-5, atol=1e-8)


def test_activations_are_finite_for_extreme_inputs():
    z = np.array([-1000.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        np.testing.assert_array_equal(activations.sigmoid(z), [0, 1])
        np.testing.assert_array_equal(activations.softplus(z), [0, 1000])
    with pytest.raises(InputError, match="Unknown activation 'swish'"):
        activations.get("swish")


# --- initialisation and signal propagation ------------------------------------------------------------------


@pytest.mark.parametrize(("scheme", "initializer"), [("xavier", "glorot_normal"), ("he", "he_normal")])
def test_weight_scale_equals_keras_initializer(scheme, initializer):
    fan_in, fan_out = 300, 200
    keras_weights = keras.ops.convert_to_numpy(keras.initializers.get(initializer)((fan_in, fan_out)))
    assert keras_weights.std() == pytest.approx(weight_std(scheme, fan_in, fan_out), rel=0.05)


def test_he_init_keeps_relu_activation_variance_constant():
    he = propagate("relu", "he", depth=10, width=128, batch=256).activation_std
    assert 0.5 < (he[-1] / he[0]) ** 2 < 2
    assert np.all((he / he[0]) ** 2 > 0.5)
    xavier = propagate("relu", "xavier", depth=10, width=128, batch=256).activation_std
    assert (xavier[-1] / xavier[0]) ** 2 < 0.05  # Xavier halves a ReLU layer's variance at every layer


def test_small_weights_make_tanh_activations_and_gradients_vanish():
    small = propagate("tanh", "small random", depth=10, width=128, batch=256)
    xavier = propagate("tanh", "xavier", depth=10, width=128, batch=256)
    assert small.activation_std[-1] < 1e-6 and xavier.activation_std[-1] > 0.1
    assert small.gradient_norm[0] < 1e-6 * xavier.gradient_norm[0]


def test_sigmoid_gradients_vanish_towards_the_input_but_relu_ones_do_not():
    sigmoid = propagate("sigmoid", "xavier", depth=10, width=128, batch=256).gradient_norm
    assert sigmoid[0] < 1e-3 * sigmoid[-1]
    relu = propagate("relu", "he", depth=10, width=128, batch=256).gradient_norm
    assert 0.1 < relu[0] / relu[-1] < 10


def test_unknown_initialisation_is_refused():
    with pytest.raises(InputError, match="Unknown initialisation 'lecun'"):
        weight_std("lecun", 3, 3)


# --- network and perceptron ---------------------------------------------------------------------------------


def test_backprop_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(7, 3)), rng.integers(0, 2, 7)
    net = MLP.create([3, 4, 5, 1], "tanh", seed=2)
    grads = net.gradients(x, y)
    for param, grad in zip(net.weights + net.biases, grads.weights + grads.biases):
        index = tuple(rng.integers(0, n) for n in param.shape)
        saved = param[index]
        param[index] = saved + 1e-6
        up = net.gradients(x, y).loss
        param[index] = saved - 1e-6
        down = net.gradients(x, y).loss
        param[index] = saved
        assert grad[index] == pytest.approx((up - down) / 2e-6, rel=1e-4, abs=1e-9)


@pytest.mark.parametrize("gate", ["AND", "OR"])
def test_perceptron_converges_on_separable_gates(gate):
    x, y = make_data(gate)
    perceptron = Perceptron()
    mistakes = perceptron.fit(x, y, epochs=20)
    assert mistakes[-1] == 0 and accuracy(perceptron.predict(x), y) == 1


def test_perceptron_cannot_learn_xor():
    x, y = make_data("XOR")
    perceptron = Perceptron()
    assert np.all(perceptron.fit(x, y, epochs=200) >= 1)
    # no line does better than 3 of 4: many random lines, none separates XOR
    lines = np.random.default_rng(0).normal(size=(20000, 3))
    predictions = (x @ lines[:, :2].T + lines[:, 2] > 0).astype(int)
    assert (predictions == y[:, None]).mean(0).max() == 0.75


def test_two_hidden_units_trained_by_backprop_solve_xor():
    x, y = make_data("XOR")
    net, losses = solve_xor(hidden=2, seed=0)
    assert accuracy(net.predict(x) > 0.5, y) == 1 and losses[-1] < 0.05
    solved = [accuracy(solve_xor(seed=seed)[0].predict(x) > 0.5, y) == 1 for seed in range(6)]
    assert sum(solved) >= 3  # some starts end in a local minimum: that is part of the lesson


def test_mlp_separates_two_moons():
    x, y = make_data("two moons", n=200)
    assert x.shape == (200, 2) and set(np.unique(y)) == {0, 1}
    net = MLP.create([2, 8, 1], "tanh", seed=0)
    net.fit(x, y, 0.5, 1000)
    assert accuracy(net.predict(x) > 0.5, y) > 0.95


def test_unknown_data_set_and_bad_layer_sizes_are_refused():
    with pytest.raises(InputError, match="Unknown data set 'spirals'"):
        make_data("spirals")
    with pytest.raises(InputError, match="Layer sizes"):
        MLP.create([2, 3, 2])


# --- convolution arithmetic ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "parameters"),
    [("LeNet-5", 61_706), ("AlexNet", 60_965_224), ("VGG-16", 138_357_544)],  # AlexNet ~60M, VGG-16 ~138M
)
def test_classic_networks_formulas_equal_keras(preset, parameters):
    table = conv_arithmetic.compare_with_keras(conv_arithmetic.PRESETS[preset])
    assert all(row["agrees"] for row in table)
    assert sum(row["parameters (formula)"] for row in table) == parameters
    assert sum(row["parameters (Keras)"] for row in table) == parameters


def test_alexnet_and_vgg_shapes_and_receptive_fields_as_in_the_notes():
    rows = {r.layer.name: r for r in conv_arithmetic.analyse(*conv_arithmetic.parse(conv_arithmetic.ALEXNET))}
    assert rows["conv1"].output == (55, 55, 96) and rows["pool1"].output == (27, 27, 96)
    assert rows["pool5"].output == (6, 6, 256) and rows["fc6"].params == 6 * 6 * 256 * 4096 + 4096
    assert rows["conv1"].receptive_field == 11 and rows["pool1"].receptive_field == 19
    vgg = conv_arithmetic.analyse(*conv_arithmetic.parse(conv_arithmetic.VGG16))
    # three stacked 3x3 convolutions see 7x7 (Simonyan & Zisserman's argument)
    three = conv_arithmetic.analyse(*conv_arithmetic.parse("input 32x32x3\n" + "conv 8 3x3 p1\n" * 3))
    assert [r.receptive_field for r in three] == [3, 5, 7]
    assert vgg[-4].output == (7, 7, 512) and vgg[-4].receptive_field == 212


def test_untiled_input_is_flagged_and_floored_like_keras():
    (row,) = conv_arithmetic.analyse(*conv_arithmetic.parse("input 224x224x3\nconv 96 11x11 s4"))
    assert row.output == (54, 54, 96) and not row.exact  # (224 - 11) / 4 + 1 = 54.25
    (keras_row,) = conv_arithmetic.compare_with_keras("input 224x224x3\nconv 96 11x11 s4")
    assert keras_row["agrees"] and not keras_row["tiles exactly"]


layer_lines = strategies.one_of(
    strategies.builds(
        "conv {} {}x{} s{} {}".format,
        strategies.integers(1, 8),
        strategies.shared(strategies.integers(1, 7), key="kernel"),
        strategies.shared(strategies.integers(1, 7), key="kernel"),
        strategies.integers(1, 4),
        strategies.sampled_from(["p0", "p1", "p2", "p3", "same"]),
    ),
    strategies.builds(
        "{} {} s{} {}".format,
        strategies.sampled_from(["maxpool", "avgpool"]),
        strategies.integers(1, 4),
        strategies.integers(1, 4),
        strategies.sampled_from(["p0", "same"]),
    ),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=strategies.integers(8, 40),
    channels=strategies.integers(1, 4),
    lines=strategies.lists(layer_lines, min_size=1, max_size=3),
)
def test_formula_equals_keras_output_shapes_for_random_stacks(size, channels, lines):
    text = f"input {size}x{size}x{channels}\n" + "\n".join(lines)
    try:
        rows = conv_arithmetic.analyse(*conv_arithmetic.parse(text))
    except InputError:  # a window larger than its input: Keras refuses those too
        return
    shape, stack = conv_arithmetic.parse(text)
    model = conv_arithmetic.build_keras(shape, stack, allocate_weights=True)
    output = model(np.zeros((1, *shape), np.float32))  # run it: the shape of a real computation
    assert tuple(output.shape[1:]) == rows[-1].output
    assert model.count_params() == sum(r.params for r in rows)


def test_symbolic_build_allocates_no_weights():
    from keras.src.backend.common import global_state

    model = conv_arithmetic.build_keras(*conv_arithmetic.parse(conv_arithmetic.VGG16))
    assert model.count_params() == 138_357_544
    assert not global_state.get_global_attribute("uninitialized_variables")  # nothing left to initialise later


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("conv 8 3x3", "first line must give the input size"),
        ("input 32x32x3\nconv 8 3x5", "only square kernels"),
        ("input 32x32x3\nconv 8 3x3 q2", "cannot read 'q2'"),
        ("input 32x32x3\nconv 3x3", "expected 'conv <filters> <kernel>'"),
        ("input 32x32x3\nconv 8 3x3 g2", "2 groups must divide both 3 input channels"),
        ("input 4x4x1\nconv 8 5x5", "does not fit an input 4 pixels wide"),
        ("input 8x8x1\nc: conv 8 3x3\nc: maxpool 2x2", "must be unique; repeated: c"),
        ("input 4x4x1\nfc 10\nconv 8 1x1", "cannot follow a dense layer"),
    ],
)
def test_bad_layer_lists_get_clear_errors(text, message):
    with pytest.raises(InputError, match=message):
        conv_arithmetic.analyse(*conv_arithmetic.parse(text))


# --- softmax, cross-entropy, optimizers ---------------------------------------------------------------------


def test_softmax_and_cross_entropy_equal_keras():
    logits = np.array([[2.0, 1.0, 0.1, -1.0], [500.0, -500.0, 0.0, 1.0]])
    probabilities = optimizers.softmax(logits)
    np.testing.assert_allclose(probabilities, keras.ops.convert_to_numpy(keras.ops.softmax(logits)), atol=1e-6)
    np.testing.assert_allclose(optimizers.softmax(logits + 100), probabilities)  # shift invariance
    for row, label in zip(logits, [0, 1]):
        expected = keras.losses.sparse_categorical_crossentropy(np.array([label]), row[None], from_logits=True)
        assert optimizers.cross_entropy(row, label) == pytest.approx(float(expected[0]), rel=1e-5)
    with pytest.raises(InputError, match="temperature"):
        optimizers.softmax(logits, temperature=0)


def test_cross_entropy_gradient_is_p_minus_one_hot():
    z = np.array([0.3, -1.2, 2.0])
    numeric = [
        (optimizers.cross_entropy(z + e, 2) - optimizers.cross_entropy(z - e, 2)) / 2e-6 for e in np.eye(3) * 1e-6
    ]
    np.testing.assert_allclose(optimizers.cross_entropy_gradient(z, 2), numeric, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "keras_optimizer"),
    [
        ("sgd", keras.optimizers.SGD),
        ("momentum", lambda learning_rate: keras.optimizers.SGD(learning_rate, momentum=0.9)),
        ("adam", keras.optimizers.Adam),
    ],
)
def test_update_rules_follow_the_keras_optimizers(name, keras_optimizer):
    surface = optimizers.SURFACES["himmelblau"]
    learning_rate = surface.learning_rates[name]
    ours = optimizers.trajectory(surface, name, learning_rate, steps=25)
    optimizer = keras_optimizer(learning_rate)
    weights = keras.Variable(np.array(surface.start, np.float32))
    theirs = [keras.ops.convert_to_numpy(weights)]
    for _ in range(25):
        gradient = surface.gradient(*theirs[-1].astype(np.float64)).astype(np.float32)
        optimizer.apply_gradients([(gradient, weights)])
        theirs.append(keras.ops.convert_to_numpy(weights))
    np.testing.assert_allclose(ours, np.array(theirs), atol=2e-3)


def test_every_optimizer_reaches_the_ravine_minimum_and_a_large_step_diverges():
    surface = optimizers.SURFACES["ravine"]
    for name in optimizers.OPTIMIZERS:
        path = optimizers.trajectory(surface, name, surface.learning_rates[name], 500)
        assert surface.loss(*path[-1]) < 1e-3, name
    assert len(optimizers.trajectory(surface, "sgd", 1.0, 500)) < 100  # stopped when it blew up


# --- feature maps -------------------------------------------------------------------------------------------


def _digits_model(variant: str) -> keras.Model:
    """An untrained digits network, float32 (the global policy): an exact reference."""
    return {"mlp": build_mlp, "lenet5": build_lenet5, "cnn": build_cnn}[variant]()


def test_first_feature_map_is_the_convolution_written_out():
    model = _digits_model("lenet5")  # rescale, pad by 2, conv 6 filters 5x5 with tanh
    image = np.random.default_rng(0).integers(0, 256, (28, 28, 1)).astype(np.float32)
    name = feature_maps.spatial_layers(model)[0]
    maps = feature_maps.feature_maps(model, image, [name])[name]
    filters = feature_maps.first_layer_filters(model)  # (6, 5, 5, 1)
    bias = keras.ops.convert_to_numpy(model.get_layer(name).bias)
    padded = np.pad(image[..., 0] / 255, 2)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (5, 5))  # (28, 28, 5, 5)
    expected = np.tanh(np.einsum("ijkl,fkl->ijf", windows, filters[..., 0]) + bias)
    np.testing.assert_allclose(maps, expected, atol=1e-5)


def test_feature_maps_of_every_layer_have_the_layer_shapes():
    model = _digits_model("cnn")
    names = feature_maps.spatial_layers(model)
    assert isinstance(model.get_layer(names[0]), keras.layers.Conv2D)
    assert not any("dropout" in n or "random" in n for n in names)
    maps = feature_maps.feature_maps(model, np.zeros((28, 28, 1)), names)
    assert all(maps[n].shape == model.get_layer(n).output.shape[1:] for n in names)
    with pytest.raises(InputError, match=r"shape \(28, 28, 1\)"):
        feature_maps.feature_maps(model, np.zeros((32, 32, 3)), names)
    with pytest.raises(InputError, match="no convolution layer"):
        feature_maps.spatial_layers(_digits_model("mlp"))


def test_tile_lays_out_normalised_images_with_white_gaps():
    grid = feature_maps.tile(np.arange(5 * 2 * 3).reshape(5, 2, 3), columns=3, scale=2)
    assert grid.shape == (2 * 4 + 1, 3 * 6 + 2) and grid.min() == 0 and grid.max() == 1
    assert np.all(grid[4] == 1) and np.all(grid[5:, 14:] == 1)  # the gap row and the empty sixth cell
    assert feature_maps.tile(np.random.rand(4, 3, 3, 3)).shape == (3, 4 * 4 - 1, 3)  # RGB stays colour


def test_a_users_image_gets_the_tasks_preparation():
    drawing = np.zeros((100, 100), np.uint8)
    drawing[20:80, 45:55] = 255
    assert feature_maps.user_image_to_model_input("digits", drawing).shape == (28, 28, 1)
    photo = np.zeros((50, 70, 3), np.uint8)
    assert feature_maps.user_image_to_model_input("objects_cifar10", photo).shape == (32, 32, 3)
    assert feature_maps.user_image_to_model_input("objects_fashion_mnist", photo).shape == (28, 28, 1)
    with pytest.raises(InputError, match="No image preparation for the model 'voices'"):
        feature_maps.user_image_to_model_input("voices", drawing)


def test_test_images_are_the_split_the_model_was_measured_on(tiny_mnist, tiny_fashion, monkeypatch):
    monkeypatch.setenv("TOOLKIT_DATA", str(tiny_mnist))
    images, labels = feature_maps.test_images("digits")
    assert images.shape == (32, 28, 28, 1) and len(labels) == 32
    monkeypatch.setenv("TOOLKIT_DATA", str(tiny_fashion))
    images, labels = feature_maps.test_images("objects_fashion_mnist")
    assert images.shape == (32, 28, 28, 1) and len(labels) == 32
    with pytest.raises(InputError, match="No test images for the model 'voices'"):
        feature_maps.test_images("voices")


# --- pages --------------------------------------------------------------------------------------------------


def test_perceptron_page_solves_xor_with_an_mlp_and_explains_the_perceptron_failure():
    app = page("perceptron")
    assert not app.exception and app.metric[0].value == "100.0%"
    app.radio(key="model").set_value("Perceptron").run()
    assert not app.exception and "no straight line separates" in app.warning[0].value
    app.selectbox(key="dataset").set_value("AND").run()
    assert "Converged" in app.success[0].value


def test_activations_page_shows_the_vanishing_gradient():
    app = page("activations")
    assert not app.exception and len(app.latex) == 3
    app.slider(key="depth").set_value(12).run()
    ratios = app.table[0].value.set_index("network")["last / first"]
    assert float(ratios["sigmoid, Xavier init"]) > 1e3 and float(ratios["ReLU, He init"]) < 10


def test_initialisation_page_runs_for_every_setting():
    app = page("initialisation")
    assert not app.exception
    app.selectbox(key="activation").set_value("relu")
    app.radio(key="scheme").set_value("he").run()
    assert not app.exception


def test_conv_arithmetic_page_checks_the_classic_networks():
    app = page("conv_arithmetic")
    assert not app.exception and app.metric[1].value == "61,706"
    for preset, total in [("AlexNet", "60,965,224"), ("VGG-16", "138,357,544")]:
        app.selectbox(key="preset").set_value(preset).run()
        assert app.metric[1].value == app.metric[2].value == total
        assert "equals what Keras builds" in app.success[0].value
    app.number_input(key="W").set_value(224).run()
    assert app.metric[0].value == "54" and "not a whole number" in app.warning[0].value
    app.text_area(key="stack").set_value("input 8x8x1\nconv 4 9x9").run()
    assert "does not fit" in app.error[0].value


def test_softmax_and_optimizers_page_warns_about_divergence():
    app = page("softmax_and_optimizers")
    assert not app.exception and not app.warning
    app.selectbox(key="surface").set_value("rosenbrock").run()
    assert app.number_input(key="lr_adam").value == optimizers.SURFACES["rosenbrock"].learning_rates["adam"]
    app.number_input(key="lr_sgd").set_value(0.1).run()
    assert "SGD diverged" in app.warning[0].value


@pytest.fixture
def shipped_digits(tmp_path, monkeypatch, tiny_mnist):
    """An untrained digits CNN shipped in a private trained/ folder, with tiny MNIST as the data."""
    model = _digits_model("cnn")
    saving.save_model(model, tmp_path / "digits.keras")
    card = {"variant": "cnn", "details": {"classes": CLASS_NAMES}}
    (tmp_path / "digits.json").write_text(json.dumps(card))
    monkeypatch.setenv("TOOLKIT_TRAINED", str(tmp_path))
    monkeypatch.setenv("TOOLKIT_DATA", str(tiny_mnist))
    st.cache_resource.clear()
    st.cache_data.clear()
    yield model
    st.cache_resource.clear()
    st.cache_data.clear()


def test_inside_page_shows_filters_and_feature_maps(shipped_digits):
    app = page("inside_a_network")
    assert not app.exception and not app.error
    assert app.selectbox(key="layer").options == feature_maps.spatial_layers(shipped_digits)
    app.number_input(key="index").set_value(3).run()
    app.selectbox(key="layer").set_value(feature_maps.spatial_layers(shipped_digits)[-1]).run()
    assert not app.exception and app.metric[0].label == "Prediction"
    assert app.markdown.values[-1] == "True class: **3**"  # tiny MNIST labels are index % 10


def test_inside_page_explains_a_model_that_is_not_shipped(shipped_digits):
    app = page("inside_a_network")
    app.selectbox(key="model").set_value("objects_cifar10").run()
    assert not app.exception and "is not in" in app.warning[0].value


@pytest.mark.skipif("digits" not in pretrained.list(), reason="trained/digits.keras not built yet")
def test_inside_page_reads_the_shipped_digits_model():
    st.cache_resource.clear()
    app = page("inside_a_network")
    assert not app.exception and not app.error
    assert app.metric[0].value == "7"  # MNIST test image 0 is a 7
