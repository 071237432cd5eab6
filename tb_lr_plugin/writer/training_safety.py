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
            if hook.__name__ not in self._failed_hooks:
                self._failed_hooks.add(hook.__name__)
                warnings.warn(
                    f"tb_lr_plugin: {type(self).__name__}.{hook.__name__} failed and was "
                    f"skipped; training continues: {error!r}"
                )
            return None

    return guarded
