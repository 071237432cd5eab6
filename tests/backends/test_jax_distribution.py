"""JAX's `keras.distribution`: one value per step, written by process 0 only.

Each case runs in fresh processes: XLA's device count and `jax.distributed`
are set before JAX starts.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from training_logs import read_run, schedule_at

pytestmark = pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX's distribution")

SCRIPT = Path(__file__).with_name("jax_distributed_training.py")
SCHEDULE = keras.optimizers.schedules.CosineDecay(0.1, 40, warmup_target=0.2, warmup_steps=8)


def start(log_dir, *args: str) -> subprocess.Popen:
    tests = str(Path(__file__).parents[1])
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([tests, os.environ["PYTHONPATH"]]))
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), str(log_dir), *args],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen) -> str:
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output
    assert "trained 40" in output, output
    assert "tb_lr_plugin" not in output, output  # No warning, nothing skipped.
    return output


def assert_every_step_logged_once(log_dir) -> None:
    applied = read_run(log_dir).series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(40))
    np.testing.assert_array_equal(np.float32(applied.values), schedule_at(SCHEDULE, range(40)))


def test_data_parallel_over_two_devices(log_dir):
    finish(start(log_dir, "devices"))
    assert_every_step_logged_once(log_dir)


def test_two_processes_write_one_run_from_process_0(log_dir):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    processes = [start(log_dir, "process", str(index), port) for index in (0, 1)]
    for process in processes:
        finish(process)
    assert len(list((log_dir / "train").glob("events.out.tfevents.*"))) == 1
    assert_every_step_logged_once(log_dir)
