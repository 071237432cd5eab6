"""A real `tensorboard` process and a real headless Chromium, for tests and bench/.

The browser is Debian's `chromium` (or the one named by `$CHROMIUM`), driven by
Playwright from PyPI through `executable_path`: Playwright's own browser
download is not used.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "lr"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """The Chromium binary to drive: `$CHROMIUM`, else `chromium` on the PATH."""
    return os.environ.get("CHROMIUM") or shutil.which("chromium")


def write_logs(script: str, logdir: Path) -> None:
    """Runs `tests/<script>` into `logdir` (a subprocess keeps TensorFlow out of here)."""
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tests" / script), str(logdir)],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{script} failed:\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}")


@contextlib.contextmanager
def serving_logs(script: str, logdir: Path, runs: int) -> Iterator[TensorBoardProcess]:
    """Writes `tests/<script>`'s runs into `logdir`, then serves them once `runs` are listed."""
    write_logs(script, logdir)
    with TensorBoardProcess(logdir) as process:
        process.wait_for_runs(runs)
        yield process


def plugin_environment(scratch: Path) -> dict[str, str]:
    """Environment for a `tensorboard` subprocess that finds this checkout's plugin.

    An installed (or editable) tb-lr-plugin already declares the entry point;
    otherwise (a virtualenv that imports the checkout from `PYTHONPATH`) a
    minimal distribution's metadata declaring the one in pyproject.toml is
    written into `scratch` and put on the path, so TensorBoard discovers the
    plugin the way it does after `pip install`.
    """
    paths = [str(REPO_ROOT)]
    if not any(point.name == PLUGIN for point in entry_points(group="tensorboard_plugins")):
        info = scratch / "tb_lr_plugin_checkout-0.0.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: tb-lr-plugin-checkout\nVersion: 0.0\n"
        )
        (info / "entry_points.txt").write_text(
            f"[tensorboard_plugins]\n{PLUGIN} = {declared_entry_point()}\n"
        )
        paths.append(str(scratch))
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    environment["PYTHONPATH"] = os.pathsep.join(
        paths + [p for p in [environment.get("PYTHONPATH")] if p]
    )
    return environment


def declared_entry_point() -> str:
    """The `lr` entry point pyproject.toml declares under `tensorboard_plugins`."""
    text = (REPO_ROOT / "pyproject.toml").read_text()
    section = text.split('[project.entry-points."tensorboard_plugins"]', 1)[1]
    return re.search(r'^lr\s*=\s*"([^"]+)"', section, re.MULTILINE).group(1)


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TensorBoardProcess:
    """`tensorboard --logdir LOGDIR` on 127.0.0.1 and a free port, default flags.

    Example:

    ```python
    with TensorBoardProcess(logdir) as board:
        board.wait_for_runs(3)
    ```
    """

    def __init__(self, logdir: Path, *extra_flags: str):
        self.logdir = Path(logdir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.plugin_page_url = f"{self.url}/data/plugin_entry.html?name={PLUGIN}"
        self._flags = extra_flags
        self._process: subprocess.Popen | None = None
        self._log_path: Path | None = None

    def __enter__(self) -> TensorBoardProcess:
        executable = Path(sys.executable).with_name("tensorboard")
        command = [str(executable)]
        if not executable.exists():
            command = [sys.executable, "-m", "tensorboard.main"]
        command += ["--logdir", str(self.logdir), "--host", "127.0.0.1", "--port", str(self.port)]
        command += list(self._flags)
        self._scratch = Path(tempfile.mkdtemp(prefix=f"tensorboard-{self.port}-"))
        environment = plugin_environment(self._scratch)
        self._log_path = self._scratch / "tensorboard.log"
        self._log = self._log_path.open("w")
        self._process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=environment
        )
        try:
            self._wait_until_listing(timeout=90)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
            self._log.close()
            shutil.rmtree(self._scratch, ignore_errors=True)

    def log_text(self) -> str:
        """What the process printed so far."""
        return self._log_path.read_text() if self._log_path else ""

    def get_json(self, route: str, **params) -> dict:
        """GET `/data/plugin/lr/<route>?params` and decode its JSON body."""
        query = urllib.parse.urlencode(params)
        url = f"{self.url}/data/plugin/{PLUGIN}/{route}" + (f"?{query}" if query else "")
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.load(response)

    def wait_for_runs(self, count: int, timeout: float = 120) -> list[dict]:
        """Polls the `runs` route until it lists `count` runs (the first load ends)."""
        deadline = time.monotonic() + timeout
        runs: list[dict] = []
        while time.monotonic() < deadline:
            with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
                runs = self.get_json("runs")["runs"]
                if len(runs) >= count:
                    return runs
            time.sleep(0.5)
        raise TimeoutError(f"TensorBoard listed {len(runs)} of {count} runs:\n{self.log_text()}")

    def wait_for_series(self, run: str, name: str, total: int, timeout: float = 120) -> dict:
        """Polls the `series` route until it holds `total` points; returns that answer."""
        deadline = time.monotonic() + timeout
        body: dict = {}
        while time.monotonic() < deadline:
            with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
                body = self.get_json("series", run=run, name=name)
                if body["total"] == total:
                    return body
            time.sleep(0.5)
        raise TimeoutError(
            f"{run}/{name}: {body.get('total')} of {total} points:\n{self.log_text()}"
        )

    def _wait_until_listing(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"tensorboard exited:\n{self.log_text()}")
            listing = f"{self.url}/data/plugins_listing"
            with (
                contextlib.suppress(urllib.error.URLError, OSError, ValueError),
                urllib.request.urlopen(listing, timeout=5) as response,
            ):
                if PLUGIN in json.load(response):
                    return
            time.sleep(0.3)
        raise TimeoutError(f"tensorboard did not list plugin {PLUGIN!r}:\n{self.log_text()}")


@contextlib.contextmanager
def browser() -> Iterator:
    """A headless Chromium (Playwright `Browser`), closed on exit."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise FileNotFoundError("no chromium on the PATH (apt-get install chromium)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


def wait_for_plugin_frame(page, timeout: float = 60):
    """The LR tab's iframe in TensorBoard's UI, once it has loaded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for frame in page.frames:
            if "plugin_entry.html" in frame.url and f"name={PLUGIN}" in frame.url:
                return frame
        page.wait_for_timeout(100)
    raise TimeoutError("TensorBoard did not open the LR tab's iframe")


def chart_label(frame, selector: str = ".lr-main-chart .lr-plot") -> str:
    """A chart's text summary (its aria-label): lines, points, axes, x range."""
    return frame.locator(selector).get_attribute("aria-label") or ""
