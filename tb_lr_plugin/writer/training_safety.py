"""Logging never stops training: the guard around every hook a training loop calls."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any


def never_raises(hook: Callable[..., Any]) -> Callable[..., Any]:
    """Turns an exception in a logging hook into one warning per hook: training goes on.

    The owner keeps the names of hooks that failed in `self._failed_hooks`.
    An error raised by the call itself (wrong arguments) is the caller's bug
    and is raised.
    """

    @functools.wraps(hook)
    def guarded(self, *args, **kwargs):
        try:
            return hook(self, *args, **kwargs)
        except Exception as error:
            if error.__traceback__.tb_next is None:
                raise  # The call itself was wrong (bad arguments): the caller's bug.
            warn_once(self, hook.__name__, error)
            return None

    return guarded


def warn_once(owner: Any, hook_name: str, error: Exception) -> None:
    """Says, once per hook of `owner`, that `hook_name` failed with `error` and was skipped.

    For a hook that guards itself, where a decorator would cost too much per call.
    """
    if hook_name not in owner._failed_hooks:
        owner._failed_hooks.add(hook_name)
        warnings.warn(
            f"tb_lr_plugin: {type(owner).__name__}.{hook_name} failed and was "
            f"skipped; training continues: {error!r}"
        )
