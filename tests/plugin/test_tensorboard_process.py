"""End to end: a real `tensorboard` process, with each loader, serves every point.

TensorBoard is started as a user starts it (`--logdir X --port P --host
127.0.0.1`, no `--samples_per_plugin`) and finds the plugin through its entry
point. Waits poll until the data is loaded; nothing here is timed.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest

from tb_lr_plugin import event_format

LONG_RUN_STEPS = 100_000  # The `long` run of the `long_logdir` fixture.

# Generous: a cold start on a busy 2-core machine; the wait ends as soon as data is there.
READY_TIMEOUT_SECONDS = 180

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TensorBoardProcess:
    """A `tensorboard` subprocess and a tiny client for it."""

    def __init__(self, logdir, load_fast: str, environment: dict[str, str], log_path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tensorboard.main",
                "--logdir",
                str(logdir),
                "--port",
                str(self.port),
                "--host",
                "127.0.0.1",
                f"--load_fast={load_fast}",
            ],
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.log_path = log_path

    def get(self, path: str, **params) -> tuple[int, str, bytes]:
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                return response.status, response.headers.get("Content-Type", ""), response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Content-Type", ""), error.read()

    def json(self, path: str, **params):
        status, _, body = self.get(path, **params)
        assert status == 200, body
        return json.loads(body)

    def wait_for(self, condition, what: str):
        """Polls `condition()` until it is true; fails with TensorBoard's log if it never is."""
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"tensorboard exited ({self.process.returncode}):\n{self.output()}")
            try:
                if condition():
                    return
            except (OSError, AssertionError, ValueError):
                pass  # Not listening or not loaded yet.
            time.sleep(0.5)
        pytest.fail(f"tensorboard never got ready ({what}):\n{self.output()}")

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


@pytest.fixture(scope="module", params=["false", "true"], ids=["python_loader", "rust_loader"])
def tensorboard(request, long_logdir, tensorboard_environment, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("tensorboard") / "tensorboard.log"
    process = TensorBoardProcess(long_logdir, request.param, tensorboard_environment, log_path)
    try:
        process.wait_for(
            lambda: process.get("/data/plugins_listing")[0] == 200, "plugins_listing answers"
        )
        process.wait_for(
            lambda: (
                process.json(
                    "/data/plugin/lr/series", run="long", name="learning_rate", max_points=10
                )["total"]
                == LONG_RUN_STEPS
            ),
            "the long run is loaded",
        )
        yield process
    finally:
        process.stop()


def test_tensorboard_serves_the_whole_long_run(tensorboard, long_server):
    listing = tensorboard.json("/data/plugins_listing")
    assert listing["lr"]["enabled"] is True
    assert listing["lr"]["tab_name"] == "LR"
    assert listing["lr"]["loading_mechanism"] == {
        "type": "IFRAME",
        "module_path": "/data/plugin/lr/index.js",
    }

    tensorboard.wait_for(
        lambda: len(tensorboard.json("/data/plugin/lr/runs")["runs"]) == 3, "all runs listed"
    )
    runs = {run["name"]: run for run in tensorboard.json("/data/plugin/lr/runs")["runs"]}
    assert sorted(runs) == ["long", "preview", "short"]
    assert runs["long"]["schedule"] is True and "learning_rate" in runs["long"]["series"]

    body = tensorboard.json("/data/plugin/lr/series", run="long", name="learning_rate")
    assert body["total"] == LONG_RUN_STEPS and body["downsampled"] is False
    assert body["steps"] == list(range(LONG_RUN_STEPS))
    # Exactly what the writer wrote, as TensorBoard's Python reader reads it back.
    written = long_server.read_back("long", "learning_rate")
    assert body["values"] == written.values.tolist()
    # And the schedule's own curve, within float32 rounding.
    curve = tensorboard.json("/data/plugin/lr/schedule", run="long")
    assert curve["total"] == LONG_RUN_STEPS and curve["kind"] == "CosineDecay"
    peak = np.max(np.abs(curve["values"]))
    assert event_format.rates_agree(np.array(body["values"]), np.array(curve["values"]), peak).all()

    deviations = tensorboard.json("/data/plugin/lr/deviations", run="long")
    assert deviations["events"] == []
    assert deviations["compared"][0]["compared_steps"] == LONG_RUN_STEPS

    downsampled = tensorboard.json(
        "/data/plugin/lr/series", run="long", name="learning_rate", max_points=2000
    )
    assert downsampled["downsampled"] is True and len(downsampled["steps"]) <= 2000
    assert int(np.argmax(body["values"])) in downsampled["steps"]


def test_tensorboard_serves_the_frontend_and_json_errors(tensorboard):
    status, content_type, body = tensorboard.get("/data/plugin/lr/index.js")
    assert status == 200 and content_type.startswith("text/javascript")
    assert b"render" in body
    status, content_type, body = tensorboard.get("/data/plugin/lr/series", run="long")
    assert status == 400 and content_type.startswith("application/json")
    assert json.loads(body) == {"error": "name is required"}
    status, _, body = tensorboard.get("/data/plugin/lr/deviations", run="nope")
    assert status == 404 and "no run 'nope'" in json.loads(body)["error"]
    status, _, body = tensorboard.get("/data/plugin/lr/..%2f..%2fpyproject.toml")
    assert status == 404
