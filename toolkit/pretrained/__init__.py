"""The shipped models: `load(name)`, `card(name)`, `list()`, wherever the toolkit is installed.

A name (e.g. "digits") is looked for, in this order:

1. `$TOOLKIT_TRAINED`, when set: a private model store (tests, your own models). It then is the only place
   looked in: no checkout, no cache, no download.
2. `trained/` of a source checkout (where `python -m toolkit.train ... out=trained/` ships models).
3. The local cache: `$TOOLKIT_CACHE`, else the platform's user cache folder (`$XDG_CACHE_HOME/toolkit`,
   `~/.cache/toolkit`, `~/Library/Caches/toolkit`, `%LOCALAPPDATA%\\toolkit\\Cache`), in `models/`.
4. A download from `$TOOLKIT_MODEL_URL` (default `DEFAULT_MODEL_URL`) into that cache, with a progress bar,
   written atomically and kept only if its SHA-256 is the one in the package's manifest.

The manifest, `toolkit/models.json`, ships in the package: each model's files, their sizes and SHA-256, and its
card. It is generated from `trained/` by `python -m toolkit.pretrained manifest`, never edited by hand;
tests/test_pretrained.py fails when it is out of date. Paths and URLs work too: `load("path/to/model.keras")`,
`load("hf://owner/repo")` (Keras' own loader; needs `huggingface_hub`).
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Any

import keras

from toolkit import saving
from toolkit.data.paths import REPO_ROOT
from toolkit.errors import InputError

MANIFEST_FILE = Path(__file__).resolve().parents[1] / "models.json"
CHECKOUT_TRAINED = REPO_ROOT / "trained"  # only a checkout has it (a wheel installs no trained/)
# Where the published files live: one flat folder per release, named by the manifest's toolkit version.
# A placeholder until the files are published there; set TOOLKIT_MODEL_URL to use another server or folder.
DEFAULT_MODEL_URL = "https://github.com/keras-toolkit/toolkit/releases/download/v{version}/"
TIMEOUT_S = 60  # per network read, not for the whole file


class DownloadError(InputError):
    """A shipped model that is neither here nor downloadable: offline, not published, or not the expected file."""


# -- where to look ---------------------------------------------------------------------------------------------


def trained_dir() -> Path:
    """The local model folder: `$TOOLKIT_TRAINED` if set, else trained/ of the checkout (absent when installed)."""
    return Path(os.environ.get("TOOLKIT_TRAINED") or CHECKOUT_TRAINED)


def _local_dir() -> Path | None:
    """The local folder to look in first, or None in an installed package without `$TOOLKIT_TRAINED`."""
    folder = trained_dir()
    return folder if os.environ.get("TOOLKIT_TRAINED") or folder.is_dir() else None


def _private() -> bool:
    return bool(os.environ.get("TOOLKIT_TRAINED"))


def cache_dir() -> Path:
    """The download cache: `$TOOLKIT_CACHE`, else the platform's user cache folder for `toolkit`."""
    if os.environ.get("TOOLKIT_CACHE"):
        return Path(os.environ["TOOLKIT_CACHE"]).expanduser()
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "toolkit" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "toolkit"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "toolkit"


def model_url() -> str:
    """The base URL the model files are downloaded from (ends with "/"); `{version}` is the manifest's version."""
    url = os.environ.get("TOOLKIT_MODEL_URL") or DEFAULT_MODEL_URL
    url = url.replace("{version}", str(manifest().get("toolkit_version", "")))
    return url if url.endswith("/") else url + "/"


def manifest() -> dict[str, Any]:
    """The package's manifest of published model files (empty where a checkout has none)."""
    try:
        return json.loads(MANIFEST_FILE.read_text())
    except FileNotFoundError:
        return {"models": {}, "files": {}}
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"Cannot read the model manifest {MANIFEST_FILE}: {err}. Reinstall the toolkit.") from err


# -- the public names ------------------------------------------------------------------------------------------


def list(local: bool = False) -> builtins.list[str]:  # noqa: A001  the public name the README promises
    """Names `load` accepts (each has a `.keras` file and a card).

    With `$TOOLKIT_TRAINED` set: the models in that folder. Otherwise: those in the checkout's trained/ plus
    every model in the package's manifest, which `load` downloads on first use; `local=True` leaves out the
    ones that would need a download.
    """
    here = _local_dir()
    names = {p.stem for p in here.glob("*.keras") if p.with_suffix(".json").exists()} if here else set()
    if not _private():
        models = manifest()["models"]
        names |= {n for n in models if not local or (cache_dir() / "models" / _keras_file(n, models[n])).is_file()}
    return sorted(names)


def path(name: str) -> Path:
    """The local `.keras` file of the shipped model `name`, downloaded into the cache first if need be."""
    here = _local_dir()
    if here and (here / f"{name}.keras").is_file():
        return here / f"{name}.keras"
    models = {} if _private() else manifest()["models"]
    if name not in models:
        where = f"in {here}" if _private() or not models else "in trained/ or the manifest of published models"
        raise InputError(f"No shipped model '{name}' {where}. Shipped: {', '.join(list()) or 'none'}.")
    return file(_keras_file(name, models[name]))


def file(relative: str) -> Path:
    """A local copy of a published file, e.g. "backbones/efficientnet_lite0_imagenet.weights.h5".

    Looked for like a model: `$TOOLKIT_TRAINED` (only there, if set), trained/ of a checkout, the cache, a download.
    """
    here = _local_dir()
    if here and (here / relative).is_file():
        return here / relative
    entry = None if _private() else _all_files().get(relative)
    if entry is None:
        raise InputError(f"No file {relative} in {here or 'this installation'} or the manifest of published models.")
    cached = cache_dir() / "models" / relative
    if cached.is_file() and _matches(cached, entry):
        return cached
    return _download(relative, entry, cached)


def load(name: str | os.PathLike) -> keras.Model:
    """The shipped model `name` (e.g. "digits"), ready for `predict`; or a model file, folder or URL.

    `load("path/to/model.keras")` and an unzipped model folder read that; `load("hf://owner/repo")` (and other
    URLs Keras reads) go to `keras.saving.load_model`.
    """
    reference = os.fspath(name)
    if "://" in reference:
        return _keras_load(reference)
    if _is_path(name):
        folder = Path(reference)
        return _keras_load(reference) if folder.is_dir() else saving.load_model(folder)
    return saving.load_model(path(reference))


def card(name: str | os.PathLike) -> dict[str, Any]:
    """The model card of the shipped model `name` (from the manifest when the model is not downloaded yet)."""
    reference = os.fspath(name)
    if _is_path(name):
        return _read_card(Path(reference).with_suffix(".json"))
    here = _local_dir()
    if here and (here / f"{reference}.keras").is_file():
        return _read_card(here / f"{reference}.json")
    models = {} if _private() else manifest()["models"]
    if reference in models:
        return models[reference]["card"]
    return _read_card(path(reference).with_suffix(".json"))  # raises the "No shipped model" error


# -- helpers ---------------------------------------------------------------------------------------------------


def _is_path(name: str | os.PathLike) -> bool:
    text = os.fspath(name)
    return not isinstance(name, str) or "/" in text or os.sep in text or text.endswith(".keras")


def _keras_load(reference: str) -> keras.Model:
    saving.register_saved_classes()
    try:
        return keras.saving.load_model(reference)
    except ImportError as err:
        raise InputError(f"Cannot load {reference}: {err} (pip install huggingface_hub for hf:// models)") from err
    except Exception as err:  # Keras raises many kinds for a missing repository, a bad folder or config
        raise InputError(f"Cannot load {reference} ({type(err).__name__}: {str(err)[:300]}).") from err


def _read_card(file: Path) -> dict[str, Any]:
    try:
        return json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"Cannot read the model card {file}: {err}") from err


def _keras_file(name: str, entry: dict[str, Any]) -> str:
    return next(f for f in entry["files"] if f.endswith(".keras"))


def _all_files() -> dict[str, dict[str, Any]]:
    """Every published file (relative path -> size and SHA-256): the models' and the others (backbones)."""
    data = manifest()
    files = dict(data.get("files", {}))
    for entry in data["models"].values():
        files.update(entry["files"])
    return files


def sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _matches(file: Path, entry: dict[str, Any]) -> bool:
    return file.stat().st_size == entry["size"] and sha256(file) == entry["sha256"]


def _download(relative: str, entry: dict[str, Any], target: Path) -> Path:
    """Fetch `relative` into `target` atomically; refuse (saving nothing) a file whose SHA-256 differs."""
    from tqdm import tqdm

    url = model_url() + PurePosixPath(relative).name  # a release is one flat folder of files
    by_hand = f"{relative} and {relative[: -len('.keras')]}.json" if relative.endswith(".keras") else relative

    def unavailable(reason: object) -> DownloadError:
        return DownloadError(
            f"Cannot download {relative} from {url} ({reason}).\n"
            f"To place it by hand: fetch that URL where there is network access and save it as {target} "
            f"({entry['size']:,} bytes, SHA-256 {entry['sha256']}); or set TOOLKIT_MODEL_URL to a server or "
            f"file:// folder that has it; or set TOOLKIT_TRAINED to a folder holding {by_hand} (only that folder "
            "is then looked in)."
        )

    try:
        response = urllib.request.urlopen(url, timeout=TIMEOUT_S)  # noqa: S310  http(s) or file:// by design
    except (OSError, ValueError) as err:  # URLError, HTTPError (404: not published), timeouts; ValueError: bad URL
        raise unavailable(getattr(err, "reason", None) or err) from err

    def fetch(tmp: Path) -> None:
        digest, received = hashlib.sha256(), 0
        with response, open(tmp, "wb") as out:
            bar = tqdm(total=entry["size"], unit="B", unit_scale=True, unit_divisor=1024, desc=relative)
            with bar:
                while True:
                    try:
                        chunk = response.read(1 << 20)
                    except OSError as err:  # the connection broke: not a disk error
                        raise unavailable(err) from err
                    if not chunk:
                        break
                    received += len(chunk)
                    if received > entry["size"]:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        if received != entry["size"] or digest.hexdigest() != entry["sha256"]:
            got = f"{received:,} bytes" if received != entry["size"] else f"SHA-256 {digest.hexdigest()}"
            raise DownloadError(
                f"Refused {url}: it has {got}, but the manifest of toolkit {manifest().get('toolkit_version')} "
                f"expects {entry['size']:,} bytes with SHA-256 {entry['sha256']}. Nothing was saved. The server "
                "holds a different or damaged file: check TOOLKIT_MODEL_URL, or update the toolkit."
            )

    try:
        return saving.write_atomically(target, ".part", fetch)
    finally:
        response.close()
