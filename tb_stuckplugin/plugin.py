"""The TensorBoard plugin: serves the "training is stuck" panel and its JSON routes.

Reads only through `context.data_provider` (so it works under the Rust data server and the Python
loader alike), with one batched read per request, and diagnoses with the same code as `tb-stuck`.
Imports no TensorFlow.
"""

from __future__ import annotations

import mimetypes
import os
import posixpath

from tensorboard import errors, plugin_util
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from tb_stuckplugin import reader, views
from tb_stuckplugin.diagnosis import RunData, diagnose
from tb_stuckplugin.record_format import PLUGIN_NAME

_STATIC_DIR = os.path.join(os.path.dirname(__file__), "static")
_ROUTE_PREFIX = f"/data/plugin/{PLUGIN_NAME}/"


class StuckPlugin(base_plugin.TBPlugin):
    """Tells, per run, whether training is stuck, where, since when, and why."""

    plugin_name = PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext):
        self._data_provider = context.data_provider

    def get_plugin_apps(self):
        return {
            "/index.js": self._serve_index,
            "/static/*": self._serve_static,
            "/runs": self._serve_runs,
            "/report": self._serve_report,
        }

    def is_active(self) -> bool:
        # TensorBoard shows the tab when the data provider lists data of `data_plugin_names()`.
        return False

    def data_plugin_names(self):
        return (PLUGIN_NAME,)

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name="Stuck?")

    @wrappers.Request.application
    def _serve_index(self, request):
        return _respond_file(request, "index.js")

    @wrappers.Request.application
    def _serve_static(self, request):
        """Serve a file of static/, refusing any path that leaves it."""
        relative = request.path[len(_ROUTE_PREFIX) :]
        normalized = posixpath.normpath(relative)
        if not normalized.startswith("static/") or "\\" in normalized or "\0" in normalized:
            raise errors.NotFoundError(f"no such file: {relative!r}")
        return _respond_file(request, normalized[len("static/") :])

    @wrappers.Request.application
    def _serve_runs(self, request):
        """All runs TensorBoard knows, ours or not, with status and headline, most urgent first."""
        ctx, experiment = (
            plugin_util.context(request.environ),
            plugin_util.experiment_id(request.environ),
        )
        names = [
            run.run_name for run in self._data_provider.list_runs(ctx, experiment_id=experiment)
        ]
        # A verdict needs the latest point of each tag only.
        ours = reader.read_runs(self._data_provider, ctx, experiment, downsample=1)
        reports = [diagnose(ours.get(name) or RunData(name)) for name in set(names) | set(ours)]
        return http_util.Respond(request, views.overview(reports), "application/json")

    @wrappers.Request.application
    def _serve_report(self, request):
        """One run's full report: findings plus the series the panel draws."""
        runs = request.args.getlist("run")
        if len(runs) != 1:
            problem = (
                "missing parameter 'run'" if not runs else "parameter 'run' given more than once"
            )
            return _json_error(request, problem, 400)
        run = runs[0]
        ctx, experiment = (
            plugin_util.context(request.environ),
            plugin_util.experiment_id(request.environ),
        )
        data = reader.read_runs(self._data_provider, ctx, experiment, runs=[run]).get(run)
        if data is None:
            names = {
                r.run_name for r in self._data_provider.list_runs(ctx, experiment_id=experiment)
            }
            if run not in names:
                return _json_error(request, f"no run named {run!r}", 404)
            data = RunData(run)
        return http_util.Respond(
            request, views.full_report(data, diagnose(data)), "application/json"
        )


def _json_error(request, message: str, code: int):
    return http_util.Respond(request, {"error": message}, "application/json", code=code)


def _respond_file(request, name: str):
    path = os.path.join(_STATIC_DIR, name)
    try:
        with open(path, "rb") as f:
            body = f.read()
    except (OSError, ValueError):  # missing, a folder, a name too long, a NUL byte
        raise errors.NotFoundError(f"no such file: {name!r}") from None
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if name.endswith(".js"):
        content_type = "text/javascript"
    return http_util.Respond(request, body, content_type)
