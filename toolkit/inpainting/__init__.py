"""Semantic inpainting (Yeh et al., CVPR 2017): a DCGAN, masks, latent search, Poisson blending, baselines.

- data.py: the images each data set gives (`load_images`, `held_out_images`) and `fit_to_dataset`, which makes a
  user's image like them.
- dcgan.py: the generator, discriminator and the DCGAN model that `fit` trains.
- masks.py: named masks, masks from drawings, the contextual weights.
- search.py: the latent search on z and `inpaint`, the whole method.
- blend.py: Poisson blending of G(z) into the hole.
- classic.py: OpenCV / scikit-image baselines, the harmonic fill and the PSNR / SSIM scores, grey or colour.
- evaluation.py: every method on the same held-out images and masks, scored; the evaluation's defaults.
- figures.py: sample grids during training and the comparison figure.
"""
