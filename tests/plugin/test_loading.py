"""How TensorBoard loads the plugin: entry point, flags, start-up cost, no TensorFlow."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from browser import harness
from tensorboard.backend.event_processing import (
    data_ingester,
    data_provider,
    plugin_event_multiplexer,
)

from tb_lr_plugin import event_format
from tb_lr_plugin.plugin import loader

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_declares_the_loader_as_entry_point():
    assert harness.declared_entry_point() == "tb_lr_plugin.plugin.loader:LearningRatePluginLoader"


@pytest.mark.parametrize(
    ("given", "fixed"),
    [
        ({}, {"lr": 0}),
        ({"images": 3}, {"images": 3, "lr": 0}),
        ({"lr": 7}, {"lr": 7}),
        ({"lr": 0, "scalars": 10}, {"lr": 0, "scalars": 10}),
        (None, {"lr": 0}),
        ("", {"lr": 0}),
        ("scalars=5,lr=2", {"scalars": 5, "lr": 2}),
    ],
)
def test_fix_flags_keeps_every_record_unless_the_user_chose(given, fixed):
    flags = argparse.Namespace(samples_per_plugin=given)
    loader.LearningRatePluginLoader().fix_flags(flags)
    assert flags.samples_per_plugin == fixed


def test_tensorboards_own_flag_parsing_reaches_the_loader(make_server, tmp_path):
    assert make_server(tmp_path).flags.samples_per_plugin == {"lr": 0}
    chosen = make_server(tmp_path, "--samples_per_plugin", "images=4,lr=3")
    assert chosen.flags.samples_per_plugin == {"images": 4, "lr": 3}


@pytest.mark.slow
def test_no_record_is_dropped_with_default_flags(long_server):
    assert long_server.json("series", run="long", name="learning_rate")["total"] == 100_000


@pytest.mark.slow
def test_a_users_samples_per_plugin_still_wins(make_server, long_logdir):
    server = make_server(long_logdir, "--samples_per_plugin", "lr=3")
    total = server.json("series", run="long", name="learning_rate")["total"]
    # Three chunks of at most a few thousand steps each.
    assert 0 < total < 100_000


@pytest.mark.slow
def test_without_the_loaders_flag_tensorboard_would_drop_records(long_logdir):
    """Why `fix_flags` exists: TensorBoard's default keeps 10 records per tag."""
    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        size_guidance=data_ingester.DEFAULT_SIZE_GUIDANCE,
        tensor_size_guidance=data_ingester.DEFAULT_TENSOR_SIZE_GUIDANCE,
    )
    multiplexer.AddRunsFromDirectory(str(long_logdir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(long_logdir))
    from tensorboard import context

    records = provider.read_tensors(
        context.RequestContext(), experiment_id="", plugin_name="lr", downsample=10**9
    )["long"][event_format.tag_for(event_format.LEARNING_RATE)]
    assert len(records) == 10


def _run_python(code: str, **environment) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), TF_CPP_MIN_LOG_LEVEL="2", **environment)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )


def test_importing_the_loader_imports_nothing_tensorboard_has_not(tmp_path):
    """The entry point is imported at every TensorBoard start: it must cost nothing."""
    result = _run_python(
        """
        import json, sys
        from tensorboard import default, program  # What `tensorboard` imports first.
        before = set(sys.modules)
        from tb_lr_plugin.plugin import loader
        print(json.dumps(sorted(set(sys.modules) - before)))
        """
    )
    assert result.returncode == 0, result.stderr
    new = json.loads(result.stdout)
    assert all(name.startswith("tb_lr_plugin") for name in new), new
    assert "tb_lr_plugin.plugin.lr_plugin" not in new


_BLOCK_TENSORFLOW = """
import importlib.abc
import sys


class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
            raise ImportError(f"{name} is not installed (blocked by the test)")
        return None


sys.meta_path.insert(0, NoTensorFlow())
"""


def test_the_plugin_serves_without_tensorflow_or_keras(training_logdir):
    result = _run_python(
        _BLOCK_TENSORFLOW
        + f"""
import json
from tensorboard.backend import application
from tensorboard.backend.event_processing import (
    data_ingester,
    data_provider,
    plugin_event_multiplexer,
)
from tensorboard.plugins import base_plugin
from werkzeug import test, wrappers

from tb_lr_plugin.plugin import loader

logdir = {str(training_logdir)!r}
multiplexer = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance={{"lr": 0}})
multiplexer.AddRunsFromDirectory(logdir)
multiplexer.Reload()
provider = data_provider.MultiplexerDataProvider(multiplexer, logdir)
plugin = loader.LearningRatePluginLoader().load(base_plugin.TBContext(data_provider=provider))
app = application.TensorBoardWSGI([plugin], data_provider=provider)
client = test.Client(app, wrappers.Response)
answers = {{
    route: client.get("/data/plugin/lr/" + route).get_json()
    for route in ("runs", "series?run=plateau&name=learning_rate&max_points=20",
                  "deviations?run=plateau")
}}
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
print(json.dumps({{"answers": answers, "loaded": loaded}}))
"""
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout.strip().splitlines()[-1])
    assert output["loaded"] == []
    answers = output["answers"]
    assert "plateau" in [run["name"] for run in answers["runs"]["runs"]]
    assert answers["series?run=plateau&name=learning_rate&max_points=20"]["total"] == 200
    assert [e["source"]["callback"] for e in answers["deviations?run=plateau"]["events"]] == [
        "ReduceLROnPlateau",
        "ReduceLROnPlateau",
    ]
