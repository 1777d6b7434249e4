"""make ui-check: the MLflow UI the way a newcomer meets it, in a real browser (headless Chromium
driven by Playwright). Starts `mlflow ui` on loopback over a store holding a small sweep, opens the
root URL, clicks the experiment, follows the link compsweep writes into its description (the
experiment's shared view), and fails unless the runs table then shows the parent rows with their
seed statistics (mean, std, N) as visible columns and their names whole; the screenshot is what
it saw.

    python -m benchmarks.ui_check STORE_DIR EXPERIMENT docs/mlflow-ui.png
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import schema
from schema.store import VIEW_KEY

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip
LINK = "Seed statistics per config"  # the description's link (schema.store.set_view)
CUT = """(names) => names.filter(n => [...document.querySelectorAll('a, span, div')].some(
    e => e.childElementCount === 0 && e.textContent.trim() === n && e.scrollWidth > e.clientWidth + 1))"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rest(base: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{base}/api/2.0/mlflow/{path}", data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def wait_up(base: str, server: subprocess.Popen, seconds: float = 90) -> None:
    end = time.time() + seconds
    while time.time() < end:
        if server.poll() is not None:
            raise RuntimeError(f"mlflow ui exited with {server.returncode}")
        try:
            urllib.request.urlopen(f"{base}/health", timeout=1)
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"mlflow ui did not answer on {base} within {seconds:.0f} s")


def visit(browser: str, base: str, name: str, png: Path, wanted: list[str], parents: list[str]) -> dict:
    """Root URL -> click the experiment -> click the description's link; what the runs table shows."""
    from playwright.sync_api import sync_playwright

    seen: dict = {"steps": []}
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=browser, args=FLAGS, headless=True)
        page = b.new_page(viewport={"width": 1800, "height": 1000})
        page.goto(f"{base}/", wait_until="load")
        page.wait_for_timeout(5000)
        seen["steps"].append(f"root: {page.url}")
        page.screenshot(path=str(png.with_suffix(".root.png")))
        page.get_by_role("link", name=name, exact=True).first.click(timeout=30_000, force=True)  # as listed
        page.wait_for_timeout(5000)
        seen["steps"].append(f"experiment: {page.url}")
        page.screenshot(path=str(png.with_suffix(".experiment.png")))
        for button in ("Got it",):  # a newcomer dismisses MLflow's first-visit tip, then reads on
            if page.get_by_role("button", name=button).count():
                page.get_by_role("button", name=button).first.click()
        link = page.get_by_text(LINK)
        if link.count() == 0:
            seen["steps"].append("no description link on the landing page")
        else:  # the description's link opens the runs table in compsweep's view (a new tab)
            with page.context.expect_page() as opened:
                link.first.click(timeout=30_000)
            page = opened.value
            page.wait_for_load_state("load")
            seen["steps"].append(f"view: {page.url}")
        page.wait_for_timeout(8000)
        text = page.inner_text("body")
        seen["columns"] = {c: c in text for c in wanted}
        seen["parents"] = {n: n in text for n in parents}
        seen["view"] = f"viewStateShareKey={VIEW_KEY}" in page.url
        seen["truncated"] = page.evaluate(CUT, parents)
        page.screenshot(path=str(png), full_page=False)
        b.close()
    return seen


def main(argv: list[str]) -> int:
    store, name, png = Path(argv[0]).resolve(), argv[1], Path(argv[2]).resolve()
    browser = next((b for b in map(shutil.which, CHROMIUM) if b), None)
    if browser is None:
        print("ui-check: no Chromium on PATH (Debian: apt-get install chromium; make ui-check does)", file=sys.stderr)
        return 2
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    mlflow = Path(sys.executable).parent / "mlflow"
    cmd = [str(mlflow), "ui", "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}", "--host", "127.0.0.1"]
    server = subprocess.Popen([*cmd, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metric = schema.VAL_ACC
    wanted = [schema.seed_stat("mean", metric), schema.seed_stat("std", metric), schema.N_SEEDS]
    try:
        wait_up(base, server)
        exp = rest(base, f"experiments/get-by-name?experiment_name={name}")["experiment"]["experiment_id"]
        found = rest(base, "runs/search", {"experiment_ids": [exp], "filter": f"tags.`{schema.TAG_PARENT}` = 'true'"})
        parents = [r["info"]["run_name"] for r in found.get("runs", [])]
        png.parent.mkdir(parents=True, exist_ok=True)
        seen = visit(browser, base, name, png, wanted, parents)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print("ui-check: " + " -> ".join(seen["steps"]))
    missing = [c for c, ok in seen["columns"].items() if not ok]
    absent = [n for n, ok in seen["parents"].items() if not ok]
    print(f"ui-check: {len(parents)} parent runs, {len(parents) - len(absent)} shown, columns missing: "
          f"{missing or 'none'}, names cut: {seen['truncated'] or 'none'}; screenshot {png}")  # fmt: skip
    if not parents or absent or missing or seen["truncated"] or not seen["view"]:
        print("ui-check: FAILED: the runs table does not show every parent with its seed statistics, whole",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
