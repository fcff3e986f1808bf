"""toolkit: classic deep-learning results as Keras models you train, load and try.

`import toolkit` registers every custom layer, loss and model class (`saving.register_saved_classes`), so
`keras.saving.load_model` reads the shipped `.keras` files with safe mode on.
"""

import os
import sys


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow (if installed) before Keras does, with its C++ logging silenced.

    TensorFlow's C++ log level must be set before it loads, and the oneDNN notice it prints while loading comes
    before its logging is set up, so no setting hides it: standard error is pointed at /dev/null for the import.
    Errors that matter still surface as Python exceptions.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # also grappler's harmless "remapper failed" lines
    if "tensorflow" in sys.modules:  # with JAX too: Keras' data adapters import TensorFlow where it is installed
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                import tensorflow as tf
            except ImportError:
                return
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)
    tf.get_logger().setLevel("ERROR")  # retracing notices and other Python-side warnings of TensorFlow


_import_tensorflow_quietly()

from toolkit import pretrained, saving, tasks  # noqa: E402
from toolkit.card import __version__  # noqa: E402

saving.register_saved_classes()

__all__ = ["pretrained", "tasks", "__version__"]
