"""Publishing the shipped models: the package's manifest, the flat release folder, a Hugging Face Hub folder.

- `build_manifest(folder)` / `write_manifest()`: toolkit/models.json from trained/ (never edit it by hand).
- `manifest_differences()`: what changed in trained/ since the manifest was written (tests fail on any).
- `release(folder)`: every published file, flat, as the download URL serves them (a GitHub release's assets).
- `export(name, folder)`: one model as a Keras model repository on the Hugging Face Hub, ready for one upload.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from toolkit import pretrained, saving
from toolkit.errors import InputError

FORMAT = 1
GENERATED_BY = "python -m toolkit.pretrained manifest"
EXTRA_FOLDERS = ("backbones",)  # files that are no model but that tasks load: the transfer task's ImageNet weights

# Hugging Face Hub metadata for the model cards `export` writes
PIPELINE_TAGS = {
    "digits": "image-classification",
    "objects": "image-classification",
    "transfer": "image-classification",
    "denoising": "image-to-image",
    "inpainting": "image-to-image",
    "separation": "audio-to-audio",
}
HUB_DATASETS = {
    "mnist": "ylecun/mnist",
    "fashion-mnist": "zalando-datasets/fashion_mnist",
    "fashion_mnist": "zalando-datasets/fashion_mnist",
    "cifar-10": "uoft-cs/cifar10",
    "cifar10": "uoft-cs/cifar10",
}
KERAS_DIR_FILES = ("config.json", "metadata.json", "model.weights.h5", "model.weights.npz")


def _entry(file: Path) -> dict[str, Any]:
    return {"size": file.stat().st_size, "sha256": pretrained.sha256(file)}


def _published(file: Path) -> bool:
    return file.is_file() and not file.name.startswith(".") and ".tmp" not in file.name


def build_manifest(folder: Path | None = None) -> dict[str, Any]:
    """The manifest of `folder` (default: trained/ of the checkout): per model its files and card, then the rest."""
    from toolkit.card import __version__

    folder = Path(folder or pretrained.CHECKOUT_TRAINED)
    if not folder.is_dir():
        raise InputError(f"No folder {folder} to build the model manifest from (it needs a source checkout).")
    models = {}
    for model in sorted(p for p in folder.glob("*.keras") if _published(p)):
        card_file = model.with_suffix(".json")
        if not card_file.is_file():
            continue  # not shipped: `list` and `load` ignore a model without its card too
        models[model.stem] = {
            "files": {model.name: _entry(model), card_file.name: _entry(card_file)},
            "card": json.loads(card_file.read_text()),
        }
    files = {
        file.relative_to(folder).as_posix(): _entry(file)
        for extra in EXTRA_FOLDERS
        for file in sorted((folder / extra).rglob("*"))
        if _published(file)
    }
    names = [PurePosixPath(f).name for m in models.values() for f in m["files"]] + [Path(f).name for f in files]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise InputError(f"A release is one flat folder, but these file names repeat in {folder}: {clashes}.")
    return {
        "format": FORMAT,
        "toolkit_version": __version__,
        "generated_by": GENERATED_BY,
        "models": models,
        "files": files,
    }


def write_manifest(folder: Path | None = None, out: Path | None = None) -> Path:
    """Write the manifest of `folder` (default trained/) to `out` (default toolkit/models.json)."""
    text = json.dumps(build_manifest(folder), indent=1) + "\n"
    return saving.write_atomically(out or pretrained.MANIFEST_FILE, ".tmp", lambda tmp: tmp.write_text(text))


def manifest_differences(folder: Path | None = None, manifest: dict[str, Any] | None = None) -> list[str]:
    """How `folder` (default trained/) differs from `manifest` (default the package's): one line per difference."""
    now, shipped = build_manifest(folder), manifest if manifest is not None else pretrained.manifest()
    lines = [
        f"{key}: manifest has {shipped.get(key)!r}, trained/ gives {now[key]!r}"
        for key in ("format", "toolkit_version")
        if shipped.get(key) != now[key]
    ]
    for kind in ("models", "files"):
        old, new = shipped.get(kind, {}), now[kind]
        lines += [f"{kind[:-1]} {name}: not in the manifest" for name in sorted(new.keys() - old.keys())]
        lines += [f"{kind[:-1]} {name}: gone from trained/" for name in sorted(old.keys() - new.keys())]
        lines += [f"{kind[:-1]} {name}: changed" for name in sorted(new.keys() & old.keys()) if new[name] != old[name]]
    return lines


def release(folder: Path, names: list[str] | None = None) -> list[Path]:
    """Copy the published files (all, or those of the models `names`) flat into `folder`, checked against the
    manifest: the assets of the release that `TOOLKIT_MODEL_URL` (or the default URL) points at."""
    data = pretrained.manifest()
    unknown = sorted(set(names or ()) - data["models"].keys())
    if unknown:
        raise InputError(f"Not in the manifest: {unknown}. Models: {', '.join(data['models'])}.")
    wanted = {f: e for n, m in data["models"].items() if not names or n in names for f, e in m["files"].items()}
    if not names:
        wanted.update(data["files"])
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for relative, entry in wanted.items():
        source = pretrained.CHECKOUT_TRAINED / relative
        if not source.is_file() or _entry(source) != entry:
            raise InputError(f"{source} is missing or not the file in the manifest: run `{GENERATED_BY}` first.")
        written.append(Path(shutil.copyfile(source, folder / PurePosixPath(relative).name)))
    return written


# -- Hugging Face Hub ------------------------------------------------------------------------------------------


def export(name: str, folder: Path, repo: str | None = None) -> Path:
    """Write `folder` as a Keras model repository for the Hugging Face Hub, ready for one upload.

    It holds `<name>.keras`, the card `<name>.json`, the same model unzipped (config.json, metadata.json,
    model.weights.h5: what `keras.saving.load_model("hf://owner/repo")` reads) and a README.md model card
    with YAML front matter. `repo` ("owner/name") only fills in the README's example.
    """
    source = pretrained.path(name) if not pretrained._is_path(name) else Path(name)
    card = pretrained.card(name)
    stem = Path(source).stem
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, folder / f"{stem}.keras")
    saving.write_json(card, folder / f"{stem}.json")
    with zipfile.ZipFile(source) as archive:
        for member in archive.namelist():
            top = PurePosixPath(member)
            if top.is_absolute() or ".." in top.parts:
                raise InputError(f"{source} holds an unsafe path {member!r}; not exporting it.")
            if member in KERAS_DIR_FILES or top.parts[0] == "assets":
                archive.extract(member, folder)
    (folder / "README.md").write_text(model_card(stem, card, repo or f"<owner>/toolkit-{stem}"))
    return folder


def _yaml_list(key: str, values: list[str]) -> list[str]:
    return [f"{key}:", *(f"- {json.dumps(v)}" for v in values)] if values else []


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def model_card(stem: str, card: dict[str, Any], repo: str) -> str:
    """README.md for the Hub: YAML front matter (library, license, tags, data sets, metrics) and the card in words."""
    task, metrics = card.get("task", ""), card.get("metrics", {})
    data = card.get("data", {}).get("name")
    pipeline = PIPELINE_TAGS.get(task)
    dataset = HUB_DATASETS.get(str(data).lower(), data) if data else None
    measured = [k for k, v in metrics.items() if isinstance(v, float) and "seconds" not in k]
    tags = [t for t in ("keras", "toolkit", pipeline, task, card.get("variant")) if t]
    front = [
        "---",
        "library_name: keras",
        "license: apache-2.0",
        *_yaml_list("tags", list(dict.fromkeys(tags))),
        *_yaml_list("datasets", [dataset] if dataset else []),
        *_yaml_list("metrics", measured),
        *([f"pipeline_tag: {pipeline}"] if pipeline else []),
        "---",
    ]
    headline = card.get("metric")
    lines = [
        f"# {stem}",
        "",
        f"{card.get('summary', task)}: the `{card.get('variant', '?')}` model, "
        f"{card.get('parameters', 0):,} parameters, trained with toolkit {card.get('toolkit_version', '?')} "
        f"(Keras {card.get('keras_version', '?')}, {card.get('backend', '?')} backend).",
        "",
    ]
    if headline in metrics:
        lines += [f"**{card.get('metric_label', headline)}: {_number(metrics[headline])}** on {data}.", ""]
    lines += [
        "## Use",
        "",
        "```python",
        "import keras",
        "import toolkit  # pip install toolkit: registers the layers this model uses",
        "",
        f'model = keras.saving.load_model("hf://{repo}")',
        f'# or, without the Hub: toolkit.pretrained.load("{stem}")',
        "```",
        "",
    ]
    if card.get("contract"):
        lines += [f"Input and output: {card['contract']}.", ""]
    if metrics:
        lines += ["## Metrics", "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {_number(v)} |" for k, v in metrics.items()] + [""]
    if card.get("command"):
        seconds = card.get("training_seconds")
        took = f", {seconds:,.0f} s" if isinstance(seconds, int | float) else ""
        lines += ["## Training", "", f"`{card['command']}` ({card.get('date', '?')}{took}).", ""]
    lines += [
        "## Files",
        "",
        f"- `{stem}.keras`: the whole model in one file (`keras.saving.load_model` or `toolkit.pretrained.load`).",
        "- `config.json`, `metadata.json`, `model.weights.h5`: the same model unzipped, as `hf://` loading reads it.",
        f"- `{stem}.json`: the model card (settings, data, all metrics) as JSON.",
        "",
    ]
    return "\n".join(front) + "\n\n" + "\n".join(lines)
