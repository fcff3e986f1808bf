"""The demo in a real browser: `streamlit run apps/Home.py` driven by headless Chromium through every page.

Needs Debian's `chromium` (/usr/bin/chromium) and Playwright's Python package (no browser download); the
tests skip with the reason when either is missing. One server for the module, on 127.0.0.1 only; the browser
may reach nothing but that server. Screenshots of every step go to artifacts/browser/.
"""

import io
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


def wav(seconds: float = 2.0, rate: int = 16000) -> bytes:
    """A mono 16-bit WAV: a 440 Hz tone over a 110 Hz one, loud enough to separate."""
    frames = b"".join(
        struct.pack(
            "<h", int(8000 * math.sin(2 * math.pi * 440 * n / rate) + 6000 * math.sin(2 * math.pi * 110 * n / rate))
        )
        for n in range(int(seconds * rate))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()


# stem -> (good file name, its bytes, a test id that shows the page ran the model on it)
UPLOADS = {
    "digits": ("one.png", lambda: png(64, 64, digit_one, channels=1), "stMetric"),
    "objects": ("photo.png", lambda: png(64, 64, photo), "stMetric"),
    "denoising": ("photo.png", lambda: png(64, 48, photo), "stImage"),
    "transfer": ("photo.png", lambda: png(96, 96, photo), "stMetric"),
    "separation": ("song.wav", wav, "stAudio"),
    "inpainting": ("photo.png", lambda: png(48, 48, photo), "stImage"),
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
def browser(server, tmp_path_factory):
    """Headless Chromium with a fresh profile that may only talk to the server."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        blocked = []

        def loopback_only(route):
            if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort()

        context.route("**/*", loopback_only)
        try:
            yield context
        finally:
            context.close()


def wait_idle(page, timeout: float = PAGE_SECONDS) -> None:
    """Until the app's script has run to its end (the page shows its final state)."""
    try:  # a widget change starts a rerun a moment later
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


def open_page(context, server: str, stem: str):
    """A new tab on the home page, then the page `stem` clicked in the sidebar."""
    page = context.new_page()
    page.goto(server, wait_until="domcontentloaded")
    page.wait_for_selector("[data-testid=stSidebarNav]", timeout=60_000)
    wait_idle(page)
    if stem != "overview":
        link = page.locator("[data-testid=stSidebarNavLink]").filter(has_text=re.compile(f"^{re.escape(title(stem))}$"))
        if link.count() == 0 or not link.first.is_visible():
            more = page.locator("[data-testid=stSidebarNavViewButton]")
            if more.count():
                more.first.click()
        link.first.click()
        page.wait_for_url(re.compile(f"/{stem}$"), timeout=30_000)
        wait_idle(page)
    return page


@pytest.mark.timeout(300)
@pytest.mark.parametrize("stem", PAGES)
def test_page_renders_from_the_sidebar(browser, server, stem):
    page = open_page(browser, server, stem)
    try:
        assert page.locator("[data-testid=stMain] h1").count() >= 1, f"{stem}: no title"
        assert_no_traceback(page, stem)
    finally:
        page.close()


def upload(page, path: Path) -> None:
    page.locator("[data-testid=stFileUploaderDropzoneInput]").first.set_input_files(str(path))
    wait_idle(page)


@pytest.mark.timeout(420)
@pytest.mark.parametrize("stem", [s for s in PAGES if s in UPLOADS])
def test_upload_gives_a_result_and_a_bad_file_a_clear_error(browser, server, stem, tmp_path):
    name, sample, result = UPLOADS[stem]
    good, bad = tmp_path / name, tmp_path / f"bad{Path(name).suffix}"
    good.write_bytes(sample())
    bad.write_bytes(os.urandom(4096))
    page = open_page(browser, server, stem)
    try:
        if NOT_SHIPPED in page.locator("[data-testid=stMain]").inner_text():
            pytest.skip(f"{stem}: its model is not in trained/, the page only says so")
        page.locator("[data-testid=stRadio] label").filter(has_text=re.compile("^Upload")).first.click()
        wait_idle(page)
        assert_no_traceback(page, f"{stem}_upload_mode")
        upload(page, good)
        assert_no_traceback(page, f"{stem}_upload")
        errors = page.locator("[data-testid=stAlertContentError]")
        assert errors.count() == 0, f"{stem}: a valid {name} gives an error: {errors.first.inner_text()}"
        page.locator(f"[data-testid={result}]").first.wait_for(timeout=PAGE_SECONDS * 1000)

        upload(page, bad)
        assert_no_traceback(page, f"{stem}_bad_upload")
        errors.first.wait_for(timeout=30_000)
        message = errors.first.inner_text()
        assert len(message) > 20 and "Something went wrong" not in message, f"{stem}: unclear error: {message}"
    finally:
        page.close()
