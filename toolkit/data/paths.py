"""Where data sets live: `TOOLKIT_DATA`, else `../shared/data` beside the checkout.

Every loader asks `require_files` for its folder, so a missing set always fails the same way:
one message naming the task, the folder searched, the files expected and what to set.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from toolkit.errors import DataNotFoundError

REPO_ROOT = Path(__file__).resolve().parents[2]


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The data directory: `override` (a `data_dir=` setting), `$TOOLKIT_DATA`, or `../shared/data`."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("TOOLKIT_DATA")
    if env:
        return Path(env).expanduser()
    return REPO_ROOT.parent / "shared" / "data"


def require_files(task: str, folder: str, files: Sequence[str], root: str | os.PathLike | None = None) -> Path:
    """Return `<data dir>/<folder>` after checking that `files` are all there.

    Raises DataNotFoundError listing what is missing and how to point the toolkit at the data.
    """
    base = data_dir(root) / folder
    missing = [name for name in files if not (base / name).exists()]
    if missing:
        raise DataNotFoundError(
            f"Task '{task}' needs data in {base}, but these files are missing: {', '.join(missing)}.\n"
            f"Expected files: {', '.join(files)}.\n"
            f"Put the data set there (README, section 'Data' says where to get it), or set "
            f"TOOLKIT_DATA (or the override data_dir=...) to the folder that contains '{folder}/'."
        )
    return base
