"""The Home page's gallery: one tile per task, with a picture its shipped model made and the figure it reaches
beside the classic method it is measured against.

    python -m toolkit.gallery                      # every tile, into apps/gallery/
    python -m toolkit.gallery denoising inpainting # only these tiles' pictures; the figures of all are rewritten

Each picture is made by the task package's public API from shipped or test data (an MNIST digit and its
probabilities, Grad-CAM on a CIFAR-10 test image, a denoised BSD68 crop beside its noisy input, a flower and its
prediction, the vocal mask over the example song's spectrogram, a filled CIFAR-10 hole), kept as a small PNG or
JPEG in `apps/gallery/`. The figures come from the model cards in trained/ (`tile_figures`), and `gallery.json`
holds them with the table of every shipped model, so Home reads two dozen kilobytes and loads no model and no
TensorFlow. Rerun after shipping a model: tests/test_gallery.py fails while the figures differ from the cards.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from toolkit.data.paths import REPO_ROOT

GALLERY = REPO_ROOT / "apps" / "gallery"
SIZE = (6.4, 4.0)  # inches at DPI: every picture 640x400 px, so the tiles line up
DPI = 100
JPEG_QUALITY = 85
STYLE = {"font.size": 14, "axes.titlesize": 15}  # a tile shows a picture at about half its size
Cards = Mapping[str, Mapping[str, Any]]  # shipped model name -> its card


@dataclass(frozen=True)
class Tile:
    """One task on the Home page: what it does, where it links, and which shipped model its figures come from."""

    key: str  # the task's name, or "foundations"
    title: str
    page: str  # the page it links to, relative to apps/Home.py
    what: str  # the task in one line, for a newcomer
    picture: str  # file name in apps/gallery/
    models: tuple[str, ...]  # shipped models it needs, the one it shows first; a tile without them shows no picture


TILES = (
    Tile("digits", "Digits", "pages/digits.py", "Read a handwritten digit.", "digits.png", ("digits",)),
    Tile(
        "objects",
        "Objects",
        "pages/objects.py",
        "Name the object in a small photo, and show where the network looked.",
        "objects.png",
        ("objects_cifar10",),
    ),
    Tile(
        "denoising",
        "Denoising",
        "pages/denoising.py",
        "Remove the grain from a noisy photo.",
        "denoising.jpg",
        ("denoising_ffdnet", "denoising"),
    ),
    Tile(
        "transfer",
        "Transfer",
        "pages/transfer.py",
        "Reuse an ImageNet network to tell flowers apart from a few thousand photos.",
        "transfer.jpg",
        ("transfer_flower_photos",),
    ),
    Tile(
        "separation",
        "Separation",
        "pages/separation.py",
        "Split a song into the singing voice and the accompaniment.",
        "separation.jpg",
        ("separation",),
    ),
    Tile(
        "inpainting",
        "Inpainting",
        "pages/inpainting.py",
        "Fill a hole in an image with what the network learnt that images look like.",
        "inpainting.png",
        ("inpainting_fill_net_cifar10", "inpainting_cifar10"),
    ),
    Tile(
        "foundations",
        "Foundations",
        "pages/foundations_perceptron.py",
        "The course's basics to play with: perceptron, activations, initialisation, softmax and optimizers, "
        "convolution arithmetic, inside a network.",
        "foundations.png",
        (),
    ),
)
TASK_TILES = tuple(tile for tile in TILES if tile.key != "foundations")
RESNET20_CIFAR10 = 91.25  # % test accuracy, He et al. 2016 (Table 6): the classic CIFAR-10 network; not in a card


# --- the figures, from the cards ------------------------------------------------------------------------------


def verdict(ours: float, theirs: float, unit: str, higher_is_better: bool = True, than: str = "it") -> str:
    """'beats it by 0.45 points', 'trails biharmonic by 1.55 dB', or 'level with it (+0.03 dB)' within 0.05."""
    margin = ours - theirs if higher_is_better else theirs - ours
    if abs(margin) <= 0.05:
        return f"level with {than} ({margin:+.2f} {unit})"
    return f"{'beats' if margin > 0 else 'trails'} {than} by {abs(margin):.2f} {unit}"


def shown_model(tile: Tile, cards: Cards) -> str | None:
    """The first of the tile's models that ships (FFDNet before DnCNN), or None."""
    return next((name for name in tile.models if name in cards), None)


def _table_row(card: Mapping[str, Any], column: str, **match: str) -> dict[str, Any] | None:
    rows = [r for r in card.get("evaluation_table", []) if all(str(r.get(k)) == v for k, v in match.items())]
    return rows[0] if rows and column in rows[0] else None


def digits_figures(cards: Cards, name: str) -> dict[str, str]:
    ours = cards[name]["metrics"]["test_error_pct"]
    figures = {"headline": f"{ours:.2f} % test error on MNIST's 10,000 test digits"}
    if "digits_lenet5" in cards:
        theirs = cards["digits_lenet5"]["metrics"]["test_error_pct"]
        figures["baseline"] = f"LeNet-5 (LeCun 1998), trained here: {theirs:.2f} %"
        figures["verdict"] = verdict(ours, theirs, "points", higher_is_better=False)
    return figures


def objects_figures(cards: Cards, name: str) -> dict[str, str]:
    card = cards[name]
    ours = 100 * card["metrics"]["test_accuracy"]
    figures = {
        "headline": f"{ours:.2f} % accuracy on CIFAR-10's 10,000 test images",
        "baseline": f"ResNet-20 (He et al. 2016, published): {RESNET20_CIFAR10:.2f} %",
        "verdict": verdict(ours, RESNET20_CIFAR10, "points"),
    }
    if "objects_fashion_mnist" in cards:
        figures["note"] = f"Fashion-MNIST: {100 * cards['objects_fashion_mnist']['metrics']['test_accuracy']:.2f} %."
    return figures


def denoising_figures(cards: Cards, name: str) -> dict[str, str]:
    card = cards[name]
    ours = card["metrics"]["psnr_25"]
    figures = {"headline": f"{ours:.2f} dB PSNR on BSD68 at noise level 25 ({card['variant']})"}
    # BM3D on the same images and noise: from this card, else the DnCNN one (FFDNet's run may skip BM3D)
    measured = [cards[n]["metrics"] for n in (name, "denoising") if n in cards]
    bm3d = next((m["bm3d_psnr_25"] for m in measured if "bm3d_psnr_25" in m), None)
    if bm3d is not None:
        figures["baseline"] = f"BM3D (Dabov et al. 2007): {bm3d:.2f} dB"
        figures["verdict"] = verdict(ours, bm3d, "dB")
    return figures


def transfer_figures(cards: Cards, name: str) -> dict[str, str]:
    card = cards[name]
    figures = {
        "headline": f"{100 * card['metrics']['test_accuracy']:.1f} % on {card['metrics']['test_examples']} test photos "
        f"of {len(card['details']['classes'])} kinds of flower"
    }
    curve = card["details"].get("label_budget_curve", [])
    scratch = next((r for r in curve if r["model"].startswith("scratch")), None)
    reused = scratch and next(
        (r for r in curve if r["model"].startswith("transfer") and r["labels/class"] == scratch["labels/class"]), None
    )
    if reused:
        ours, theirs = 100 * reused["test accuracy"], 100 * scratch["test accuracy"]
        figures["baseline"] = (
            f"the same network from scratch, {scratch['labels/class']} photos per class: {theirs:.1f} % "
            f"(reused from ImageNet: {ours:.1f} %)"
        )
        figures["verdict"] = verdict(ours, theirs, "points")
    return figures


def separation_figures(cards: Cards, name: str) -> dict[str, str]:
    card = cards[name]
    ours, clips = card["metrics"]["gnsdr"], card["metrics"]["test_clips"]
    on_mir1k = card.get("details", {}).get("singers", {}).get("dev")  # MIR-1K's dev singers: real, never heard
    songs = "MIR-1K clips of singers" if on_mir1k else "test songs"
    figures = {"headline": f"{ours:.2f} dB GNSDR on {clips} {songs} it never heard"}
    table = card.get("evaluation_table", [])  # REPET-SIM on the voices of the headline, the table's first group
    repet = table and _table_row(card, "GNSDR (dB)", method="REPET-SIM", voices=table[0]["voices"])
    if repet:
        theirs = repet["GNSDR (dB)"]
        figures["baseline"] = f"REPET-SIM (Rafii & Pardo 2012, no training): {theirs:.2f} dB"
        figures["verdict"] = verdict(ours, theirs, "dB")
    return figures


def inpainting_figures(cards: Cards, name: str) -> dict[str, str]:
    metrics = cards[name]["metrics"]
    ours = metrics["hole_psnr"]
    classic = {"Telea": metrics.get("telea_hole_psnr"), "biharmonic": metrics.get("biharmonic_hole_psnr")}
    classic = {name: value for name, value in classic.items() if value is not None}
    figures = {"headline": f"{ours:.2f} dB PSNR in the hole ({metrics['mask']} mask) of CIFAR-10 test images"}
    if classic:
        best = max(classic, key=classic.get)
        figures["baseline"] = ", ".join(f"{name}: {value:.2f} dB" for name, value in classic.items())
        figures["verdict"] = verdict(ours, classic[best], "dB", than=best)
    if name != "inpainting_cifar10" and "inpainting_cifar10" in cards:  # the fill network shown: the course's GAN
        gan = cards["inpainting_cifar10"]["metrics"]["hole_psnr"]
        figures["note"] = f"The DCGAN's latent search (Yeh et al. 2017) on the same holes: {gan:.2f} dB."
    elif "inpainting_fashion_mnist" in cards:
        grey = cards["inpainting_fashion_mnist"]["metrics"]
        figures["note"] = (
            f"On Fashion-MNIST it beats Telea: {grey['hole_psnr']:.2f} vs {grey['telea_hole_psnr']:.2f} dB."
            if grey["hole_psnr"] > grey["telea_hole_psnr"]
            else f"On Fashion-MNIST too: {grey['hole_psnr']:.2f} vs Telea {grey['telea_hole_psnr']:.2f} dB."
        )
    return figures


def xor_accuracies() -> tuple[float, float]:
    """Training accuracy on XOR of the perceptron (50 epochs) and of a 2-2-1 MLP (3000 epochs), as the page trains."""
    from toolkit.foundations.perceptron import Perceptron, accuracy, make_data, solve_xor

    x, y = make_data("XOR")
    perceptron = Perceptron()
    perceptron.fit(x, y, 50)
    mlp, _ = solve_xor()
    return accuracy(perceptron.predict(x), y), accuracy(mlp.predict(x) > 0.5, y)


def foundations_figures(cards: Cards, name: str | None = None) -> dict[str, str]:
    line, mlp = xor_accuracies()
    return {
        "headline": f"A network with 2 hidden units learns XOR: {100 * mlp:.0f} % right",
        "baseline": f"a perceptron (Rosenblatt 1958), one straight line: {100 * line:.0f} %",
        "verdict": verdict(100 * mlp, 100 * line, "points"),
    }


def tile_figures(tile: Tile, cards: Cards) -> dict[str, str]:
    """{"headline", and where measured "baseline", "verdict", "note"} of a tile, from the shipped models' cards."""
    name = shown_model(tile, cards)
    if tile.models and name is None:
        return {"headline": f"Not trained yet: `python -m toolkit.train task={tile.key} out=trained/`"}
    return FIGURES[tile.key](cards, name)


FIGURES: dict[str, Callable[[Cards, str | None], dict[str, str]]] = {
    "digits": digits_figures,
    "objects": objects_figures,
    "denoising": denoising_figures,
    "transfer": transfer_figures,
    "separation": separation_figures,
    "inpainting": inpainting_figures,
    "foundations": foundations_figures,
}


def model_table(cards: Cards) -> list[dict[str, Any]]:
    """Every shipped model, tasks in the gallery's order: the Home page's full table."""
    rows = []
    for tile in TASK_TILES:
        shipped = [card for _, card in sorted(cards.items()) if card.get("task") == tile.key]
        for card in shipped or [None]:
            rows.append(
                {
                    "task": tile.key,
                    "what": card["summary"] if card else tile.what,
                    "model file": f"trained/{card['artifact']}.keras" if card else "not trained yet",
                    "variant": card["variant"] if card else "",
                    "metric": card["metric_label"] if card else "",
                    "value": round(card["metrics"][card["metric"]], 3) if card else None,
                    "trained on": (", ".join(card["hardware"]["accelerators"]) or "CPU") if card else "",
                }
            )
    return rows


def shipped_cards() -> dict[str, dict[str, Any]]:
    from toolkit import pretrained

    return {name: pretrained.card(name) for name in pretrained.list()}


def gallery_text(cards: Cards) -> dict[str, Any]:
    """What gallery.json holds apart from the pictures' captions: each tile's figures and the model table."""
    tiles = [
        {**asdict(tile), "models": list(tile.models), "shows": shown_model(tile, cards), **tile_figures(tile, cards)}
        for tile in TILES
    ]
    return {"tiles": tiles, "models": model_table(cards)}


# --- the pictures, from the shipped models ----------------------------------------------------------------------


def new_figure(columns: int, title: str = "", **grid: Any) -> tuple[Figure, Any]:
    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    axes = figure.subplots(1, columns, **grid)
    if title:
        figure.suptitle(title, fontsize="x-large")
    return figure, axes


def show_image(axes, image: np.ndarray, title: str, cmap: str | None = None) -> None:
    axes.imshow(image, cmap=cmap, vmin=0, vmax=255 if image.dtype == np.uint8 else 1, interpolation="nearest")
    axes.set_title(title)
    axes.set_axis_off()


def save(figure: Figure, path: Path) -> Path:
    """PNG for drawings and few colours, JPEG (quality 85) for photos and spectrograms: tens of kilobytes each."""
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"pil_kwargs": {"quality": JPEG_QUALITY, "optimize": True}} if path.suffix == ".jpg" else {}
    figure.savefig(path, dpi=DPI, **options)
    return path


def digits_picture(path: Path, name: str) -> str:
    """Of the first thousand test digits the CNN gets right, the one it is nearest 90 % sure of, and its 10
    probabilities (a sure one shows a single bar; the least sure ones are barely legible)."""
    from toolkit import pretrained
    from toolkit.digits.data import load_digit_split
    from toolkit.digits.predict import CLASS_NAMES

    images, labels = load_digit_split("mnist", "test", limit=1000)
    probabilities = pretrained.load(name).predict(images.astype("float32"), verbose=0)
    right = np.flatnonzero(probabilities.argmax(-1) == labels)
    index = int(right[np.argmin(np.abs(probabilities[right].max(-1) - 0.9))])
    p = probabilities[index]
    order = np.argsort(p)[::-1]
    figure, (left, bars) = new_figure(2, gridspec_kw={"width_ratios": [1, 1.2]})
    show_image(left, images[index][..., 0], f"MNIST test digit #{index}", cmap="gray")
    bars.barh(CLASS_NAMES, p, color=["#e6550d" if k == order[0] else "#9ecae1" for k in range(len(p))])
    bars.invert_yaxis()
    bars.set(xlim=(0, 1), xticks=[0, 0.5, 1], xlabel="probability")
    bars.set_title("what the CNN says")
    save(figure, path)
    return (
        f"An MNIST test digit (a {labels[index]}): the CNN says {CLASS_NAMES[order[0]]}, {p[order[0]]:.0%} sure, "
        f"{CLASS_NAMES[order[1]]} next ({p[order[1]]:.0%})."
    )


def objects_picture(path: Path, name: str) -> str:
    """The first horse among 200 CIFAR-10 test images that the network names surely (a shape that reads at 32x32),
    and its Grad-CAM."""
    from toolkit import pretrained
    from toolkit.grad_cam import grad_cam, heatmap_overlay
    from toolkit.objects.data import DATASETS, load_object_split

    model = pretrained.load(name)
    classes = DATASETS["cifar10"].classes
    images, labels = load_object_split("cifar10", "test", limit=200)
    probabilities = model.predict(images.astype("float32"), verbose=0)
    sure = (probabilities.argmax(-1) == labels) & (probabilities.max(-1) > 0.9)
    candidates = [np.flatnonzero(sure & (labels == classes.index("horse"))), np.flatnonzero(sure), [0]]
    index = int(next(c for c in candidates if len(c))[0])
    image, predicted = images[index], int(probabilities[index].argmax())
    cam = grad_cam(model, image[None].astype("float32"), predicted)[0]
    figure, (left, right) = new_figure(2, f"It says '{classes[predicted]}', {probabilities[index, predicted]:.0%} sure")
    show_image(left, image, "test image, 32x32")
    show_image(right, heatmap_overlay(image, cam), "Grad-CAM: where it looked")
    save(figure, path)
    return f"A CIFAR-10 test image the network calls '{classes[predicted]}', and where it looked for it (red)."


def denoising_picture(path: Path, name: str) -> str:
    """A 96x96 crop of a BSD68 test image with noise of level 25 beside what the model made of the whole image."""
    from toolkit import pretrained
    from toolkit.denoising.data import load_image_set
    from toolkit.denoising.inference import add_noise, denoise_channels, noise_rng
    from toolkit.denoising.quality import psnr, to_uint8

    model, sigma, image_name = pretrained.load(name), 25, "test002.png"
    clean = dict(load_image_set("bsd68"))[image_name]
    noisy = add_noise(clean, sigma, noise_rng(0, sigma, image_name))  # the evaluation's own noise for this image
    denoised = denoise_channels(model, noisy, sigma)  # told the level if the model takes one (FFDNet)
    height, width = clean.shape[:2]
    top, left, side = (height - 96) // 2, (width - 96) // 2, 96
    figure, axes = new_figure(2)
    for panel, (label, picture) in zip(axes, [("noisy", noisy), (model.name, denoised)]):
        show_image(panel, to_uint8(picture[top : top + side, left : left + side]), "", cmap="gray")
        panel.set_title(f"{label}: {psnr(clean, picture):.1f} dB")
    save(figure, path)
    return f"BSD68 {image_name} with noise of level 25 (left) and denoised (right), a 96x96 crop; PSNR of the image."


def transfer_picture(path: Path, name: str) -> str:
    """The first sunflower of the flower test split, and the five probabilities the fine-tuned network gives it."""
    from toolkit import pretrained
    from toolkit.data.image_folder import read_image
    from toolkit.transfer.data import split_photo_paths
    from toolkit.transfer.predict import class_probabilities, square_photo

    model, classes = pretrained.load(name), pretrained.card(name)["details"]["classes"]
    file, truth = next((f, c) for f, c in split_photo_paths("test") if c == "sunflowers")
    photo = read_image(file)
    probabilities = class_probabilities(model, photo, classes)
    figure, (left, bars) = new_figure(2, gridspec_kw={"width_ratios": [1, 1]})
    show_image(left, square_photo(photo, 224), f"test photo: {truth}")
    names = list(probabilities)[::-1]
    bars.barh(names, [probabilities[n] for n in names], color=["#9ecae1"] * (len(names) - 1) + ["#e6550d"])
    bars.set(xlim=(0, 1), xticks=[0, 0.5, 1], xlabel="probability")
    bars.set_title("what the network says")
    save(figure, path)
    best = next(iter(probabilities))
    return f"A flower test photo (sunflowers): the network says {best}, {probabilities[best]:.0%} sure."


def separation_picture(path: Path, name: str) -> str:
    """The first 10 s of the example song's spectrogram below 4 kHz, coloured where the network hears the voice."""
    from toolkit import pretrained
    from toolkit.separation import separate
    from toolkit.separation.example_song import EXAMPLE_SONG
    from toolkit.separation.predict import read_song
    from toolkit.separation.stft import HOP, N_FFT, SAMPLE_RATE

    song, rate = read_song(EXAMPLE_SONG)
    stems = separate(song, sr=rate, model=pretrained.load(name), return_mask=True)
    frames, bins = int(10 * SAMPLE_RATE / HOP), int(4000 / (SAMPLE_RATE / N_FFT))
    decibels = 20 * np.log10(stems["magnitude"][:frames, :bins].T + 1e-6)
    level = np.clip((decibels - decibels.max() + 50) / 50, 0, 1)[..., None] ** 0.7  # the top 50 dB, brightened
    mask = stems["mask"][:frames, :bins].T[..., None]
    voice, rest = np.array([1.0, 0.5, 0.0]), np.array([0.7, 0.75, 0.85])
    picture = level * (mask * voice + (1 - mask) * rest)
    figure, axes = new_figure(1, "orange: what the network gives the voice")
    axes.imshow(picture, origin="lower", aspect="auto", extent=[0, frames * HOP / SAMPLE_RATE, 0, 4])
    axes.set(xlabel="seconds", ylabel="kHz")
    save(figure, path)
    return "The example song's spectrogram (first 10 s, up to 4 kHz): orange where the network hears the voice."


def inpainting_picture(path: Path, name: str) -> str:
    """The first two CIFAR-10 test images with the centre hidden, filled by the model and by Telea."""
    from toolkit import pretrained
    from toolkit.inpainting import inpaint
    from toolkit.inpainting.classic import psnr, telea
    from toolkit.inpainting.data import held_out_images
    from toolkit.inpainting.masks import make_mask
    from toolkit.inpainting.search import SearchSettings

    images = held_out_images("cifar10", 2)
    mask = make_mask("center", *images.shape[1:3])
    result = inpaint(pretrained.load(name), images, np.stack([mask] * len(images)), SearchSettings(steps=300))
    hole = mask < 0.5
    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    grid = figure.subplots(len(images), 4)
    for row, image in enumerate(images):
        filled = {"its fill": result.filled[row], "Telea": telea(image, mask)}
        columns = [("hole", result.masked[row]), *filled.items(), ("original", image)]
        for axes, (label, picture) in zip(grid[row], columns):
            score = f", {psnr(picture, image, hole):.1f} dB" if label in filled else ""
            show_image(axes, np.clip(picture, 0, 1), label + score)
    save(figure, path)
    return "The first two CIFAR-10 test images (not picked) with the centre hidden, filled; PSNR in the hole."


def foundations_picture(path: Path, name: str | None = None) -> str:
    """XOR's four points: the perceptron's one straight line beside the regions a 2-2-1 MLP draws."""
    from toolkit.foundations.perceptron import Perceptron, decision_grid, make_data, solve_xor

    x, y = make_data("XOR")
    line = Perceptron()
    line.fit(x, y, 50)
    mlp, _ = solve_xor()
    xx, yy, grid = decision_grid(x, resolution=80)
    figure, axes = new_figure(2)
    for panel, (title, predicted) in zip(
        axes, [("perceptron: one line", line.predict(grid)), ("MLP, 2 hidden units", mlp.predict(grid) > 0.5)]
    ):
        panel.contourf(xx, yy, predicted.reshape(xx.shape), levels=[-0.5, 0.5, 1.5], colors=["#9ecae1", "#fdae6b"])
        panel.scatter(x[:, 0], x[:, 1], c=np.where(y, "#e6550d", "#3182bd"), edgecolors="k", s=120)
        panel.set_title(f"XOR, {title}")
        panel.set(xticks=[0, 1], yticks=[0, 1], aspect="equal")
    save(figure, path)
    return "XOR: no straight line separates the orange points from the blue ones; one hidden layer bends the boundary."


PICTURES: dict[str, Callable[[Path, str | None], str]] = {
    "digits": digits_picture,
    "objects": objects_picture,
    "denoising": denoising_picture,
    "transfer": transfer_picture,
    "separation": separation_picture,
    "inpainting": inpainting_picture,
    "foundations": foundations_picture,
}


def make(keys: Sequence[str] = (), out: Path = GALLERY) -> Path:
    """Make the pictures of the tiles `keys` (all by default) and rewrite `out/gallery.json`; returns its path.

    A tile not remade keeps its picture and caption from the last run; a tile whose model does not ship has none.
    """
    cards = shipped_cards()
    manifest = out / "gallery.json"
    before = {t["key"]: t for t in json.loads(manifest.read_text())["tiles"]} if manifest.is_file() else {}
    text = gallery_text(cards)
    for tile in text["tiles"]:
        key, shows = tile["key"], tile["shows"]
        if tile["models"] and shows is None:
            tile.update(picture=None, caption="")
        elif not keys or key in keys:
            print(f"{key}: {shows or 'no model'} -> {out / tile['picture']}", flush=True)
            with matplotlib.rc_context(STYLE):
                tile["caption"] = PICTURES[key](out / tile["picture"], shows)
        else:
            tile["caption"] = before.get(key, {}).get("caption", "")
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"command": "python -m toolkit.gallery", **text}, indent=1) + "\n")
    return manifest


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m toolkit.gallery", description=__doc__.splitlines()[0])
    parser.add_argument("tiles", nargs="*", help=f"tiles to remake: {', '.join(PICTURES)} (default: all)")
    parser.add_argument("--out", type=Path, default=GALLERY, help=f"folder (default {GALLERY})")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.tiles) - set(PICTURES))
    if unknown:
        parser.error(f"unknown tiles {', '.join(unknown)}; the tiles are {', '.join(PICTURES)}")
    path = make(args.tiles, args.out)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
