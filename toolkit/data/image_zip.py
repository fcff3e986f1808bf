"""A zip of `<class>/<image>` folders that a user uploads, unpacked safely into an image-folder tree.

Checked from the zip's directory before anything is written: the number of images, their total unpacked
size, and paths (no absolute paths or `..`, so nothing lands outside the target folder). A single top-level
folder around the classes (`flowers/daisy/1.jpg`) is allowed and skipped.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path, PurePosixPath

from toolkit.data.image_folder import IMAGE_SUFFIXES
from toolkit.errors import InputError


def extract_image_zip(
    data: bytes, target: str | os.PathLike, max_images: int = 2000, max_bytes: int = 200_000_000
) -> Path:
    """Unpack the images of a zip into `target/<class>/<file>`; returns `target`, ready for `load_image_folder`."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as err:
        raise InputError(f"This file is not a readable zip archive ({err}).") from err
    if any(
        PurePosixPath(m.filename).is_absolute() or ".." in PurePosixPath(m.filename).parts for m in archive.infolist()
    ):
        raise InputError("The zip has paths outside its own folder (absolute or '..'); refusing it.")
    members = [
        m
        for m in archive.infolist()
        if not m.is_dir()
        and PurePosixPath(m.filename).suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(("__MACOSX", ".")) for part in PurePosixPath(m.filename).parts)
    ]
    if not members:
        raise InputError("The zip holds no images: expected <class>/<image>.jpg folders.")
    if len(members) > max_images:
        raise InputError(f"The zip holds {len(members)} images; the limit is {max_images}.")
    if sum(m.file_size for m in members) > max_bytes:
        raise InputError(f"The images unpack to more than {max_bytes / 1e6:.0f} MB, the limit.")
    paths = [PurePosixPath(m.filename) for m in members]
    tops = {p.parts[0] for p in paths}
    skip = 1 if len(tops) == 1 and all(len(p.parts) >= 3 for p in paths) else 0
    if any(len(p.parts) - skip != 2 for p in paths):
        raise InputError("Every image must sit in a class folder: <class>/<image>.jpg (one folder per class).")
    target = Path(target)
    for member, path in zip(members, paths):
        out = target.joinpath(*path.parts[skip:])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(archive.read(member))
    return target
