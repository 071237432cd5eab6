"""Which runs hold this plugin's data, and what each one holds, by name.

The names (`event_format`) are those of the HTTP API:

* every `series` record is a series: `learning_rate[/<optimizer>]`, `epoch`,
  `optimizer[/<optimizer>]/<name>`, `layers/<path>/<name>`;
* `schedule[/<optimizer>]` is a configured curve, described by
  `schedule_config[/<optimizer>]`;
* `assignment[/<optimizer>]` holds the changes of a rate and their source;
* `range_test` is a learning-rate range test (`find_learning_rate`): one
  document of its own, not a series.

An optimizer's name is the suffix shared by its names; a run with a single
optimizer has unsuffixed names, and its optimizer is called `""` here.

Example:
    >>> entry = RunEntry("train", {
    ...     "learning_rate": _tag("learning_rate", "series"),
    ...     "schedule": _tag("schedule", "schedule"),
    ... })
    >>> entry.series_names(), entry.schedule_optimizers()
    (['learning_rate'], [''])
"""

from __future__ import annotations

import dataclasses

from tb_lr_plugin import event_format
from tb_lr_plugin.plugin import run_data


class UnknownNameError(LookupError):
    """A run, series or optimizer that does not exist: answered with HTTP 404.

    Example:
        >>> str(UnknownNameError("no run named x"))
        'no run named x'
    """


@dataclasses.dataclass(frozen=True)
class RunEntry:
    """One run's names of this plugin.

    Attributes:
        name: The run's name, as TensorBoard lists it.
        tags: Where each name's records are, by name.

    Example:
        >>> RunEntry("train", {"epoch": _tag("epoch", "series")}).name
        'train'
    """

    name: str
    tags: dict[str, run_data.Tag]

    def series_names(self) -> list[str]:
        """The run's series: learning rates, epoch, hyperparameters, layers, update measures.

        Update ratios come in model order (their `position`), the rest by name.

        Example:
            >>> RunEntry("r", {n: _tag(n, "series") for n in ("epoch", "learning_rate")}
            ...          ).series_names()
            ['learning_rate', 'epoch']
        """
        tags = [tag for tag in self.tags.values() if tag.kind == event_format.KIND_SERIES]
        return [tag.name for tag in sorted(tags, key=_display_order)]

    def series_tag(self, name: str) -> run_data.Tag:
        """The tag of series `name`; schedule curves can be read as series too.

        Raises:
            UnknownNameError: when the run has no such series.

        Example:
            >>> RunEntry("r", {"epoch": _tag("epoch", "series")}).series_tag("epoch").kind
            'series'
        """
        tag = self.tags.get(name)
        if tag is None or tag.kind not in (event_format.KIND_SERIES, event_format.KIND_SCHEDULE):
            raise UnknownNameError(
                f"run {self.name!r} has no series {name!r}; it has {self.series_names()}"
            )
        return tag

    def optimizers(self) -> list[str]:
        """The optimizers with a learning rate or a schedule; `""` for an unnamed one.

        Example:
            >>> RunEntry("r", {"learning_rate/a": _tag("learning_rate/a", "series"),
            ...                "learning_rate/b": _tag("learning_rate/b", "series")}).optimizers()
            ['a', 'b']
        """
        found = set()
        for tag in self.tags.values():
            for base in (event_format.LEARNING_RATE, event_format.SCHEDULE):
                optimizer = event_format.optimizer_of(tag.name, base)
                if optimizer is not None:
                    found.add(optimizer)
        return sorted(found)

    def schedule_optimizers(self) -> list[str]:
        """The optimizers that have a configured curve or its description.

        Example:
            >>> RunEntry("r", {"schedule_config": _tag("schedule_config", "schedule_config")}
            ...          ).schedule_optimizers()
            ['']
        """
        found = set()
        for tag in self.tags.values():
            for base in (event_format.SCHEDULE, event_format.SCHEDULE_CONFIG):
                optimizer = event_format.optimizer_of(tag.name, base)
                if optimizer is not None:
                    found.add(optimizer)
        return sorted(found)

    def schedule_optimizer(self, optimizer: str | None) -> str:
        """The optimizer whose schedule a request means.

        Without `optimizer`, the run's only schedule (or its unnamed one).

        Raises:
            UnknownNameError: when there is no such schedule.
            AmbiguousNameError: when `optimizer` is omitted and several
                optimizers have one.

        Example:
            >>> RunEntry("r", {"schedule/a": _tag("schedule/a", "schedule")}
            ...          ).schedule_optimizer(None)
            'a'
        """
        available = self.schedule_optimizers()
        if optimizer is not None:
            if optimizer not in available:
                raise UnknownNameError(
                    f"run {self.name!r} has no schedule for optimizer {optimizer!r}"
                    + (f"; it has schedules for {available}" if available else "")
                )
            return optimizer
        if not available:
            raise UnknownNameError(f"run {self.name!r} has no schedule")
        if "" in available or len(available) == 1:
            return available[0]
        raise AmbiguousNameError(
            f"run {self.name!r} has schedules for optimizers {available}; pass optimizer="
        )

    def range_test_tag(self) -> run_data.Tag | None:
        """The tag of the run's range test, or `None` when it has none.

        Example:
            >>> RunEntry("r", {"range_test": _tag("range_test", "range_test")}
            ...          ).range_test_tag().kind
            'range_test'
        """
        tag = self.tags.get(event_format.RANGE_TEST)
        return tag if tag is not None and tag.kind == event_format.KIND_RANGE_TEST else None

    def tag(self, base: str, optimizer: str) -> run_data.Tag | None:
        """The tag of `base` for `optimizer`, or `None` when the run has none.

        Example:
            >>> RunEntry("r", {}).tag("assignment", "") is None
            True
        """
        return self.tags.get(event_format.name_for(base, optimizer))


class AmbiguousNameError(ValueError):
    """A request that names too little to pick one thing: answered with HTTP 400.

    Example:
        >>> isinstance(AmbiguousNameError("pass optimizer="), ValueError)
        True
    """


def catalog(tags_by_run: dict[str, dict[str, run_data.Tag]]) -> list[RunEntry]:
    """The runs with any tag of this plugin, sorted by name.

    Example:
        >>> [entry.name for entry in catalog({"b": {}, "a": {"epoch": _tag("epoch", "series")}})]
        ['a']
    """
    return [RunEntry(run, tags) for run, tags in sorted(tags_by_run.items()) if tags]


def find_run(tags_by_run: dict[str, dict[str, run_data.Tag]], run: str) -> RunEntry:
    """The entry of `run`.

    Raises:
        UnknownNameError: when the experiment has no such run with this plugin's data.

    Example:
        >>> find_run({"train": {"epoch": _tag("epoch", "series")}}, "train").name
        'train'
    """
    tags = tags_by_run.get(run)
    if not tags:
        raise UnknownNameError(f"no run {run!r} with learning-rate data")
    return RunEntry(run, tags)


def _display_order(tag: run_data.Tag) -> tuple[int, float, str]:
    name = tag.name
    if event_format.optimizer_of(name, event_format.LEARNING_RATE) is not None:
        group = 0
    elif name == event_format.EPOCH:
        group = 1
    elif name.startswith(event_format.OPTIMIZER + "/"):
        group = 2
    elif name.startswith(event_format.LAYERS + "/"):
        group = 3
    elif (
        event_format.optimizer_of(name, event_format.GRADIENT_NORM) is not None
        or event_format.optimizer_of(name, event_format.SKIPPED_UPDATES) is not None
    ):
        group = 4
    elif name.startswith(event_format.UPDATE_RATIO + "/"):
        group = 5
    else:
        group = 6
    return group, float("inf") if tag.position is None else tag.position, name


def _tag(name: str, kind: str) -> run_data.Tag:
    """A name as listed from disk (for the examples)."""
    return run_data.Tag(
        name=name,
        kind=kind,
        sampling=event_format.SAMPLED_EVERY_STEP,
        sources=(),
        cache_key=(),
    )
