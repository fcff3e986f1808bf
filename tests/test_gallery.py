"""The Home page's gallery (toolkit/gallery.py, apps/gallery/, apps/pages/overview.py): a tile per task, small
pictures, figures that match the model cards, and a start page that loads no TensorFlow."""

import ast
import json

import pytest
from PIL import Image

from tests.harness import APPS, app_page
from toolkit import gallery, tasks

MANIFEST = gallery.GALLERY / "gallery.json"
MAX_BYTES = 100_000  # a picture is a few tens of kilobytes: Home is meant to open at once


def manifest() -> dict:
    return json.loads(MANIFEST.read_text())


def test_a_tile_per_task_in_course_order_and_foundations_last():
    assert [tile.key for tile in gallery.TASK_TILES] == tasks.names(), "add the new task's tile to gallery.TILES"
    assert gallery.TILES[-1].key == "foundations"
    for tile in gallery.TILES:
        assert (APPS / tile.page).is_file(), tile.page
        assert tile.key in gallery.PICTURES and tile.picture.endswith((".png", ".jpg"))


def test_every_picture_is_there_and_small():
    for tile in manifest()["tiles"]:
        assert tile["picture"], f"{tile['key']}: no picture (its model does not ship)"
        path = gallery.GALLERY / tile["picture"]
        assert path.is_file(), f"{path} is missing: run python -m toolkit.gallery"
        assert path.stat().st_size < MAX_BYTES, f"{path} is {path.stat().st_size:,} bytes"
        with Image.open(path) as picture:
            assert picture.size == (640, 400), (path, picture.size)
        assert tile["caption"], tile["key"]


def test_the_figures_are_the_model_cards_figures():
    """A model shipped or retrained since the gallery was made changes its figures (and its picture)."""
    made = manifest()
    expected = gallery.gallery_text(gallery.shipped_cards())
    for tile in made["tiles"]:
        tile.pop("caption")
    assert made["tiles"] == expected["tiles"], "the cards changed: run python -m toolkit.gallery"
    assert made["models"] == expected["models"], "the shipped models changed: run python -m toolkit.gallery"


def card(task: str, variant: str, **metrics: float) -> dict:
    return {"task": task, "variant": variant, "metrics": metrics}


def test_denoising_shows_ffdnet_once_shipped_against_the_dncnn_cards_bm3d():
    dncnn = card("denoising", "dncnn", psnr_25=28.64, bm3d_psnr_25=28.62)
    tile = next(t for t in gallery.TILES if t.key == "denoising")
    assert gallery.shown_model(tile, {"denoising": dncnn}) == "denoising"
    cards = {"denoising": dncnn, "denoising_ffdnet": card("denoising", "ffdnet", psnr_25=29.1)}
    assert gallery.shown_model(tile, cards) == "denoising_ffdnet"
    figures = gallery.tile_figures(tile, cards)
    assert "29.10 dB" in figures["headline"] and "ffdnet" in figures["headline"]
    assert figures["baseline"] == "BM3D (Dabov et al. 2007): 28.62 dB" and figures["verdict"] == "beats it by 0.48 dB"


def test_inpainting_shows_the_fill_network_once_shipped_against_the_best_classic_fill():
    classic = {"mask": "center", "telea_hole_psnr": 15.64, "biharmonic_hole_psnr": 16.11}
    gan = card("inpainting", "dcgan", hole_psnr=14.56, **classic)
    tile = next(t for t in gallery.TILES if t.key == "inpainting")
    assert gallery.shown_model(tile, {"inpainting_cifar10": gan}) == "inpainting_cifar10"
    cards = {"inpainting_cifar10": gan, "inpainting_fill_net_cifar10": card("inpainting", "fill_net", hole_psnr=18.0)}
    cards["inpainting_fill_net_cifar10"]["metrics"] |= classic
    assert gallery.shown_model(tile, cards) == "inpainting_fill_net_cifar10"
    figures = gallery.tile_figures(tile, cards)
    assert figures["headline"].startswith("18.00 dB") and figures["verdict"] == "beats biharmonic by 1.89 dB"
    assert "latent search" in figures["note"] and "14.56 dB" in figures["note"]


def test_separation_scored_on_mir1k_says_so_beside_repet_sim_on_the_same_singers():
    dev = "MIR-1K dev: annar, tammy"
    rows = [
        {"method": "drnn", "voices": dev, "GNSDR (dB)": 7.5},
        {"method": "REPET-SIM", "voices": dev, "GNSDR (dB)": 0.38},
    ]
    mir1k = {**card("separation", "drnn", gnsdr=7.5, test_clips=50), "evaluation_table": rows}
    mir1k["details"] = {"dataset": "mir1k", "singers": {"dev": ["annar", "tammy"]}}
    figures = gallery.tile_figures(next(t for t in gallery.TILES if t.key == "separation"), {"separation": mir1k})
    assert figures["headline"] == "7.50 dB GNSDR on 50 MIR-1K clips of singers it never heard"
    assert figures["baseline"].endswith("0.38 dB") and figures["verdict"] == "beats it by 7.12 dB"


def test_a_tile_without_its_model_says_how_to_train_it():
    tile = next(t for t in gallery.TILES if t.key == "separation")
    assert gallery.shown_model(tile, {}) is None
    assert "task=separation" in gallery.tile_figures(tile, {})["headline"]


@pytest.mark.parametrize(
    ("ours", "theirs", "higher", "said"),
    [
        (0.38, 0.83, False, "beats it by 0.45 points"),
        (14.56, 16.11, True, "trails it by 1.55 points"),
        (28.64, 28.62, True, "level with it (+0.02 points)"),
    ],
)
def test_the_verdict_says_beats_trails_or_level(ours, theirs, higher, said):
    assert gallery.verdict(ours, theirs, "points", higher_is_better=higher) == said


def test_the_command_refuses_an_unknown_tile(capsys):
    with pytest.raises(SystemExit):
        gallery.main(["digits", "nosuchtask"])
    assert "unknown tiles nosuchtask" in capsys.readouterr().err


def imported_modules(path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add(node.module or "")
    return found


def test_home_imports_nothing_from_the_toolkit():
    """apps/Home.py runs before every page and overview.py is the start page: importing the toolkit there would
    load TensorFlow (seconds) before anything shows."""
    for path in (APPS / "Home.py", APPS / "pages" / "overview.py"):
        assert not {m for m in imported_modules(path) if m.split(".")[0] == "toolkit"}, path


def test_home_shows_each_tile_with_its_picture_figures_and_link():
    home = app_page("Home").run()
    assert not home.exception
    assert home.title[0].value == "toolkit"
    tiles = manifest()["tiles"]
    assert [h.value for h in home.subheader] == [t["title"] for t in tiles]
    links = home.get("page_link")
    assert [link.proto.page for link in links] == [t["page"].removeprefix("pages/").removesuffix(".py") for t in tiles]
    text = " ".join(m.value for m in home.markdown)
    for tile in tiles:
        assert tile["headline"] in text and tile.get("verdict", "") in text, tile["key"]
    assert len(home.get("image")) == len(tiles)
    assert [e.label for e in home.expander] == ["All shipped models"]
    assert "trained/digits.keras" in home.dataframe[0].value["model file"].tolist()
