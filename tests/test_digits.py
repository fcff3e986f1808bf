"""Digits: the three networks, the drawing preparation, training and evaluation through the CLIs, the shipped
model and its page."""

import hashlib
import json

import keras
import numpy as np
import pytest
from omegaconf import OmegaConf

from tests.harness import app_page, train_once
from toolkit import pretrained, tasks
from toolkit.digits.data import load_digit_split
from toolkit.digits.models import build_cnn, build_lenet5, build_mlp
from toolkit.digits.predict import drawing_to_mnist_digit
from toolkit.errors import ConfigError, ToolkitError
from toolkit.evaluate import evaluate
from toolkit.train import train

BUILDERS = {"mlp": build_mlp, "lenet5": build_lenet5, "cnn": build_cnn}


def test_the_settings_reach_the_packages_networks():
    task = tasks.get("digits")
    assert list(task.models) == list(BUILDERS)
    model = task.build(OmegaConf.structured(task.Config(model="cnn", dropout=0.1, augment=False)))
    assert not [layer.name for layer in model.layers if layer.name.startswith("random")]
    assert {layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)} == {0.1, 0.2}


@pytest.mark.parametrize("variant", list(BUILDERS))
def test_variant_maps_raw_pixels_to_probabilities(variant):
    """Saving and reloading every task's model is test_contract's; here: raw pixels in, no distortion at inference."""
    model = BUILDERS[variant]()
    pixels = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1)).astype("uint8")
    probabilities = model.predict(pixels, verbose=0)
    assert probabilities.shape == (4, 10)
    np.testing.assert_allclose(probabilities.sum(-1), 1, rtol=1e-5)
    np.testing.assert_array_equal(model.predict(pixels, verbose=0), probabilities)


def test_lenet5_has_the_papers_layer_sizes():
    model = build_lenet5()
    # C1 156, C3 2,416, C5/F 48,120, F6 10,164, output 850 (LeCun 1998, with full C3 connections)
    assert model.count_params() == 156 + 2416 + 48120 + 10164 + 850


def test_train_cli_writes_run_and_card(tiny_mnist, tmp_path):
    result = train_once(["task=digits", "model=lenet5", f"data_dir={tiny_mnist}", "batch_size=32"], tmp_path)
    run = tmp_path / "run"
    assert {"config.yaml", "log.csv", "model.keras", "metrics.json"} <= {p.name for p in run.iterdir()}
    assert not (run / "backup").exists()  # a finished run leaves no backup behind
    card = json.loads((tmp_path / "out" / "digits_lenet5.json").read_text())
    assert card["variant"] == "lenet5" and card["data"] == {"name": "MNIST", "train": 77, "validation": 19, "test": 32}
    assert card["metrics"]["test_error_pct"] == pytest.approx(result.evaluation.metrics["test_error_pct"])
    assert card["hardware"]["cpu_cores"] >= 1 and card["training_seconds"] > 0


def test_init_starts_from_a_saved_model_and_refuses_another_network(tiny_mnist, tmp_path):
    first = train_once(["task=digits", "model=mlp", f"data_dir={tiny_mnist}"], tmp_path / "a")
    shipped = tmp_path / "a" / "out" / "digits_mlp.keras"
    words = ["task=digits", "model=mlp", f"data_dir={tiny_mnist}", f"init={shipped}", "learning_rate=0"]
    again = train_once(words, tmp_path / "b")  # no learning: the weights stay the ones it started from
    for before, after in zip(first.model.get_weights(), again.model.get_weights()):
        np.testing.assert_allclose(after, before)
    digest = hashlib.sha256(shipped.read_bytes()).hexdigest()
    assert again.card["started_from"] == {  # the card names its origin and what the chain cost
        "file": str(shipped),
        "sha256": digest,
        "chain_training_seconds": first.card["training_seconds"],
    }
    chain = first.card["training_seconds"] + again.card["training_seconds"]
    assert again.card["chain_training_seconds"] == pytest.approx(chain, abs=0.11)
    # a third link starts from the second run's best checkpoint, as from a run stopped before its end: the run
    # clock beside it carries the chain so far
    clock = json.loads((tmp_path / "b" / "run" / "clock.json").read_text())
    assert clock["chain_training_seconds"] == pytest.approx(chain, abs=0.11)
    (tmp_path / "b" / "run" / "metrics.json").unlink()  # no card beside it: as if stopped
    words[-2] = f"init={tmp_path / 'b' / 'run' / 'best.keras'}"
    third = train_once(words, tmp_path / "d")
    assert third.card["chain_training_seconds"] == pytest.approx(chain + third.card["training_seconds"], abs=0.2)
    with pytest.raises(ToolkitError, match="different network"):
        train_once(["task=digits", "model=lenet5", f"data_dir={tiny_mnist}", f"init={shipped}"], tmp_path / "c")


class InterruptAfterSecondEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt  # what Ctrl-C does in the middle of a run


def test_resume_continues_an_interrupted_run(tiny_mnist, tmp_path, monkeypatch):
    words = ["task=digits", "model=mlp", f"data_dir={tiny_mnist}", "batch_size=32", "verbose=0"]
    run_dir = f"run_dir={tmp_path / 'run'}"
    Digits = type(tasks.get("digits"))
    fit = Digits.fit
    monkeypatch.setattr(Digits, "fit", lambda self, m, d, c, cb: fit(self, m, d, c, [*cb, InterruptAfterSecondEpoch()]))
    with pytest.raises(KeyboardInterrupt):
        train([*words, "epochs=3", run_dir])
    assert (tmp_path / "run" / "backup").exists()

    monkeypatch.undo()
    train(["task=digits", "resume=true", run_dir])  # settings come back from the run's config.yaml
    epochs = [line.split(",")[0] for line in (tmp_path / "run" / "log.csv").read_text().splitlines()]
    assert epochs == ["epoch", "0", "1", "2"]  # the resumed run did only the missing third epoch
    assert not (tmp_path / "run" / "backup").exists()


def test_evaluate_cli_measures_a_model_file(tiny_mnist, tmp_path):
    train_once(["task=digits", "model=mlp", f"data_dir={tiny_mnist}"], tmp_path)
    report = tmp_path / "eval.json"
    evaluation = evaluate(
        [
            "task=digits",
            f"data_dir={tiny_mnist}",
            f"model_path={tmp_path / 'out' / 'digits_mlp.keras'}",
            f"json={report}",
        ]
    )
    saved = json.loads(report.read_text())
    assert saved["metrics"]["test_examples"] == 32
    assert saved["metrics"]["test_error_pct"] == pytest.approx(evaluation.metrics["test_error_pct"])
    assert len(saved["details"]["confusion_matrix"]) == 10


def test_a_drawing_is_centred_as_dark_ink_on_white():
    page = np.full((200, 120), 255, np.uint8)
    page[20:100, 10:30] = 0  # a vertical bar, top-left, dark on light
    digit = drawing_to_mnist_digit(page)
    assert digit.shape == (28, 28, 1) and digit.max() == pytest.approx(255)
    rows, cols = np.nonzero(digit[..., 0] > 128)
    assert rows.max() - rows.min() + 1 == 20  # scaled so the longer side is 20 pixels, as in MNIST
    assert abs(rows.mean() - 14) < 1.5 and abs(cols.mean() - 14) < 1.5


def test_an_empty_drawing_is_refused():
    with pytest.raises(Exception, match="looks empty"):
        drawing_to_mnist_digit(np.zeros((50, 50, 4)))


def test_dataset_names_the_digits_and_only_mnist_is_known(tiny_mnist, tmp_path):
    images, labels = load_digit_split("mnist", "test", tiny_mnist, limit=10)
    assert images.shape == (10, 28, 28, 1) and images.dtype == np.uint8 and labels.tolist() == list(range(10))
    with pytest.raises(ConfigError, match="dataset=emnist: choose mnist"):
        train_once(["task=digits", "dataset=emnist", f"data_dir={tiny_mnist}"], tmp_path)
    assert not (tmp_path / "run").exists()  # refused before the trainer made a run folder


def test_shipped_model_classifies_real_test_digits():
    model, card = pretrained.load("digits"), pretrained.card("digits")
    images, labels = load_digit_split("mnist", "test")
    predicted = model.predict(images[:1000], verbose=0).argmax(-1)
    assert np.mean(predicted != labels[:1000]) < 0.01
    assert card["metrics"]["test_error_pct"] <= 0.5 and card["data"]["test"] == 10000


def test_digits_page_classifies_a_test_image():
    page = app_page("digits").run()
    page.radio(key="source").set_value("MNIST test image").run()
    page.number_input(key="index").set_value(7).run()  # MNIST test image 7 is a 9
    assert not page.exception
    assert page.metric[0].value == "9"


def test_home_lists_the_shipped_models_in_course_order():
    home = app_page("Home").run()  # the start page through the router: its tiles link to the other pages
    assert not home.exception
    table = home.dataframe[0].value
    assert "trained/digits.keras" in table["model file"].tolist()
    assert list(dict.fromkeys(table["task"])) == tasks.names()


def test_router_runs():
    app = app_page("Home").run()
    assert not app.exception
    assert app.title[0].value == "toolkit"


def test_nan_loss_stops_with_a_message(tiny_mnist, tmp_path):
    words = ["task=digits", "model=mlp", f"data_dir={tiny_mnist}", "batch_size=16", "learning_rate=1e30"]
    with pytest.raises(ToolkitError, match="the loss became nan in epoch 1. Try a lower learning_rate"):
        train_once(words, tmp_path)
    assert not (tmp_path / "out").exists()  # nothing shipped
