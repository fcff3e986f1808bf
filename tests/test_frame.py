"""The frame every task relies on: settings, registry, data errors, IDX files, atomic writes, loading."""

import csv
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from tests import tiny_data
from tests.harness import train_once, write_idx, write_idx_dataset
from toolkit import pretrained, saving, tasks
from toolkit.cli import format_table, task_and_config
from toolkit.config import RunConfig, parse_overrides
from toolkit.data.idx import load_idx, load_idx_split
from toolkit.data.paths import data_dir, require_files
from toolkit.errors import ConfigError, DataNotFoundError, InputError, ToolkitError
from toolkit.train import BestCheckpoint, fit_batchnorm_momentum, forget_epochs_to_redo, prepare, train


def test_overrides_are_typed():
    config = parse_overrides(["epochs=3", "resume=true", "learning_rate=0.1", "limit=null"], RunConfig)
    assert (config.epochs, config.resume, config.learning_rate, config.limit) == (3, True, 0.1, None)


@pytest.mark.parametrize(
    "words, message",
    [
        (["epochs=abc"], "Bad value for 'epochs'"),
        (["epoch=3"], "Unknown setting 'epoch'. Valid keys: task=, model=, epochs=10"),
        (["epochs"], "Overrides are key=value words"),
    ],
)
def test_bad_overrides_name_the_problem(words, message):
    with pytest.raises(ConfigError, match=message):
        parse_overrides(words, RunConfig)


def test_unknown_task_lists_the_tasks():
    with pytest.raises(ConfigError, match="Unknown task 'nope'. Tasks: .*digits"):
        task_and_config(["task=nope"])
    with pytest.raises(ConfigError, match="Say which task"):
        task_and_config(["epochs=1"])


def test_unknown_model_variant_lists_the_variants():
    with pytest.raises(ToolkitError, match="no model 'vgg'. Models: mlp, lenet5, cnn"):
        task_and_config(["task=digits", "model=vgg"])


def test_registry_lists_tasks_in_course_order():
    assert tasks.names()[:6] == ["digits", "objects", "denoising", "transfer", "separation", "inpainting"]
    assert tasks.get("digits").Config().model == "cnn"


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("TOOLKIT_DATA", str(tmp_path / "env"))
    assert data_dir() == tmp_path / "env"
    assert data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    monkeypatch.delenv("TOOLKIT_DATA")
    assert data_dir().parts[-2:] == ("shared", "data")


def test_missing_data_names_task_folder_and_files(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        require_files("digits", "mnist", ["a.gz", "b.gz"], tmp_path)
    message = str(err.value)
    assert "Task 'digits'" in message and str(tmp_path / "mnist") in message
    assert "a.gz, b.gz" in message and "TOOLKIT_DATA" in message


def test_idx_round_trip_and_corruption(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / "x-idx3-ubyte.gz", images)
    np.testing.assert_array_equal(load_idx(path), images)
    raw = tmp_path / "raw"
    raw.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(InputError, match="truncated"):
        load_idx(raw)
    raw.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(InputError, match="not an IDX file"):
        load_idx(raw)


def test_idx_split_adds_channel_axis(tiny_mnist):
    images, labels = load_idx_split("digits", "mnist", "test", tiny_mnist)
    assert images.shape == (32, 28, 28, 1) and images.dtype == np.uint8
    assert labels.dtype == np.int32 and labels[:3].tolist() == [0, 1, 2]


def test_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "card.json"
    saving.write_json({"version": 1}, target)

    def disk_full(self, text):
        open(self, "w").write(text[:5])  # a partial write, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", disk_full)
    with pytest.raises(ToolkitError, match="No space left on device. The previous file, if any, is unchanged"):
        saving.write_json({"version": 2}, target)
    assert json.loads(target.read_text()) == {"version": 1}
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind


def test_a_failed_ship_keeps_the_old_model_and_card_together(tmp_path, monkeypatch):
    old = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)], name="old")
    saving.save_model_and_card(old, {"name": "old"}, tmp_path / "digits")

    def disk_full(self, text):  # the card fails after the new model was written to its temporary file
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", disk_full)
    new = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)], name="new")
    with pytest.raises(ToolkitError, match="No space left on device. The previous files are unchanged"):
        saving.save_model_and_card(new, {"name": "new"}, tmp_path / "digits")
    monkeypatch.undo()
    assert saving.load_model(tmp_path / "digits.keras").name == "old"
    assert json.loads((tmp_path / "digits.json").read_text()) == {"name": "old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits.json", "digits.keras"]


def test_unwritable_folder_gives_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ToolkitError, match="Cannot write"):
        saving.write_json({}, blocker / "card.json")


def test_corrupt_model_file_gives_clear_error(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    path = saving.save_model(model, tmp_path / "m.keras")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(InputError, match="truncated or corrupt"):
        saving.load_model(path)
    with pytest.raises(InputError, match="No model file"):
        saving.load_model(tmp_path / "missing.keras")


def test_pretrained_unknown_name(monkeypatch, tmp_path):
    monkeypatch.setenv("TOOLKIT_TRAINED", str(tmp_path))
    assert pretrained.list() == []
    with pytest.raises(InputError, match="No shipped model 'nope'"):
        pretrained.load("nope")


def test_format_table():
    table = format_table([{"method": "a", "psnr": 28.571}, {"method": "bb", "psnr": 0.5}])
    assert table.splitlines() == ["method    psnr", "------  ------", "a        28.57", "bb      0.5000"]


def test_cli_reports_user_errors_without_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "toolkit.train", "task=nope"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "error: Unknown task 'nope'" in result.stderr and "Traceback" not in result.stderr


def test_a_run_that_cannot_start_leaves_no_run_folder(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(DataNotFoundError):  # found while loading the data
        train(["task=objects", f"data_dir={tmp_path / 'empty'}", f"run_dir={run_dir}"])
    data = write_idx_dataset(tmp_path / "data", "fashion-mnist", train=16, test=8)
    with pytest.raises(ConfigError, match="cutout=28"):  # found while building the network
        train(["task=objects", "cutout=28", f"data_dir={data}", f"run_dir={run_dir}"])
    assert not run_dir.exists()


def test_best_checkpoint_of_a_resumed_run_keeps_the_better_file(tmp_path):
    log, best = tmp_path / "log.csv", tmp_path / "best.keras"
    log.write_text("epoch,val_loss\n0,0.5\n1,0.3\n")
    best.write_bytes(b"the checkpoint of epoch 1")
    checkpoint = BestCheckpoint(best, "val_loss", log)
    checkpoint.set_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    checkpoint.on_epoch_end(2, {"val_loss": 0.4})
    assert best.read_bytes() == b"the checkpoint of epoch 1"
    checkpoint.on_epoch_end(3, {"val_loss": 0.2})
    assert saving.load_model(best).count_params() == 3


FRAMEWORK_LOG = ("I0000", "W0000", "E0000", "oneDNN", "absl", "tensorflow", "grappler", "cuda")


def test_evaluate_prints_no_framework_log_lines(tiny_mnist):
    """A user's shell has none of the test suite's settings: TensorFlow's own log level is left unset."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")}
    model = train_once(["task=digits", "model=mlp", f"data_dir={tiny_mnist}"], tiny_mnist / "run").run_dir
    command = ["-m", "toolkit.evaluate", "task=digits", f"data_dir={tiny_mnist}", f"model_path={model / 'model.keras'}"]
    result = subprocess.run([sys.executable, *command], capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "test examples" in result.stdout
    noise = [line for line in output.splitlines() if any(word in line for word in FRAMEWORK_LOG)]
    assert not noise, noise


def test_help_of_a_task_on_the_command_line():
    result = subprocess.run(
        [sys.executable, "-m", "toolkit.train", "task=objects", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and "label_smoothing=0.2" in result.stdout, result.stderr
    unknown = subprocess.run(
        [sys.executable, "-m", "toolkit.train", "task=nope", "--help"], capture_output=True, text=True, timeout=120
    )
    assert unknown.returncode == 2 and "Unknown task 'nope'" in unknown.stderr


def test_batchnorm_momentum_follows_a_short_run_and_leaves_long_ones():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization()])
    model = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization(momentum=0.5), inner])
    fit_batchnorm_momentum(model, total_steps=200)
    assert model.layers[0].momentum == 0.5 and inner.layers[0].momentum == pytest.approx(0.95)  # never slower
    fit_batchnorm_momentum(inner, total_steps=100_000)
    assert inner.layers[0].momentum == pytest.approx(0.95)


def test_a_short_cnn_run_scores_in_inference_what_it_fits_in_training(tmp_path):
    """75 steps: with Keras' default BatchNorm momentum the moving statistics lagged the weights so far that this run
    fitted 96 % of its training images and scored 19 % on the test images (issue #36); now 100 %."""
    data = tiny_data.write_learnable_digits(tmp_path / "data", train=1500, test=500)
    result = train_once(["task=digits", "model=cnn", f"data_dir={data}", "batch_size=16", "augment=false"], tmp_path)
    fitted = float(list(csv.DictReader((tmp_path / "run" / "log.csv").open()))[-1]["accuracy"])
    assert fitted > 0.6, "the set should be learnable in one epoch"
    assert result.evaluation.metrics["test_accuracy"] > fitted - 0.05


def test_the_card_records_the_words_the_run_was_given(tiny_mnist, tmp_path):
    """A bench that calls train() in-process gave its cards its own command line (`python -m toolkit.train
    muon-cutout-20`), which trains nothing when rerun."""
    words = ["task=digits", "model=mlp", f"data_dir={tiny_mnist}"]
    card = train_once(words, tmp_path).card
    assert card["command"].startswith(f"python -m toolkit.train {' '.join(words)} epochs=1")
    assert json.loads((tmp_path / "out" / "digits_mlp.json").read_text())["command"] == card["command"]


def test_a_new_run_will_not_mix_with_a_run_already_in_its_folder(tiny_mnist, tmp_path):
    train_once(["task=digits", "model=mlp", f"data_dir={tiny_mnist}"], tmp_path)
    with pytest.raises(ToolkitError, match="already holds a run. Continue it with resume=true"):
        train_once(["task=digits", "model=lenet5", f"data_dir={tiny_mnist}"], tmp_path)


def test_a_resumed_run_forgets_the_log_rows_of_the_epochs_it_trains_again(tmp_path):
    log, backup = tmp_path / "log.csv", tmp_path / "backup"
    log.write_text("epoch,loss\n0,0.9\n1,0.8\n2,0.7\n")
    backup.mkdir()
    (backup / "training_metadata.json").write_text('{"epoch": 2, "batch": 5}')  # backed up in the middle of epoch 2
    forget_epochs_to_redo(log, backup)
    assert log.read_text() == "epoch,loss\n0,0.9\n1,0.8\n"


def test_a_run_saved_before_a_setting_was_renamed_resumes(tmp_path, monkeypatch):
    digits = tasks.get("digits")
    monkeypatch.setattr(type(digits), "renamed_settings", {"source_set": "dataset"})
    (tmp_path / "config.yaml").write_text("task: digits\nepochs: 2\nsource_set: mnist\n")
    _, config, _ = prepare(["task=digits", "resume=true", f"run_dir={tmp_path}"])
    assert config.dataset == "mnist" and config.epochs == 2 and "source_set" not in config
