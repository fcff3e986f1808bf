"""Transfer learning: an ImageNet backbone, frozen and then fine-tuned, on the flower photos or anyone's folder.

Data (`data.py`): `<data dir>/<dataset>/<class>/*.jpg` (flower_photos by default, the tf_flowers photos at their
own resolution; any such folder works), or tf_flowers from tensorflow-datasets, cut 70/15/15 per class with a
fixed seed by `load_photo_splits`. Every photo, whatever its shape, is fitted to S x S (S = `image_size`, the
backbone's native 224) by one policy, `toolkit.data.image_folder.fit_image`: the centre square, resized bilinearly.

Models (`models.py`) take raw RGB pixels 0-255, (N, S, S, 3), and return class probabilities (N, classes). The
course's two stages, with the same network trained from scratch as the comparison:
1. `build_transfer`: the ImageNet backbone (EfficientNet-Lite0, converted from PyTorch; see `toolkit.backbones`)
   is frozen and only a new head (pooling, dropout, softmax) is trained, by `fit_head`, on its pooled features,
   computed once by `pooled_features`;
2. `set_trainable(model, "block4a")` unfreezes the backbone's layers from that block onwards, trained with a lower
   learning rate; BatchNorm stays in inference mode (the backbone is called with `training=False` and its BN
   layers stay frozen), so a small batch never overwrites the ImageNet statistics.
`build_scratch` is the same network from random weights. `linear_probe_accuracy` measures a linear head on frozen
features: the evaluation's curve over the label budget (10, 50, all labels per class) costs one backbone pass.

Use (`predict.py`): `class_probabilities(model, photo, classes)` for any photo (`square_photo` fits it),
`imagenet_top5` for what the raw backbone sees, and `fit_head_on_folder(root)`: stage 1 on a user's own
`<class>/*.jpg` folder, in seconds. `toolkit/tasks/transfer.py` plugs all this into train and evaluate.
"""
