"""Benchmarks against peer trainers (other libraries' reference code), run on the same data and the same CPUs.

They need the bench-only extra: `pip install -e ".[peers]"` (PyTorch and the peers' packages from the index).
"""
