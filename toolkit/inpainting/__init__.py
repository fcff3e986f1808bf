"""Inpainting: fill a hole in an image with a fill network (Context Encoders, Pathak et al., CVPR 2016) or with a
DCGAN's latent search (Yeh et al., CVPR 2017), against classic methods. `inpaint(model, images, masks)` does either.

- predict.py: `inpaint`, the one entry point the page, the evaluation and the benchmark call (a fill network: one
  forward pass; a DCGAN: latent search and Poisson blending), and `fill_around_hole` for photos larger than a model.
- fill_net.py: the fill network, a U-Net from (image with a hole, mask) to the fill, and its context discriminator.
- dcgan.py: the generator, discriminator and the DCGAN model that `fit` trains.
- data.py: the images each data set gives (`load_images`, `held_out_images`), `fit_to_dataset`, which makes a
  user's image like them, and `MaskedBatches`, a fill network's training batches with fresh masks.
- masks.py: named masks (the page's kinds and free strokes), the training masks' mix, masks from drawings, the
  contextual weights.
- search.py: the latent search on z.
- blend.py: Poisson blending of G(z) into the hole.
- classic.py: OpenCV / scikit-image baselines, the harmonic fill and the PSNR / SSIM scores, grey or colour.
- evaluation.py: every method on the same held-out images and masks, scored; the evaluation's defaults.
- figures.py: pictures during training and the comparison figure.
"""

from toolkit.inpainting.predict import Inpainting, fill_around_hole, inpaint

__all__ = ["Inpainting", "fill_around_hole", "inpaint"]
