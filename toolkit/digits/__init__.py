"""Digits: MNIST handwritten digit classification with the course's three networks.

The story, top to bottom:

- `data.load_digit_split("mnist", "train" | "test")`: the official IDX files (or tensorflow-datasets) as uint8
  images (N, 28, 28, 1) and int32 labels (N,).
- `models`: three networks that all take raw pixels 0-255 (N, 28, 28, 1) and return class probabilities (N, 10).
  Scaling to [0, 1] and the training-time distortions (LeCun 1998: small shifts and rotations) are layers of the
  model, so callers never normalise.

  - `build_mlp`: a multilayer perceptron on the 784 pixels (512, 256 hidden units, dropout).
  - `build_lenet5`: LeCun et al. 1998 (tanh, average-pool "subsampling", 120/84 dense layers).
  - `build_cnn`: a modern network (two conv blocks with BatchNorm, ReLU and dropout); the shipped one.
- `predict.drawing_to_mnist_digit(image)`: a user's drawing or photo of one digit made to look like an MNIST
  digit (white on black, fitted to 20x20, centred by mass in 28x28), ready for any of the models;
  `predict.CLASS_NAMES` names the outputs.

Training and evaluation (`python -m toolkit.train task=digits`, `python -m toolkit.evaluate task=digits`) go
through the adapter `toolkit/tasks/digits.py`, which reads the settings and calls these modules.
"""
