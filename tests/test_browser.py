"""The demo in a real browser: `streamlit run apps/Home.py` driven by headless Chromium through every page.

Needs Debian's `chromium` (/usr/bin/chromium) and Playwright's Python package (no browser download); the
tests skip with the reason when either is missing. One server for the module, on 127.0.0.1 only; the browser
may reach nothing but that server. Screenshots of every step go to artifacts/browser/.
"""

import io
import json
import math
import os
import re
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import wave
import zlib
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "artifacts" / "browser"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PAGE_SECONDS = 150  # a page's first run imports and loads its model on a busy 2-core machine
NOT_SHIPPED = "is not in"  # ui.require_shipped's warning: the page cannot run without its model

playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright (no `playwright install`)")
if not CHROMIUM.exists():
    pytest.skip("Chromium is missing: apt-get install chromium chromium-driver", allow_module_level=True)

PAGES = sorted(p.stem for p in (ROOT / "apps" / "pages").glob("*.py"))


def title(stem: str) -> str:
    """The sidebar label of a page, as apps/Home.py names it."""
    return "Home" if stem == "overview" else stem.removeprefix("foundations_").replace("_", " ").capitalize()


# --- samples the test makes -----------------------------------------------------------------------------------


def png(width: int, height: int, pixel, channels: int = 3) -> bytes:
    """A PNG (8-bit grey or RGB) whose pixel (x, y) is `pixel(x, y)` -> int or (r, g, b)."""
    rows = b""
    for y in range(height):
        values = [pixel(x, y) for x in range(width)]
        flat = values if channels == 1 else [c for v in values for c in v]
        rows += b"\0" + bytes(flat)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0 if channels == 1 else 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def digit_one(x: int, y: int) -> int:
    return 255 if 28 <= x <= 35 and 10 <= y <= 54 else 0  # a white stroke on black, like MNIST


def photo(x: int, y: int) -> tuple[int, int, int]:
    return (4 * x % 256, 4 * y % 256, 255 - 2 * (x + y) % 256)


def huge_png() -> bytes:
    """A PNG whose header claims 100000x100000 pixels (a decompression bomb): refused before decoding."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


def wav(seconds: float = 2.0, rate: int = 16000, volume: int = 1) -> bytes:
    """A mono 16-bit WAV: a 440 Hz tone over a 110 Hz one, loud enough to separate (silent with volume=0)."""
    frames = b"".join(
        struct.pack(
            "<h",
            volume * int(8000 * math.sin(2 * math.pi * 440 * n / rate) + 6000 * math.sin(2 * math.pi * 110 * n / rate)),
        )
        for n in range(int(seconds * rate))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()


# stem -> (good file name, its bytes, what shows that the page ran the model on it)
UPLOADS = {
    "digits": ("one.png", lambda: png(64, 64, digit_one, channels=1), "[data-testid=stMetric]"),
    "objects": ("photo.png", lambda: png(64, 64, photo), "[data-testid=stMetric]"),
    "denoising": ("photo.png", lambda: png(64, 48, photo), "[data-testid=stImage]"),
    "transfer": ("photo.png", lambda: png(96, 96, photo), "[data-testid=stMetric]"),
    "separation": ("song.wav", wav, "[data-testid=stAudio]"),
    "inpainting": ("photo.png", lambda: png(48, 48, photo), "[data-testid=stCaptionContainer]:has-text('Search loss')"),
}


# --- the server and the browser -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`streamlit run apps/Home.py` on a free loopback port; stopped when the module's tests end."""
    port = free_port()
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    command = [sys.executable, "-m", "streamlit", "run", "apps/Home.py", "--server.headless", "true"]
    command += ["--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.read() == b"ok":
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"streamlit did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "server.log").write_text(log.read_text())


@pytest.fixture(scope="module")
def tab(server, tmp_path_factory):
    """One tab of headless Chromium (fresh profile) on the home page; it may only talk to the server."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    outside = []

    def loopback_only(route):
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with playwright.sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            context.route("**/*", loopback_only)
            page = context.pages[0] if context.pages else context.new_page()
            page.goto(server, wait_until="domcontentloaded")
            page.wait_for_selector("[data-testid=stSidebarNav]", timeout=60_000)
            wait_idle(page)
            yield page
        finally:
            context.close()
    assert not outside, f"the app asked for addresses outside the server: {sorted(set(outside))[:5]}"


def wait_idle(page, timeout: float = PAGE_SECONDS) -> None:
    """Until the app's script has run to its end (the page shows its final state)."""
    try:  # a click or an upload starts a rerun a moment later
        page.wait_for_selector("[data-testid=stApp][data-test-script-state=running]", timeout=1500)
    except playwright.TimeoutError:
        pass
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=timeout * 1000)


def assert_no_traceback(page, shot: str) -> None:
    page.screenshot(path=SHOTS / f"{shot}.png", full_page=True)
    exceptions = page.locator("[data-testid=stException]")
    assert exceptions.count() == 0, f"{shot}: the page shows an exception:\n{exceptions.first.inner_text()}"
    text = page.locator("[data-testid=stMain]").inner_text()
    assert "Traceback" not in text, f"{shot}: the page shows a traceback:\n{text[-2000:]}"


def click_in_sidebar(page, stem: str) -> None:
    link = page.locator("[data-testid=stSidebarNavLink]").filter(has_text=re.compile(f"^{re.escape(title(stem))}$"))
    if not link.first.is_visible():  # a long list is folded behind "View more"
        page.locator("[data-testid=stSidebarNavViewButton]").first.click()
    link.first.click()
    page.wait_for_url(re.compile(r":\d+/?$" if stem == "overview" else f"/{stem}$"), timeout=30_000)
    wait_idle(page)


def open_page(page, stem: str):
    """The page `stem`, opened fresh by clicking it in the sidebar."""
    if re.search(r":\d+/?$" if stem == "overview" else f"/{stem}$", page.url):
        click_in_sidebar(page, "digits" if stem == "overview" else "overview")  # leave it, to start afresh
    click_in_sidebar(page, stem)
    return page


@pytest.mark.timeout(300)
@pytest.mark.parametrize("stem", PAGES)
def test_page_renders_from_the_sidebar(tab, stem):
    page = open_page(tab, stem)
    assert page.locator("[data-testid=stMain] h1").count() >= 1, f"{stem}: no title"
    assert_no_traceback(page, stem)


@pytest.mark.timeout(600)
def test_home_gallery_pictures_load_and_each_tile_opens_its_page(tab):
    tiles = json.loads((ROOT / "apps" / "gallery" / "gallery.json").read_text())["tiles"]
    page = open_page(tab, "overview")
    page.wait_for_function("() => [...document.images].every(image => image.complete)", timeout=30_000)
    widths = page.locator("[data-testid=stMain] [data-testid=stImage] img").evaluate_all(
        "images => images.map(image => image.naturalWidth)"
    )
    assert len(widths) == len(tiles) and all(widths), f"gallery pictures' natural widths: {widths}"
    links = "[data-testid=stMain] [data-testid=stPageLink-NavLink]"
    assert page.locator(links).count() == len(tiles)
    for index, tile in enumerate(tiles):
        stem = Path(tile["page"]).stem
        if index:
            open_page(page, "overview")
        page.locator(links).nth(index).click()
        page.wait_for_url(re.compile(f"/{stem}$"), timeout=30_000)
        wait_idle(page)
        assert page.locator("[data-testid=stMain] h1").count() >= 1, f"{stem}: no title"
        assert_no_traceback(page, f"gallery_{stem}")


FAILED = "[data-testid=stException], [data-testid=stAlertContentError]"  # what a page shows when it cannot go on


def settle(page, selector: str, what: str, timeout: float = PAGE_SECONDS) -> None:
    """Wait for `selector` (or for an exception or error box) to show, then for the script to end."""
    try:
        page.locator(f"{selector}, {FAILED}").first.wait_for(timeout=timeout * 1000)
    except playwright.TimeoutError:
        page.screenshot(path=SHOTS / "timeout.png", full_page=True)
        pytest.fail(
            f"{what} within {timeout:.0f} s; the page says:\n{page.locator('[data-testid=stMain]').inner_text()}"
        )
    wait_idle(page)


def fill_the_hole(page) -> None:
    """Inpainting draws its result on request: the fewest search steps and starting points, then run."""
    for label in ("Search steps", "Starting points"):
        page.locator("[data-testid=stSlider]").filter(has_text=label).get_by_role("slider").press("Home")
        wait_idle(page)
    page.get_by_role("button", name="Fill the hole").click()


# stem -> what the page needs after an upload before it shows its result
RUN = {"inpainting": fill_the_hole}


@pytest.mark.timeout(420)
@pytest.mark.parametrize("stem", [s for s in PAGES if s in UPLOADS])
def test_upload_gives_a_result_and_a_bad_file_a_clear_error(tab, stem, tmp_path):
    name, sample, result = UPLOADS[stem]
    good, bad = tmp_path / name, tmp_path / f"bad{Path(name).suffix}"
    good.write_bytes(sample())
    bad.write_bytes(os.urandom(4096))
    page = open_page(tab, stem)
    if NOT_SHIPPED in page.locator("[data-testid=stMain]").inner_text():
        pytest.skip(f"{stem}: its model is not in trained/, the page only says so")
    page.locator("[data-testid=stRadio] label").filter(has_text=re.compile("^Upload")).first.click()
    settle(page, "[data-testid=stFileUploaderDropzone]", "no upload box")
    assert_no_traceback(page, f"{stem}_upload_mode")

    uploader = page.locator("[data-testid=stFileUploaderDropzoneInput]").first
    uploader.set_input_files(str(good))
    RUN.get(stem, lambda page: None)(page)
    settle(page, result, f"no result for a valid {name}")
    assert_no_traceback(page, f"{stem}_upload")
    errors = page.locator("[data-testid=stAlertContentError]")
    assert errors.count() == 0, f"{stem}: a valid {name} gives an error: {errors.first.inner_text()}"

    uploader.set_input_files(str(bad))
    settle(page, FAILED, f"no error box for random bytes named {bad.name}", timeout=60)
    assert_no_traceback(page, f"{stem}_bad_upload")
    message = errors.first.inner_text()
    assert len(message) > 20 and "Something went wrong" not in message, f"{stem}: unclear error: {message}"

    name, data, says = (
        ("silent.wav", wav(volume=0), "silent") if name.endswith(".wav") else ("huge.png", huge_png(), "pixels")
    )
    (tmp_path / name).write_bytes(data)
    uploader.set_input_files(str(tmp_path / name))
    try:
        errors.filter(has_text=says).first.wait_for(timeout=60_000)
    except playwright.TimeoutError:
        pytest.fail(f"{stem}: no error saying '{says}' for {name}: {page.locator('[data-testid=stMain]').inner_text()}")
    wait_idle(page)
    assert_no_traceback(page, f"{stem}_{Path(name).stem}_upload")
