"""The plugin's routes over real event files, read by TensorBoard's own data providers (issue 4).

Runs are written by the summary ops (tests/runs_for_tests.py), read by the Python loader
(`MultiplexerDataProvider` over an `EventMultiplexer`) and by the Rust data server, each with
reservoirs of 10, 100 and all points per tag, and served by `TensorBoardWSGI` as TensorBoard serves
them. What the panel and the user rely on: every run listed with the right status, most urgent first;
the report in the shape of docs/api.md; JSON errors (400/404), never a 500; the same verdicts whatever
the reader; the plugin's module loadable without TensorFlow; static files only from static/.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eventdata import data_server, python_loader
from runs_for_tests import EXPECTED_STATUS, HOSTILE_NAME, write_run
from tensorboard import errors
from tensorboard.backend import application
from tensorboard.plugins import base_plugin
from werkzeug import test as werkzeug_test
from werkzeug import wrappers

from tb_stuckplugin import plugin

ROUTE = "/data/plugin/stuck"
# Run name -> kind written; the hostile run's name and one of its variables hold markup and quotes.
RUNS = {
    "healthy": "healthy",
    "lr_zero": "lr_zero",
    "lr_tiny": "lr_tiny",
    "frozen_layer": "frozen_layer",
    "scalars_only": "scalars_only",
    HOSTILE_NAME: "hostile",
}
# Most urgent first (stuck, warning, ok, no_data), then by name ('"' sorts before letters).
EXPECTED_ORDER = ["lr_tiny", "lr_zero", "frozen_layer", HOSTILE_NAME, "healthy", "scalars_only"]
LAST_STEP = 29
MODEL_VARIABLES = [
    "model/hidden/kernel",
    "model/hidden/bias",
    "model/head/kernel",
    "model/head/bias",
]
# (loader, samples per tag): TensorBoard's defaults are 10 (Python) and 100 (data server); 0 is all.
READERS = [
    ("python", 10),
    ("python", 100),
    ("python", 0),
    ("data_server", 10),
    ("data_server", 100),
    ("data_server", 0),
]
LOAD_WAIT_S = 60

FINDING_KINDS = {
    "non_finite",
    "missing_gradients",
    "frozen_weights",
    "vanishing_gradients",
    "exploding_gradients",
    "dead_units",
    "invariant_outputs",
    "repeated_batch",
    "degenerate_batch",
}
VARIABLE_FLAGS = {
    "frozen",
    "missing",
    "vanishing",
    "exploding",
    "dead_units",
    "non_finite",
    "not_trainable",
}
# Unsafe paths of TensorBoard's example_raw_scalars test, below our route prefix, plus a file name
# longer than the file system allows and a NUL byte.
UNSAFE_STATIC = [
    "../static/index.js",
    "../index.js",
    "static2/index.js",
    "notstatic/index.js",
    "static/../../index.js",
    "..%2findex.js",
    "%2e%2e/index.js",
    "%2e%2e%2findex.js",
    "static/../..\\org_tensorflow_tensorboard\\static\\index.js",
    "static/../../org_tensorflow_tensorboard/static/index.js",
    "static/%2e%2e%2f%2e%2e%5corg_tensorflow_tensorboard%5cstatic%5cindex.js",
    "static/%2e%2e%2f%2e%2e%2forg_tensorflow_tensorboard%2fstatic%2findex.js",
    "static/\\index.js",
    "static/..\\plugin.py",
    "static/../plugin.py",
    "static/%2e%2e/plugin.py",
    "static//etc/passwd",
    "static/" + "a" * 300 + ".js",
    "static/index.js%00.png",
    "static/",
]
SAFE_STATIC = ["static/app.js", "./static/app.js", "static/../static/app.js"]


@pytest.fixture(scope="module")
def event_logdir(tmp_path_factory) -> Path:
    """The runs of RUNS, written once for the module."""
    logdir = tmp_path_factory.mktemp("routes")
    for name, kind in RUNS.items():
        write_run(logdir, name, kind)
    return logdir


def make_client(provider, logdir: Path) -> werkzeug_test.Client:
    """A client of TensorBoard's WSGI app serving only our plugin over `provider`."""
    context = base_plugin.TBContext(logdir=str(logdir), data_provider=provider)
    app = application.TensorBoardWSGI([plugin.StuckPlugin(context)], data_provider=provider)
    return werkzeug_test.Client(app, wrappers.Response)


def wait_until_loaded(client: werkzeug_test.Client) -> None:
    """Poll /runs until every run is listed at its last step (the data server loads in background)."""
    deadline = time.monotonic() + LOAD_WAIT_S
    while time.monotonic() < deadline:
        runs = {r["run"]: r for r in client.get(f"{ROUTE}/runs").json["runs"]}
        ours = [name for name in RUNS if EXPECTED_STATUS[RUNS[name]] != "no_data"]
        if set(runs) == set(RUNS) and all(runs[n]["last_step"] == LAST_STEP for n in ours):
            return
        time.sleep(0.2)


@pytest.fixture(scope="module", params=READERS, ids=[f"{r}-{n or 'all'}" for r, n in READERS])
def client(request, event_logdir):
    """A WSGI client over one reader of the module's logdir, loaded."""
    loader, samples = request.param
    samples_per_plugin = {"stuck": samples}
    if loader == "python":
        client = make_client(python_loader(event_logdir, samples_per_plugin), event_logdir)
        yield client
        return
    with data_server(event_logdir, samples_per_plugin) as provider:
        client = make_client(provider, event_logdir)
        wait_until_loaded(client)
        yield client


def get_json(client: werkzeug_test.Client, path: str, expected_status: int = 200, **query):
    response = client.get(path, query_string=query or None)
    assert response.status_code == expected_status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return response.json


def report(client: werkzeug_test.Client, run: str) -> dict:
    return get_json(client, f"{ROUTE}/report", run=run)


def verdict(report_json: dict) -> list[tuple]:
    """What a verdict is made of: each finding's kind, severity, targets and start."""
    return [
        (f["kind"], f["severity"], tuple(f["targets"]), f["since_step"])
        for f in report_json["findings"]
    ]


def test_runs_lists_every_run_most_urgent_first(client):
    runs = get_json(client, f"{ROUTE}/runs")["runs"]
    assert [r["run"] for r in runs] == EXPECTED_ORDER
    for entry in runs:
        kind = RUNS[entry["run"]]
        assert set(entry) == {"run", "status", "headline", "last_step", "last_wall_time", "kinds"}
        assert entry["status"] == EXPECTED_STATUS[kind], entry
        if kind == "scalars_only":
            assert entry["last_step"] is None and entry["last_wall_time"] is None
            assert entry["headline"] == "No tb-stuckplugin data in this run"
        else:
            assert entry["last_step"] == LAST_STEP
            assert isinstance(entry["last_wall_time"], float)
        if entry["status"] == "ok":
            assert entry["headline"] == "Training looks healthy" and entry["kinds"] == []
    by_name = {r["run"]: r for r in runs}
    assert by_name["lr_zero"]["kinds"] == ["frozen_weights"]
    assert "frozen since step 0" in by_name["lr_zero"]["headline"]
    assert by_name["frozen_layer"]["kinds"] == ["frozen_weights"]


def test_report_has_the_documented_shape(client):
    for name in RUNS:
        body = report(client, name)
        # docs/api.md: the keys of the report, "problems" included.
        assert set(body) == {
            "run",
            "status",
            "headline",
            "last_step",
            "last_wall_time",
            "findings",
            "variables",
            "outputs",
            "problems",
        }
        assert body["run"] == name
        assert all(isinstance(p, str) for p in body["problems"])
        for finding in body["findings"]:
            check_finding(finding)
        for variable in body["variables"]:
            check_variable(variable)
        for output in body["outputs"]:
            assert set(output) == {"tag", "series"}
            check_series(output["series"], ("output_spread", "input_spread"))


def check_finding(finding: dict) -> None:
    assert set(finding) == {
        "kind",
        "severity",
        "targets",
        "since_step",
        "evidence",
        "message",
        "causes",
    }
    assert finding["kind"] in FINDING_KINDS
    assert finding["severity"] in ("error", "warning")
    assert finding["targets"] and all(isinstance(t, str) for t in finding["targets"])
    assert finding["since_step"] is None or isinstance(finding["since_step"], int)
    for value in finding["evidence"].values():
        numbers = value if isinstance(value, list) else [value]
        assert all(isinstance(v, (int, float, str)) for v in numbers), finding["evidence"]
    assert isinstance(finding["message"], str) and finding["message"]
    assert finding["causes"]
    for cause in finding["causes"]:
        assert set(cause) == {"cause", "check"} and all(cause.values())


def check_variable(variable: dict) -> None:
    assert set(variable) == {
        "name",
        "shape",
        "dtype",
        "trainable",
        "flags",
        "grad_norm",
        "update_ratio",
        "series",
    }
    assert set(variable["flags"]) <= VARIABLE_FLAGS
    for field in ("grad_norm", "update_ratio"):
        assert variable[field] is None or isinstance(variable[field], float)
    check_series(variable["series"], ("grad_norm", "update_ratio"))


def check_series(series: dict, fields: tuple[str, ...]) -> None:
    """Each field has a value (or null) per step of its step list, at most 100, ascending."""
    for field in fields:
        if field not in series:
            continue
        steps = series.get(f"{field}_steps", series["steps"])
        assert len(series[field]) == len(steps) <= 100
        assert steps == sorted(steps)
        assert all(v is None or isinstance(v, float) for v in series[field])


def test_report_verdicts_and_variables(client):
    lr_zero = report(client, "lr_zero")
    assert lr_zero["status"] == "stuck"
    assert verdict(lr_zero) == [("frozen_weights", "error", tuple(MODEL_VARIABLES), 0)]
    assert [v["name"] for v in lr_zero["variables"]] == MODEL_VARIABLES
    assert all(v["flags"] == ["frozen"] and v["update_ratio"] == 0.0 for v in lr_zero["variables"])

    frozen = report(client, "frozen_layer")
    hidden = ("model/hidden/kernel", "model/hidden/bias")
    assert verdict(frozen) == [("frozen_weights", "warning", hidden, 0)]
    flags = {v["name"]: v["flags"] for v in frozen["variables"]}
    assert flags == {name: ["frozen"] if name in hidden else [] for name in MODEL_VARIABLES}

    healthy = report(client, "healthy")
    assert healthy["status"] == "ok" and healthy["findings"] == []
    assert [v["name"] for v in healthy["variables"]] == MODEL_VARIABLES
    for variable in healthy["variables"]:
        assert variable["grad_norm"] > 0 and variable["update_ratio"] > 0
        assert variable["series"]["steps"][-1] == LAST_STEP
    assert [o["tag"] for o in healthy["outputs"]] == ["outputs"]
    assert healthy["outputs"][0]["series"]["output_spread"][-1] > 0

    scalars = report(client, "scalars_only")
    assert scalars["status"] == "no_data" and scalars["last_step"] is None
    assert scalars["findings"] == scalars["variables"] == scalars["outputs"] == []


def test_runs_and_report_agree(client):
    """The overview line of each run is the report's own: same status, headline, step and kinds."""
    for entry in get_json(client, f"{ROUTE}/runs")["runs"]:
        body = report(client, entry["run"])
        assert entry == {
            "run": body["run"],
            "status": body["status"],
            "headline": body["headline"],
            "last_step": body["last_step"],
            "last_wall_time": body["last_wall_time"],
            "kinds": sorted({f["kind"] for f in body["findings"]}),
        }


@pytest.fixture(scope="module")
def reference_verdicts(event_logdir) -> dict[str, list[tuple]]:
    """Verdicts from the Python loader keeping every point."""
    client = make_client(python_loader(event_logdir, {"stuck": 0}), event_logdir)
    return {name: verdict(report(client, name)) for name in RUNS}


def test_same_verdicts_under_every_reader_and_reservoir(client, reference_verdicts):
    for name in RUNS:
        assert verdict(report(client, name)) == reference_verdicts[name], name


def test_markup_in_names_comes_back_as_data(client):
    response = client.get(f"{ROUTE}/runs")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert HOSTILE_NAME in [r["run"] for r in response.json["runs"]]
    body = report(client, HOSTILE_NAME)
    assert body["run"] == HOSTILE_NAME
    assert [v["name"] for v in body["variables"]] == MODEL_VARIABLES + [HOSTILE_NAME]


def test_missing_or_repeated_run_parameter_is_a_400(client):
    for query in ("", "?other=1", "?run=healthy&run=lr_zero"):
        response = client.get(f"{ROUTE}/report{query}")
        assert response.status_code == 400, query
        assert response.mimetype == "application/json"
        assert set(response.json) == {"error"} and "run" in response.json["error"]


def test_unknown_run_is_a_404(client):
    for run in ("nope", "", "healthy/", "../healthy", "HEALTHY"):
        body = get_json(client, f"{ROUTE}/report", 404, run=run)
        assert set(body) == {"error"} and body["error"]


def serve_static_directly(path: str) -> werkzeug_test.TestResponse | None:
    """The static handler's answer to `path`, called as upstream tests it; None for NotFoundError,
    which TensorBoard turns into a 404."""
    handler = plugin.StuckPlugin(base_plugin.TBContext())._serve_static
    try:
        return werkzeug_test.Client(handler, wrappers.Response).get(f"{ROUTE}/{path}")
    except errors.NotFoundError:
        return None


@pytest.mark.parametrize("path", UNSAFE_STATIC)
def test_static_refuses_paths_outside_static(path):
    """The handler itself (as upstream tests it), and the app a browser reaches."""
    direct = serve_static_directly(path)
    assert direct is None or direct.status_code == 404, direct.get_data(as_text=True)
    if path.startswith("static/"):
        app = make_client(None, Path("."))
        assert app.get(f"{ROUTE}/{path}").status_code == 404


def test_static_serves_real_assets():
    static = Path(plugin.__file__).parent / "static"
    for path in SAFE_STATIC:
        response = serve_static_directly(path)
        assert response is not None and response.status_code == 200, path
        assert response.data == (static / "app.js").read_bytes()
    app = make_client(None, Path("."))
    for name, mimetype in (("index.js", "text/javascript"), ("static/style.css", "text/css")):
        response = app.get(f"{ROUTE}/{name}")
        assert response.status_code == 200, name
        assert response.mimetype == mimetype
        assert response.data == (static / Path(name).name).read_bytes()


class CountingProvider:
    """A real data provider that records which of its methods were called."""

    def __init__(self, provider):
        self._provider = provider
        self.calls: list[str] = []

    def __getattr__(self, name):
        method = getattr(self._provider, name)

        def counted(*args, **kwargs):
            self.calls.append(name)
            return method(*args, **kwargs)

        return counted


def test_is_active_and_plugins_listing_read_no_data(event_logdir):
    provider = CountingProvider(python_loader(event_logdir))
    context = base_plugin.TBContext(logdir=str(event_logdir), data_provider=provider)
    stuck = plugin.StuckPlugin(context)
    assert stuck.is_active() is False and provider.calls == []
    app = werkzeug_test.Client(
        application.TensorBoardWSGI([stuck], data_provider=provider), wrappers.Response
    )
    listing = app.get("/data/plugins_listing").json
    assert listing["stuck"]["enabled"] is True
    assert listing["stuck"]["loading_mechanism"] == {
        "type": "IFRAME",
        "module_path": f"{ROUTE}/index.js",
    }
    assert provider.calls == ["list_plugins"]


def test_plugin_is_disabled_without_data_of_ours(event_logdir):
    scalars_only = event_logdir / "scalars_only"
    provider = python_loader(scalars_only)
    listing = make_client(provider, scalars_only).get("/data/plugins_listing").json
    assert listing["stuck"]["enabled"] is False


def test_plugin_module_and_entry_point_load_without_tensorflow():
    """TensorBoard runs without TensorFlow, and so must the plugin (and `tb-stuck`)."""
    code = (
        "import sys, importlib.metadata as m\n"
        "import tb_stuckplugin.plugin, tb_stuckplugin.cli\n"
        "[entry] = [e for e in m.entry_points(group='tensorboard_plugins') if e.name == 'stuck']\n"
        "assert entry.load() is tb_stuckplugin.plugin.StuckPlugin\n"
        "loaded = sorted(n for n in sys.modules if n.split('.')[0] in ('tensorflow', 'keras'))\n"
        "print(json.dumps(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", "import json\n" + code],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
