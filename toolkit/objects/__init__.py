"""Objects: Fashion-MNIST and CIFAR-10 classification with a fast airbench-style network, VGG and CIFAR ResNets.

The story, top to bottom:

- `data.load_object_split(dataset, "train" | "test")`: `dataset` is "fashion_mnist" (IDX files) or "cifar10"
  (the official pickles or the JPEG copy), as uint8 images (N, H, W, C) and int32 labels (N,);
  `data.DATASETS[dataset]` holds each set's image shape, class names and pixel statistics.
- `models`: every network takes raw pixels 0-255, (N, 28, 28, 1) for Fashion-MNIST or (N, 32, 32, 3) for
  CIFAR-10, and returns probabilities (N, 10) in the data set's official class order. An `InputStem` (per-channel
  standardisation, then random shifts, horizontal flips and optional cutout while training only) is part of each
  model, so callers never preprocess.

  - `build_airbench` (the shipped one): the fast-training recipe of Page's ResNet-9 and Jordan's airbench. A fixed
    2x2 patch-whitening convolution (set from the training images by `adapt_whitening`), three blocks of
    conv - max-pool - BatchNorm - ReLU - conv - BatchNorm - ReLU, global max pooling and a linear layer; the
    convolutions start near the identity, and test-time augmentation (mirrors and one-pixel moves) is part of the
    model. Trained with label smoothing, warm-up + cosine schedule and lookahead (the adapter's settings).
  - `build_vgg_small`: VGG blocks (two 3x3 convolutions with BatchNorm, max-pooling, dropout), global average
    pooling and one dense layer.
  - `build_resnet`: He et al. 2016, section 4.2: 3 stages of basic blocks (16, 32, 64 filters) with zero-padded
    identity shortcuts (`ZeroPadShortcut`, "option A"); depth 6n + 2 (20, 32, 56: 0.27M, 0.46M, 0.85M parameters).
- `predict.photo_to_dataset_image(photo, dataset)`: a user's photo cropped, resized (and for Fashion-MNIST
  turned grey and light-on-dark) into one image of the data set; `predict.artifact_name(dataset)` names the
  shipped model for it in trained/.

Training and evaluation (`python -m toolkit.train task=objects dataset=cifar10`, `python -m toolkit.evaluate
task=objects dataset=cifar10`) go through the adapter `toolkit/tasks/objects.py`, which reads the settings and
calls these modules.
"""
