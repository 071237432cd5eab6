"""A TensorBoard that runs for weeks: the decoded cache stays in its budget, answers stay exact.

Runs are written with TensorBoard's own event writer and the format module's
encoder (`raw_records`), so each value is known; every answer is checked
against it. The in-process server is TensorBoard's Python loader and data
provider (`tests/plugin_server.py`); `test_soak.py` does the same with real
`tensorboard` processes and both loaders.
"""

from __future__ import annotations

import random
import shutil
import threading

import numpy as np
import pytest
from plugin_server import PluginServer
from raw_records import append_records, chunk, write_records
from tensorboard import context
from tensorboard.backend.event_processing import data_provider
from tensorboard.plugins import base_plugin

from tb_lr_plugin import event_format
from tb_lr_plugin.plugin import decoded_cache, http_queries, lr_plugin

CHUNK_STEPS = 10_000
# A 40,000-step series decodes to 40,000 x (step, value, wall time) x 8 bytes: 0.92 MiB.
LONG_RUN_STEPS = 40_000


def _values(run_index: int, steps: int) -> np.ndarray:
    return np.float32(0.1 / (1 + run_index) + 1e-6 * np.arange(steps))


def _records(values: np.ndarray, first: int = 0) -> list:
    return [
        (
            event_format.LEARNING_RATE,
            start,
            chunk(range(start, start + len(part)), part),
            event_format.KIND_SERIES,
        )
        for offset in range(0, len(values), CHUNK_STEPS)
        for start, part in [(first + offset, values[offset : offset + CHUNK_STEPS])]
    ]


def _write_runs(logdir, count: int, steps: int) -> dict[str, np.ndarray]:
    truth = {}
    for index in range(count):
        name = f"run_{index}"
        truth[name] = _values(index, steps)
        write_records(logdir / name, _records(truth[name]))
    return truth


def _assert_exact(body: dict, values: np.ndarray) -> None:
    steps = np.asarray(body["steps"])
    np.testing.assert_array_equal(steps, np.arange(len(steps)))
    np.testing.assert_array_equal(np.float32(body["values"]), values[: len(steps)])


def _cache(server: PluginServer) -> decoded_cache.DecodedCache:
    return server.plugin._data.cache


@pytest.fixture(scope="module")
def long_runs(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("long_runs")
    return logdir, _write_runs(logdir, 6, LONG_RUN_STEPS)


def test_a_small_budget_evicts_the_least_recently_used_and_answers_stay_exact(long_runs):
    logdir, truth = long_runs
    server = PluginServer(logdir, "--lr_cache_mib=2")
    cache = _cache(server)
    assert cache.budget_bytes == 2 * decoded_cache.MIB
    for run, values in truth.items():
        body = server.json("series", run=run, name=event_format.LEARNING_RATE)
        assert len(body["steps"]) == LONG_RUN_STEPS
        _assert_exact(body, values)
        assert cache.nbytes <= cache.budget_bytes
    assert cache.runs() == {("", "run_4"), ("", "run_5")}  # Two series fit in 2 MiB.

    server.json("series", run="run_4", name=event_format.LEARNING_RATE)  # Now the latest used.
    _assert_exact(
        server.json("series", run="run_0", name=event_format.LEARNING_RATE), truth["run_0"]
    )
    assert cache.runs() == {("", "run_4"), ("", "run_0")}
    assert cache.nbytes <= cache.budget_bytes


def test_a_zero_budget_keeps_nothing_and_answers_stay_exact(long_runs):
    logdir, truth = long_runs
    server = PluginServer(logdir, "--lr_cache_mib=0")
    for _ in range(2):
        _assert_exact(
            server.json("series", run="run_3", name=event_format.LEARNING_RATE), truth["run_3"]
        )
    assert len(_cache(server)) == 0


def test_the_default_budget_and_a_negative_one(tmp_path):
    server = PluginServer(tmp_path)
    assert _cache(server).budget_bytes == decoded_cache.DEFAULT_BUDGET_MIB * decoded_cache.MIB
    with pytest.raises(base_plugin.FlagsError, match="--lr_cache_mib must be >= 0"):
        PluginServer(tmp_path, "--lr_cache_mib=-1")


def test_a_run_deleted_from_disk_is_dropped(tmp_path):
    truth = _write_runs(tmp_path, 3, 100)
    server = PluginServer(tmp_path)
    for run in truth:
        _assert_exact(server.json("series", run=run, name=event_format.LEARNING_RATE), truth[run])
    assert {run for _, run in _cache(server).runs()} == set(truth)

    shutil.rmtree(tmp_path / "run_1")
    server.reload()
    assert [run["name"] for run in server.json("runs")["runs"]] == ["run_0", "run_2"]
    assert {run for _, run in _cache(server).runs()} == {"run_0", "run_2"}
    response = server.get("series", run="run_1", name=event_format.LEARNING_RATE)
    assert response.status_code == 404
    assert "no run 'run_1'" in response.get_json()["error"]


class _GatedProvider(data_provider.MultiplexerDataProvider):
    """TensorBoard's Python data provider whose whole-experiment listing waits, once armed.

    It stands for a slow listing (hundreds of runs, a busy Rust data server)
    so that what other requests do meanwhile can be checked without timing.
    """

    def __init__(self, multiplexer, logdir):
        super().__init__(multiplexer, logdir)
        self.armed = False
        self.listing = threading.Event()
        self.release = threading.Event()

    def list_tensors(self, ctx, *, experiment_id, plugin_name, run_tag_filter=None):
        if self.armed and run_tag_filter is None:
            self.listing.set()
            self.release.wait(timeout=60)
        return super().list_tensors(
            ctx, experiment_id=experiment_id, plugin_name=plugin_name, run_tag_filter=run_tag_filter
        )


def test_requests_during_a_listing_answer_from_the_last_one(tmp_path):
    first = _values(0, 300)
    write_records(tmp_path / "run_0", _records(first[:100]))
    server = PluginServer(tmp_path)
    provider = _GatedProvider(server.multiplexer, str(tmp_path))
    plugin = lr_plugin.LearningRatePlugin(base_plugin.TBContext(data_provider=provider))
    ctx = context.RequestContext()

    def series(run: str) -> dict:
        query = http_queries.SeriesQuery(run, event_format.LEARNING_RATE, None, None, None)
        return plugin.series_impl(ctx, "", query)

    assert [run["name"] for run in plugin.runs_impl(ctx, "")["runs"]] == ["run_0"]
    _assert_exact(series("run_0"), first[:100])
    # The run grows and a new one appears; the next whole listing is slow.
    (event_file,) = (tmp_path / "run_0").iterdir()
    with open(event_file, "ab") as file:
        append_records(file, _records(first[100:], first=100), wall_time=2000.0)
    second = _values(1, 50)
    write_records(tmp_path / "run_1", _records(second))
    server.reload()
    provider.armed = True
    slow = threading.Thread(target=lambda: result.append(plugin.runs_impl(ctx, "")))
    result: list[dict] = []
    slow.start()
    try:
        assert provider.listing.wait(timeout=60)
        # Answered from the last finished listing and what was decoded for
        # it: had they waited for the slow one (60 s), they would see both
        # runs and 300 steps.
        assert [run["name"] for run in plugin.runs_impl(ctx, "")["runs"]] == ["run_0"]
        body = series("run_0")
        assert len(body["steps"]) == 100
        _assert_exact(body, first)
        # A run the last listing did not have is listed on its own.
        _assert_exact(series("run_1"), second)
    finally:
        provider.release.set()
        slow.join()
    assert [run["name"] for run in result[0]["runs"]] == ["run_0", "run_1"]
    provider.armed = False
    body = series("run_0")
    assert len(body["steps"]) == 300
    _assert_exact(body, first)


def test_concurrent_clients_of_a_growing_run_get_exact_answers(tmp_path):
    values = _values(0, 40 * 500)
    write_records(tmp_path / "run_0", _records(values[:500]))
    (event_file,) = (tmp_path / "run_0").iterdir()
    server = PluginServer(tmp_path)
    done = threading.Event()
    failures: list[str] = []
    lengths: list[int] = []

    def client(seed: int) -> None:
        rng = random.Random(seed)
        while not done.is_set():
            try:
                assert [run["name"] for run in server.json("runs")["runs"]] == ["run_0"]
                params = {"run": "run_0", "name": event_format.LEARNING_RATE}
                if rng.random() < 0.5:
                    params["start"] = rng.randrange(0, 500)
                body = server.json("series", **params)
                steps = np.asarray(body["steps"])
                first = params.get("start", 0)
                np.testing.assert_array_equal(steps, np.arange(first, first + len(steps)))
                np.testing.assert_array_equal(np.float32(body["values"]), values[steps])
                lengths.append(body["step_range"][1] + 1)
            except Exception as error:  # An assertion or anything else: the test reports it.
                failures.append(repr(error))
                return

    clients = [threading.Thread(target=client, args=(seed,)) for seed in range(8)]
    for thread in clients:
        thread.start()
    for block in range(1, 40):
        part = values[block * 500 : (block + 1) * 500]
        with open(event_file, "ab") as file:
            append_records(file, _records(part, first=block * 500), wall_time=1000.0 + block)
        server.reload()
    done.set()
    for thread in clients:
        thread.join()
    assert not failures, failures[0]
    assert len(set(lengths)) > 1  # The clients saw the run grow.
    _assert_exact(server.json("series", run="run_0", name=event_format.LEARNING_RATE), values)
