"""The objects task's optimizer=muon: `FilterMuon` steps convolution filters as airbench94_muon's Muon does and
everything else as Keras' Nesterov SGD; the task builds it from its settings and trains with it."""

import keras
import numpy as np
import pytest
from omegaconf import OmegaConf

from tests.harness import train_once
from toolkit import tasks
from toolkit.classification import FilterMuon
from toolkit.errors import ConfigError
from toolkit.objects.data import load_object_split

TASK = tasks.get("objects")


def airbench_muon_step(weight, grad, buffer, lr, momentum, steps=3):
    """airbench94_muon's Muon step, written out in NumPy on PyTorch's filter layout (out, in, kh, kw)."""
    buffer = momentum * buffer + grad
    update = grad + momentum * buffer  # Nesterov
    weight = weight * np.sqrt(len(weight)) / np.linalg.norm(weight)
    x = update.reshape(len(update), -1)
    wide = x.shape[0] <= x.shape[1]
    x = x if wide else x.T
    x = x / (np.linalg.norm(x) + 1e-7)
    for _ in range(steps):
        a = x @ x.T
        x = 3.4445 * x + (-4.7750 * a + 2.0315 * a @ a) @ x
    x = x if wide else x.T
    return weight - lr * x.reshape(update.shape), buffer


def test_filter_muon_steps_filters_like_airbench_and_the_rest_like_nesterov_sgd():
    rng = np.random.default_rng(0)
    shapes = {"conv/kernel": (3, 3, 4, 8), "logits/kernel": (8, 10), "norm/bias": (8,)}
    start = {name: rng.normal(size=shape).astype("float32") for name, shape in shapes.items()}
    grads = [{name: rng.normal(size=shape).astype("float32") for name, shape in shapes.items()} for _ in range(2)]
    ours = {name: keras.Variable(value, name=name.replace("/", "_")) for name, value in start.items()}
    sgds = {name: keras.Variable(value, name=name.replace("/", "_")) for name, value in start.items()}
    muon = FilterMuon(0.1, filter_lr_ratio=2.0, sgd_momentum=0.85, momentum=0.6, weight_decay=0.05)
    sgd = keras.optimizers.SGD(0.1, momentum=0.85, nesterov=True, weight_decay=0.05)
    for grad in grads:
        muon.apply_gradients([(keras.ops.convert_to_tensor(grad[n]), ours[n]) for n in shapes])
        sgd.apply_gradients([(keras.ops.convert_to_tensor(grad[n]), sgds[n]) for n in shapes])

    for name in ("logits/kernel", "norm/bias"):  # a 2-D kernel too: Keras' Muon would orthogonalise it
        np.testing.assert_allclose(ours[name].numpy(), sgds[name].numpy(), rtol=1e-5, atol=1e-6)
    to_torch = (3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
    weight, buffer = start["conv/kernel"].transpose(to_torch).astype("float64"), 0.0
    for grad in grads:  # no weight decay on filters: Muon holds their norm
        weight, buffer = airbench_muon_step(weight, grad["conv/kernel"].transpose(to_torch), buffer, 0.2, 0.6)
    np.testing.assert_allclose(ours["conv/kernel"].numpy().transpose(to_torch), weight, rtol=1e-4, atol=1e-5)


def muon_config(**settings):
    return OmegaConf.structured(TASK.Config(widths=[8, 16, 16], optimizer="muon", **settings))


def test_the_task_builds_muon_from_its_settings_and_the_loss_falls(tiny_fashion):
    config = muon_config(learning_rate=0.5, muon_learning_rate=0.2, muon_momentum=0.5, momentum=0.8)
    config.precision, config.lookahead, config.epochs = "float32", False, 1
    keras.utils.set_random_seed(0)
    model = TASK.build(config)
    TASK.compile(model, config, steps_per_epoch=15)
    optimizer = model.optimizer
    assert isinstance(optimizer, FilterMuon)
    assert (optimizer.filter_lr_ratio, optimizer.momentum, optimizer.sgd_momentum) == (0.4, 0.5, 0.8)
    images, labels = load_object_split("fashion_mnist", "train", str(tiny_fashion))
    losses = [float(model.train_on_batch(images[:32], labels[:32])[0]) for _ in range(15)]
    assert losses[-1] < 0.9 * losses[0], losses  # label smoothing 0.2 keeps it above ~0.9
    filters = [variable for variable in model.trainable_variables if len(variable.shape) == 4]
    assert len(filters) == 6  # two convolutions per block
    for variable in filters:  # held at sqrt(out) before each step; the last step, at a rate near 0, moves it little
        assert np.linalg.norm(variable.numpy()) == pytest.approx(np.sqrt(variable.shape[-1]), rel=0.01), variable.path


def test_a_muon_run_saves_reloads_and_ships_through_the_cli(tiny_fashion, tmp_path):
    words = ["task=objects", "widths=[8,16,16]", "optimizer=muon", "validation_size=16", "batch_size=16"]
    result = train_once([*words, f"data_dir={tiny_fashion}"], tmp_path)  # its best.keras reloads with the optimizer
    assert result.card["config"]["optimizer"] == "muon" and np.isfinite(result.card["metrics"]["test_accuracy"])
    assert (tmp_path / "out" / "objects_fashion_mnist.keras").is_file()


def test_an_unknown_optimizer_is_a_clear_error():
    with pytest.raises(ConfigError, match="optimizer=adam: choose sgd or muon"):
        TASK.build(OmegaConf.structured(TASK.Config(optimizer="adam")))
