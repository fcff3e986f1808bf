"""Gaussian denoising of grayscale images, the way DnCNN (Zhang et al. 2017) and FFDNet (Zhang et al. 2018) do it.

- `data.py`: Train400 and BSD68 in their official PNG layouts, and `PatchSampler`, random noisy training patches
  (one noise level, or a level drawn per patch and, for FFDNet, given to the model as an input).
- `models.py`: DnCNN (a conv stack that predicts the noise), FFDNet (the same at half resolution on the four
  sub-images of a pixel-unshuffle, told the noise level as a map: ~4x fewer FLOPs per pixel) and a denoising
  autoencoder; the Keras layers their saved files name.
- `inference.py`: `denoise(model, noisy, sigma=None, ensemble=False)` for any size (tiled; `ensemble` averages
  the 8 rotations and mirror images), `denoise_channels` for colour photos, `estimate_noise_sigma` for an image
  whose noise level is unknown, and the fixed test noise.
- `baselines.py` (BM3D, non-local means) and `quality.py` (PSNR, SSIM): what the models are measured against.

`toolkit/tasks/denoising.py` plugs these into `python -m toolkit.train` / `evaluate`.
"""
