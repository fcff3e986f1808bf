import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small numpy work; threads only oversubscribe the 2 cores

import pytest  # noqa: E402

from tests.harness import write_idx_dataset  # noqa: E402


@pytest.fixture
def tiny_mnist(tmp_path_factory):
    """A data directory holding a tiny random MNIST (96 train / 32 test images)."""
    return write_idx_dataset(tmp_path_factory.mktemp("data"), "mnist")
