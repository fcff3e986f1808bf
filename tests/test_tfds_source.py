"""source=tfds: the official sets through tensorflow-datasets, read by the toolkit's own loaders.

tfds' mock data (random examples shaped by each set's own code) stands in for the downloads, so these run offline.
"""

import re
import sys

import numpy as np
import pytest
import requests
import tensorflow_datasets as tfds

from tests.harness import train_once
from toolkit.cli import main_wrapper
from toolkit.data.cifar import load_cifar10
from toolkit.data.idx import load_idx_split
from toolkit.data.tfds_source import load_tfds_flowers
from toolkit.errors import ConfigError
from toolkit.inpainting.data import IMAGE_SHAPES, load_images
from toolkit.objects.data import load_object_split
from toolkit.train import train
from toolkit.transfer.data import FLOWERS, class_names, load_photo_splits, stratified_split


@pytest.fixture
def mock_tfds():
    with tfds.testing.mock_data(num_examples=4, policy=tfds.testing.MockPolicy.USE_CODE):
        yield


@pytest.mark.parametrize(
    ("load", "shape"),
    [
        (lambda split, root: load_idx_split("digits", "mnist", split, root, "tfds"), (28, 28, 1)),
        (lambda split, root: load_object_split("fashion_mnist", split, root, source="tfds"), (28, 28, 1)),
        (lambda split, root: load_cifar10("objects", split, root, "tfds"), (32, 32, 3)),
    ],
    ids=["mnist", "fashion_mnist", "cifar10"],
)
def test_official_splits_arrive_as_the_file_readers_arrays(mock_tfds, tmp_path, load, shape):
    for split in ("train", "test"):
        images, labels = load(split, str(tmp_path))
        assert images.shape == (4, *shape) and images.dtype == np.uint8
        assert labels.shape == (4,) and labels.dtype == np.int32 and 0 <= labels.min() and labels.max() < 10


def test_tf_flowers_is_cut_into_the_transfer_splits_like_the_folder(mock_tfds, tmp_path):
    images, labels = load_tfds_flowers("transfer", FLOWERS, (32, 32), "flower_photos/<class>/*.jpg", tmp_path)
    assert images.shape == (4, 32, 32, 3) and images.dtype == np.uint8 and labels.dtype == np.int32
    assert np.all(np.diff(labels) >= 0) and labels.max() < len(FLOWERS)  # grouped by class, as the folders list them
    assert class_names("flower_photos", "tfds", tmp_path) == FLOWERS
    splits = load_photo_splits("flower_photos", 32, "tfds", tmp_path)
    for (part_images, part_labels), index in zip(splits.values(), stratified_split(labels)):
        np.testing.assert_array_equal(part_labels, labels[index])
        np.testing.assert_array_equal(part_images, images[index])


@pytest.mark.parametrize("dataset", list(IMAGE_SHAPES))
def test_inpainting_sets_come_in_the_models_size(mock_tfds, tmp_path, dataset):
    train_images, test_images = (load_images(dataset, split, str(tmp_path), "tfds") for split in ("train", "test"))
    # tf_flowers: every tenth photo is a test one
    train_count, test_count = (3, 1) if dataset == "flower_photos" else (4, 4)
    assert train_images.shape == (train_count, *IMAGE_SHAPES[dataset]) and train_images.dtype == np.uint8
    assert test_images.shape == (test_count, *IMAGE_SHAPES[dataset])


def test_digits_trains_on_tfds_and_the_card_names_the_version(tmp_path):
    words = ["task=digits", "model=mlp", "source=tfds", "limit=8", "batch_size=4", f"data_dir={tmp_path / 'data'}"]
    with tfds.testing.mock_data(num_examples=10, policy=tfds.testing.MockPolicy.USE_CODE):
        result = train_once(words, tmp_path)
    data = result.card["data"]
    assert (data["train"], data["validation"], data["test"]) == (7, 1, 8)
    assert re.fullmatch(r"tfds mnist \d+\.\d+\.\d+", data["source"])
    assert 0 <= result.evaluation.metrics["test_error_pct"] <= 100


def test_offline_without_a_prepared_copy_is_one_clear_message(tmp_path, monkeypatch, capsys):
    def offline(self, *args, **kwargs):  # what tfds meets without a network, at once instead of after retries
        raise requests.exceptions.ConnectionError("Failed to resolve 'storage.googleapis.com'")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", offline)
    words = ["task=digits", "source=tfds", f"data_dir={tmp_path}", f"run_dir={tmp_path / 'run'}", "verbose=0"]
    monkeypatch.setattr(sys, "argv", ["toolkit.train", *words])
    with pytest.raises(SystemExit) as exit_code:
        main_wrapper(train, "usage")
    message = capsys.readouterr().err
    assert exit_code.value.code == 2 and "Traceback" not in message and len(message.splitlines()) == 3
    assert "ConnectionError" in message and str(tmp_path / "tfds") in message
    assert "source=files" in message and "mnist/ (train-images-idx3-ubyte.gz" in message


def test_unknown_source_and_a_folder_without_tfds_copy_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="files .* or tfds"):
        load_idx_split("digits", "mnist", "train", tmp_path, "kaggle")
    with pytest.raises(ConfigError, match="dataset=my_photos needs source=files"):
        class_names("my_photos", "tfds")
