"""Foundations: the basics of the course as small functions you can test, plot and play with.

Each module is one lecture topic; the pages `apps/pages/foundations_*.py` present them.

- `activations`: sigmoid, tanh, ReLU, leaky ReLU, softplus and their derivatives.
- `initialisation`: small-random, Xavier/Glorot and He weight scales.
- `network`: a fully connected network in numpy with hand-written backprop.
- `propagation`: activation and gradient statistics layer by layer through a deep network.
- `perceptron`: the perceptron learning rule, toy data sets, and the MLP that solves XOR.
- `conv_arithmetic`: output size, parameter count and receptive field of conv/pool stacks.
- `feature_maps`: first-layer filters and feature maps of a shipped model.
- `optimizers`: softmax and cross-entropy; SGD, momentum and Adam on 2-D loss surfaces.
"""
