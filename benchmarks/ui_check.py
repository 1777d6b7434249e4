"""make ui-check: the MLflow UI in a real browser. Starts `mlflow ui` on loopback over a store
holding a small sweep, opens the experiment in headless Chromium, saves a screenshot, and fails
when the rendered runs table shows no parent row (one per config, its seeds nested under it).

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

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


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


def browse(browser: str, url: str, png: Path) -> str:
    """The DOM after the page's scripts ran, and a screenshot of it."""
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=30000"]
    subprocess.run([*flags, "--window-size=1600,1000", f"--screenshot={png}", url], capture_output=True, timeout=180)
    return subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=180).stdout


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
    try:
        wait_up(base, server)
        exp = rest(base, f"experiments/get-by-name?experiment_name={name}")["experiment"]["experiment_id"]
        found = rest(base, "runs/search", {"experiment_ids": [exp], "filter": f"tags.`{schema.TAG_PARENT}` = 'true'"})
        names = [r["info"]["run_name"] for r in found.get("runs", [])]
        png.parent.mkdir(parents=True, exist_ok=True)
        dom = browse(browser, f"{base}/#/experiments/{exp}/runs", png)
    finally:
        server.terminate()
        server.wait(timeout=30)
    shown = [n for n in names if n in dom]
    print(f"ui-check: {len(names)} parent runs in the store, {len(shown)} in the rendered runs table; screenshot {png}")
    if not names or not shown or not png.is_file():
        print("ui-check: FAILED: the runs table shows no parent row", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
