"""toolkit: classic deep-learning results as Keras models you train, load and try.

`import toolkit` registers every custom layer and loss, so `keras.saving.load_model` reads the
shipped `.keras` files with safe mode on.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of the CLIs

from toolkit import pretrained, tasks
from toolkit.card import __version__

__all__ = ["pretrained", "tasks", "__version__"]
