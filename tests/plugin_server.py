"""The plugin served as TensorBoard serves it, in-process, for tests that ask its HTTP API.

Imports neither TensorFlow nor Keras (the plugin side never does).
"""

from __future__ import annotations

from pathlib import Path

from tensorboard import context, program
from tensorboard.backend import application
from tensorboard.backend.event_processing import (
    data_ingester,
    data_provider,
    plugin_event_multiplexer,
)
from tensorboard.plugins import base_plugin
from tensorboard.plugins.core import core_plugin
from werkzeug import test as werkzeug_test
from werkzeug import wrappers

from tb_lr_plugin.plugin import loader, run_data

PLUGIN_ROUTE = "/data/plugin/lr"


class PluginServer:
    """TensorBoard's WSGI app with only the core and LR plugins, over one logdir.

    Built the way TensorBoard builds it: flags parsed by TensorBoard's own
    parser (so the loader's `fix_flags` runs), the Python loader's
    multiplexer with the resulting size guidance, its data provider, a
    `TBContext`, and `TensorBoardWSGI`.
    """

    def __init__(self, logdir: Path, *argv: str):
        tensorboard = program.TensorBoard(
            plugins=[core_plugin.CorePluginLoader(), loader.LearningRatePluginLoader]
        )
        tensorboard.configure(argv=["", "--logdir", str(logdir), *argv])
        self.flags = tensorboard.flags
        size_guidance = dict(data_ingester.DEFAULT_TENSOR_SIZE_GUIDANCE)
        size_guidance.update(self.flags.samples_per_plugin)
        # As TensorBoard's LocalDataIngester builds it (10 records per tag by
        # default; which event files of a run are polled on reload).
        self.multiplexer = plugin_event_multiplexer.EventMultiplexer(
            size_guidance=data_ingester.DEFAULT_SIZE_GUIDANCE,
            tensor_size_guidance=size_guidance,
            event_file_active_filter=data_ingester._get_event_file_active_filter(self.flags),
        )
        self.logdir = logdir
        self.reload()
        self.provider = data_provider.MultiplexerDataProvider(self.multiplexer, str(logdir))
        tb_context = base_plugin.TBContext(
            data_provider=self.provider,
            flags=self.flags,
            logdir=str(logdir),
            multiplexer=self.multiplexer,
            sampling_hints=self.flags.samples_per_plugin,
        )
        self.plugin = loader.LearningRatePluginLoader().load(tb_context)
        app = application.TensorBoardWSGI([self.plugin], data_provider=self.provider)
        self.client = werkzeug_test.Client(app, wrappers.Response)

    def reload(self) -> None:
        """What TensorBoard's reload thread does every `--reload_interval`."""
        self.multiplexer.AddRunsFromDirectory(str(self.logdir))
        self.multiplexer.Reload()

    def get(self, route: str, **params):
        """GET `/data/plugin/lr/<route>` with query parameters."""
        return self.client.get(f"{PLUGIN_ROUTE}/{route}", query_string=params)

    def json(self, route: str, **params):
        """The JSON body of a GET that must succeed."""
        response = self.get(route, **params)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "application/json"
        return response.get_json()

    def read_back(self, run: str, tag: str) -> run_data.Series:
        """A series as `run_data` reads it through the data provider (no HTTP)."""
        data = run_data.RunData(self.provider)
        ctx = context.RequestContext()
        tags, _ = data.tags(ctx, "")
        return data.series(ctx, "", run, tags[run][tag])
