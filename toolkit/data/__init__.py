"""Data sets in their original formats, read from the data directory."""

from toolkit.data.paths import data_dir, require_files

__all__ = ["data_dir", "require_files"]
