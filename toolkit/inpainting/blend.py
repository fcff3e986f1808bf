"""Poisson blending (Pérez et al., SIGGRAPH 2003): paste a source into a hole by its gradients, not its values.

Inside the hole the result f solves the discrete Poisson equation  laplacian(f) = laplacian(source)
with f equal to the target on the hole's boundary, so colours shift smoothly to meet the known
pixels and no seam remains. Known pixels are returned unchanged.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import splu

from toolkit.errors import InputError

_NEIGHBOURS = ((-1, 0), (1, 0), (0, -1), (0, 1))


def poisson_blend(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Blend `source` into the hole of `target`: images (H, W, C) float, mask (H, W), 1 = known, 0 = hole.

    Pixels outside the image are not neighbours (Neumann border), so a hole that touches the border works.
    """
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    hole = np.asarray(mask) < 0.5
    if source.shape != target.shape or source.ndim != 3 or hole.shape != source.shape[:2]:
        raise InputError(
            f"Poisson blending needs (H, W, C) images and an (H, W) mask, got "
            f"{source.shape}, {target.shape} and {hole.shape}."
        )
    if hole.all():
        raise InputError("Poisson blending needs some known pixels around the hole.")
    height, width = hole.shape
    index = -np.ones(hole.shape, int)
    ys, xs = np.nonzero(hole)
    index[ys, xs] = np.arange(len(ys))
    rows, cols, values = [np.arange(len(ys))], [np.arange(len(ys))], [np.zeros(len(ys))]
    rhs = np.zeros((len(ys), source.shape[2]))
    for dy, dx in _NEIGHBOURS:
        qy, qx = ys + dy, xs + dx
        inside = (qy >= 0) & (qy < height) & (qx >= 0) & (qx < width)
        p, qy, qx = np.nonzero(inside)[0], qy[inside], qx[inside]
        values[0][p] += 1  # |N_p|: one per neighbour inside the image
        rhs[p] += source[ys[p], xs[p]] - source[qy, qx]
        in_hole = hole[qy, qx]
        rows.append(p[in_hole]), cols.append(index[qy[in_hole], qx[in_hole]])
        values.append(-np.ones(in_hole.sum()))
        rhs[p[~in_hole]] += target[qy[~in_hole], qx[~in_hole]]
    system = coo_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(len(ys), len(ys))
    ).tocsc()
    result = target.copy()
    result[ys, xs] = splu(system).solve(rhs)
    return np.clip(result, 0.0, 1.0).astype(np.float32)
