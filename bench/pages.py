"""How long each page of the demo takes to settle on its first open, in one server, in headless Chromium.

python -m bench.pages [--read-home 5] [--before bench/results/OLD.json]  ->  bench/results/pages.json and .md

Starts `streamlit run apps/Home.py` on a free loopback port, opens Home, reads the sidebar's pages, then opens
each page in a new tab (a new session: nothing cached in the browser, only what the server keeps) and times it
from the request until the script has run to its end and every picture has loaded. Home comes first; it imports
the toolkit (TensorFlow, Keras) in the background while it is read (`--read-home` seconds), else the first page
after it waits for that import. The figures are seconds on this machine; other processes running at the same
time (a training job) and the load average are in the notes: with them every figure is an upper bound.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.common import write_results

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "artifacts" / "bench_pages"  # a screenshot of each settled page, and the server's log
SETTLE_S = 300  # a page that takes longer is recorded as such
RESULT = "[data-testid=stImage], [data-testid=stMetric], [data-testid=stAudio], [data-testid=stVegaLiteChart]"
RESULT += ", [data-testid=stPlotlyChart], [data-testid=stDataFrame], [data-testid=stImageContainer]"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int, log: Path) -> subprocess.Popen:
    """`streamlit run apps/Home.py` on 127.0.0.1:`port`, once it answers its health check."""
    command = [sys.executable, "-m", "streamlit", "run", "apps/Home.py", "--server.headless", "true"]
    command += ["--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    command += ["--server.fileWatcherType", "none"]  # others may edit files meanwhile: no reruns from that
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
                if answer.read() == b"ok":
                    return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise SystemExit(f"streamlit did not start:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.3)


def settle(page, timeout: float = SETTLE_S) -> None:
    """Until the script has run to its end and every <img> has loaded (or failed to)."""
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=timeout * 1000)
    page.wait_for_function("() => [...document.images].every(image => image.complete)", timeout=timeout * 1000)


def open_timed(context, url: str, shot: Path) -> dict:
    """Open `url` in a new tab; seconds to settle, whether it shows a result, and any exception it shows.
    A screenshot of the settled page goes to `shot`."""
    tab = context.new_page()
    start = time.perf_counter()
    tab.goto(url, wait_until="commit")
    try:
        settle(tab)
        seconds = round(time.perf_counter() - start, 1)
    except Exception:  # playwright's TimeoutError: recorded, the run goes on
        seconds = None
    tab.screenshot(path=shot, full_page=True)
    exceptions = tab.locator("[data-testid=stException]")
    row = {
        "seconds": seconds,
        "shows a result": tab.locator(f"[data-testid=stMain] :is({RESULT})").count() > 0,
        "exception": exceptions.first.inner_text()[:200] if exceptions.count() else "",
    }
    tab.close()
    return row


def page_urls(context, base: str) -> list[tuple[str, str]]:
    """(title, url) of every page in the sidebar, in its order (the folded ones too)."""
    tab = context.new_page()
    tab.goto(base)
    tab.wait_for_selector("[data-testid=stSidebarNav]", timeout=SETTLE_S * 1000)
    more = tab.locator("[data-testid=stSidebarNavViewButton]")
    if more.count() and "more" in more.first.inner_text().lower():
        more.first.click()
    links = tab.locator("[data-testid=stSidebarNavLink]")
    found = [(links.nth(i).inner_text().strip(), links.nth(i).get_attribute("href")) for i in range(links.count())]
    tab.close()
    return found


def other_load() -> str:
    """The busy processes this benchmark did not start (a training job), as a note for the results."""
    mine = {os.getpid(), os.getppid()}
    lines = subprocess.run(["ps", "-eo", "pid,pcpu,args", "--sort=-pcpu"], capture_output=True, text=True).stdout
    busy = []
    for line in lines.splitlines()[1:]:
        pid, cpu, args = line.split(None, 2)
        if int(pid) not in mine and float(cpu) >= 20 and "python" in args:
            busy.append(f"{args[:150]} ({cpu}% CPU)")
    return "; ".join(busy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="pages", help="results file name in bench/results/")
    parser.add_argument("--note", default="", help="added to the notes (what changed since the last run)")
    parser.add_argument(
        "--read-home", type=float, default=5.0, help="seconds spent on Home before the first page (default 5)"
    )
    parser.add_argument("--before", type=Path, help="an earlier results file: its seconds become a 'before' column")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    busy_before, load_before = other_load(), os.getloadavg()[0]
    SHOTS.mkdir(parents=True, exist_ok=True)
    port, log = free_port(), SHOTS / "server.log"
    started = time.perf_counter()
    server = start_server(port, log)
    server_s = time.perf_counter() - started
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            home = open_timed(context, base, SHOTS / "Home.png")  # the true first open: nothing imported yet
            rows.append({"page": "Home", **home})
            print(rows[-1], flush=True)
            time.sleep(args.read_home)  # a reader looks at the gallery; Home imports the toolkit meanwhile
            for title, url in page_urls(context, base):
                if url.rstrip("/") == base:
                    continue
                rows.append({"page": title, **open_timed(context, url, SHOTS / f"{title}.png")})
                print(rows[-1], flush=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    busy = "; ".join(dict.fromkeys(b for b in (busy_before, other_load()) if b))
    load = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores"
    if args.before:
        earlier = {row["page"]: row["seconds"] for row in json.loads(args.before.read_text())["rows"]}
        rows = [{"page": r["page"], "before (s)": earlier.get(r["page"]), **r} for r in rows]
    notes = (
        f"Seconds from opening the page's address in a new tab until its script has run to its end and every "
        f"picture has loaded; one `streamlit run apps/Home.py` server (up in {server_s:.1f} s), Home first, "
        f"{args.read_home:g} s on it (Home imports the toolkit in the background meanwhile), then the sidebar's "
        "pages in order, each a page's first open in that server (models load on it). "
        + (
            f"Running at the same time on these cores: {busy}; the figures are upper bounds. "
            if busy
            else "Nothing else busy on the machine. "
        )
        + f"({load}.) "
        + args.note
    )
    print(write_results(args.name, rows, notes=notes.strip()))


if __name__ == "__main__":
    main()
