"""How TensorBoard finds and starts the LR plugin (the `tensorboard_plugins` entry point).

TensorBoard imports this module at start-up, before any flag is parsed, so it
imports nothing TensorBoard has not already imported: the plugin itself
(`lr_plugin`, NumPy work, the format module) is imported in `load`. Neither
this module nor the plugin imports TensorFlow or Keras.

Example:
    >>> import argparse
    >>> flags = argparse.Namespace(samples_per_plugin={"images": 20})
    >>> LearningRatePluginLoader().fix_flags(flags)
    >>> flags.samples_per_plugin
    {'images': 20, 'lr': 0}
"""

from __future__ import annotations

import logging

from tensorboard.plugins import base_plugin

logger = logging.getLogger(__name__)

# Kept here rather than imported, so the loader stays import-free (see above).
PLUGIN_NAME = "lr"
# `--samples_per_plugin` value for "keep every record": the Python loader's
# reservoir keeps all items at size 0, and TensorBoard passes 0 to the Rust
# data server as "all".
KEEP_ALL_RECORDS = 0
# The flag of the decoded-records cache's budget; its default is
# `decoded_cache.DEFAULT_BUDGET_MIB`, repeated here to keep this module import-free.
CACHE_FLAG = "lr_cache_mib"
DEFAULT_CACHE_MIB = 256


class LearningRatePluginLoader(base_plugin.TBLoader):
    """Loads `LearningRatePlugin`, keeping every record of this plugin at ingestion."""

    def define_flags(self, parser) -> None:
        """Adds `--lr_cache_mib`, the memory budget of what the plugin decoded.

        Example:
            >>> import argparse
            >>> parser = argparse.ArgumentParser()
            >>> LearningRatePluginLoader().define_flags(parser)
            >>> parser.parse_args(["--lr_cache_mib", "64"]).lr_cache_mib
            64
        """
        group = parser.add_argument_group(PLUGIN_NAME)
        group.add_argument(
            f"--{CACHE_FLAG}",
            type=int,
            default=DEFAULT_CACHE_MIB,
            metavar="MIB",
            help="Memory budget of the LR plugin's cache of decoded records, in MiB "
            f"(default {DEFAULT_CACHE_MIB}). Beyond it the least recently used runs are "
            "decoded again when asked for; 0 keeps nothing.",
        )

    def fix_flags(self, flags) -> None:
        """Keeps every record of this plugin and reads every event file of a run.

        TensorBoard keeps 10 records per tag of a third-party plugin by
        default, which would drop most chunks of a long run: `lr=0` (keep
        all) is added to `--samples_per_plugin` unless the user set `lr`.
        Its Python loader polls only the newest event file of a run unless
        `--reload_multifile` is on, so the logger's file would stop updating
        once `keras.callbacks.TensorBoard` opens a newer one in the same run:
        `--reload_multifile` is turned on unless the user set it (the Rust
        data server reads every file anyway). A negative `--lr_cache_mib` is
        refused.

        Args:
            flags: The parsed `argparse.Namespace`; `samples_per_plugin` is a
                dict after parsing (or the raw flag string when set directly).

        Example:
            >>> import argparse
            >>> flags = argparse.Namespace(samples_per_plugin={"lr": 5})
            >>> LearningRatePluginLoader().fix_flags(flags)
            >>> flags.samples_per_plugin
            {'lr': 5}
        """
        hints = getattr(flags, "samples_per_plugin", None)
        if isinstance(hints, str):
            hints = _parse_samples_per_plugin(hints)
        hints = dict(hints or {})
        hints.setdefault(PLUGIN_NAME, KEEP_ALL_RECORDS)
        flags.samples_per_plugin = hints
        if getattr(flags, "reload_multifile", None) is None:
            flags.reload_multifile = True
        if getattr(flags, CACHE_FLAG, 0) < 0:
            raise base_plugin.FlagsError(f"--{CACHE_FLAG} must be >= 0")

    def load(self, context: base_plugin.TBContext) -> base_plugin.TBPlugin | None:
        """Creates the plugin, or `None` when TensorBoard offers no data provider.

        Example:
            >>> LearningRatePluginLoader().load(base_plugin.TBContext()) is None
            True
        """
        if context.data_provider is None:
            logger.warning("LR plugin: TensorBoard gave no data provider; the LR tab is off")
            return None
        from tb_lr_plugin.plugin import lr_plugin  # Imported on use: see the module docstring.

        budget_mib = getattr(context.flags, CACHE_FLAG, DEFAULT_CACHE_MIB)
        return lr_plugin.LearningRatePlugin(context, cache_bytes=budget_mib << 20)


def _parse_samples_per_plugin(text: str) -> dict[str, int]:
    # The syntax of TensorBoard's flag: "name=count,name=count".
    hints = {}
    for pair in text.split(","):
        if pair.strip():
            name, _, count = pair.partition("=")
            hints[name.strip()] = int(count)
    return hints
