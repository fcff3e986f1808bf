"""Semantic inpainting (Yeh et al., CVPR 2017): a DCGAN, masks, latent search, Poisson blending, baselines.

- dcgan.py: the generator, discriminator and the DCGAN model that `fit` trains.
- masks.py: named masks, masks from drawings, the contextual weights.
- search.py: the latent search on z and `inpaint`, the whole method.
- blend.py: Poisson blending of G(z) into the hole.
- classic.py: OpenCV / scikit-image baselines, the harmonic fill and the PSNR / SSIM scores, grey or colour.
- figures.py: sample grids during training and the comparison figure.
"""
