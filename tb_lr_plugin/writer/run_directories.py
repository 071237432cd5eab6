"""Where a run's event files go: `log_dir/run_name`, and the numbered runs beside it."""

from __future__ import annotations

import os
import posixpath


def run_directory(log_dir: str | os.PathLike, run_name: str) -> str:
    """`log_dir/run_name`, keeping remote schemes (`gs://...`) intact.

    Example:
        >>> run_directory("gs://bucket/logs", "train")
        'gs://bucket/logs/train'
    """
    log_dir = os.fspath(log_dir)
    if "://" in log_dir:
        return posixpath.join(log_dir, run_name) if run_name else log_dir
    return os.path.join(log_dir, run_name) if run_name else log_dir


def numbered_run_name(run_name: str, number: int) -> str:
    """The name of the `number`-th run of `run_name`: `train_2`, `train_3`, ...

    Where the first run is the log directory itself (`run_name=""`), the
    others are `run_2`, `run_3`, ... inside it.

    Example:
        >>> numbered_run_name("train", 2), numbered_run_name("", 2)
        ('train_2', 'run_2')
    """
    return f"{run_name or 'run'}_{number}"


def run_key(run_dir: str) -> str:
    """One spelling per directory, for telling runs apart within a process."""
    return run_dir if "://" in run_dir else os.path.abspath(run_dir)
