"""Gaussian denoising: quality measures, classic baselines, tiled inference (used by tasks/denoising.py)."""
