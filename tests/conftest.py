import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small numpy work; threads only oversubscribe the 2 cores

import pytest  # noqa: E402

from tests import tiny_data  # noqa: E402

# Tiny data directories in the official layouts (tests/tiny_data.py), made once per test session: tests read them,
# never write into them.


@pytest.fixture
def tiny_mnist(tmp_path_factory):
    """A data directory holding a tiny random MNIST (96 train / 32 test images)."""
    return tiny_data.write_idx_dataset(tmp_path_factory.mktemp("data"), "mnist")


@pytest.fixture(scope="session")
def tiny_fashion(tmp_path_factory):
    """A data directory holding a tiny random Fashion-MNIST (96 train / 32 test images)."""
    return tiny_data.write_idx_dataset(tmp_path_factory.mktemp("data"), "fashion-mnist")


@pytest.fixture(scope="session")
def tiny_cifar(tmp_path_factory):
    """A data directory holding a tiny CIFAR-10 in its JPEG layout (10 train / 4 test images per class)."""
    return tiny_data.write_cifar_jpeg(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def tiny_cifar_pickles(tmp_path_factory):
    """A data directory with the official cifar-10-batches-py/ pickles (100 train / 20 test images)."""
    return tiny_data.write_cifar_pickles(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def tiny_images(tmp_path_factory):
    """A data directory with Train400 and BSD68 in their official layouts: 10 + 2 small grayscale PNGs."""
    return tiny_data.write_denoising_images(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def shapes(tmp_path_factory):
    """A data directory with `shapes/<colour>/*.jpg`: an image folder of three classes for transfer learning."""
    return tiny_data.write_shapes(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """A tiny separation corpus in the rendered layout (3 s pieces) with its manifest."""
    return tiny_data.write_separation_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def tiny_mir1k(tmp_path_factory):
    """A data directory with MIR-1K's layout: 9 stereo clips (WAV and FLAC) of 2 training, 2 dev and 2 test singers."""
    return tiny_data.write_mir1k(tmp_path_factory.mktemp("data"))
