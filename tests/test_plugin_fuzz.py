"""Whatever a client sends, the plugin answers 200, 400 or 404, never a 500 (issue 4).

Hypothesis builds query strings and static paths (unknown runs, huge and binary values, `../`,
repeated parameters, odd percent-encodings) and sends them through TensorBoard's WSGI app over real
runs, read by the Python loader and by the Rust data server. Run names with markup and quotes must
come back as data, intact, however the client encoded them.
"""

from __future__ import annotations

import posixpath
import time
import urllib.parse
from pathlib import Path, PurePosixPath

import pytest
from eventdata import data_server, python_loader
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runs_for_tests import HOSTILE_NAME, write_run
from tensorboard.backend import application
from tensorboard.plugins import base_plugin
from werkzeug import test as werkzeug_test
from werkzeug import wrappers

from tb_stuckplugin import plugin

ROUTE = "/data/plugin/stuck"
RUNS = {"healthy": "healthy", "scalars_only": "scalars_only", HOSTILE_NAME: "hostile"}
LOAD_WAIT_S = 60
# A request line longer than this is refused by TensorBoard's HTTP server before the plugin sees it.
MAX_VALUE = 60_000
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Pieces that are dangerous or odd in a URL: traversal, escapes, separators, NUL, non-ASCII.
ODD = [
    "..",
    "../",
    "%2e%2e",
    "%2f",
    "%5c",
    "\\",
    "%00",
    "%",
    "%zz",
    "%ff%fe",
    "+",
    "&",
    "=",
    ";",
    "#",
    "?",
    "/",
    "~",
    "<script>",
    '"',
    "'",
    "é",
    "\u202e",
    "\U0001f600",
]
known_runs = st.sampled_from(sorted(RUNS))
values = st.one_of(
    known_runs,
    st.text(max_size=40),
    st.lists(st.sampled_from(ODD), max_size=8).map("".join),
    st.binary(max_size=200).map(lambda b: urllib.parse.quote_from_bytes(b, safe="")),
    st.integers(0, MAX_VALUE).map(lambda n: "x" * n),
)
keys = st.one_of(st.sampled_from(["run", "run", "tag", "RUN", "run[]", ""]), st.text(max_size=8))


@st.composite
def query_strings(draw) -> str:
    """A raw QUERY_STRING: encoded pairs, raw pieces, or a known run encoded some other way."""
    pairs = draw(st.lists(st.tuples(keys, values), max_size=4))
    how = draw(st.sampled_from(["urlencode", "raw", "quote"]))
    if how == "urlencode":
        return urllib.parse.urlencode(pairs)
    if how == "raw":
        return "&".join(f"{k}={v}" for k, v in pairs)
    safe = draw(st.sampled_from(["", "/", "<>'\"", "()!*"]))
    return "run=" + urllib.parse.quote(draw(known_runs), safe=safe)


@pytest.fixture(scope="module")
def event_logdir(tmp_path_factory) -> Path:
    logdir = tmp_path_factory.mktemp("fuzz")
    for name, kind in RUNS.items():
        write_run(logdir, name, kind, steps=10)
    return logdir


@pytest.fixture(scope="module", params=["python", "data_server"])
def client(request, event_logdir):
    """A WSGI client of TensorBoard's app with our plugin, over a loaded reader."""
    if request.param == "python":
        yield make_client(python_loader(event_logdir), event_logdir)
        return
    with data_server(event_logdir) as provider:
        client = make_client(provider, event_logdir)
        deadline = time.monotonic() + LOAD_WAIT_S
        while time.monotonic() < deadline and len(client.get(f"{ROUTE}/runs").json["runs"]) < 3:
            time.sleep(0.2)
        yield client


def make_client(provider, logdir: Path) -> werkzeug_test.Client:
    context = base_plugin.TBContext(logdir=str(logdir), data_provider=provider)
    app = application.TensorBoardWSGI([plugin.StuckPlugin(context)], data_provider=provider)
    return werkzeug_test.Client(app, wrappers.Response)


def parsed_runs(query: str) -> list[str]:
    """The `run` values as TensorBoard's request parsing sees them in this query string."""
    environ = werkzeug_test.EnvironBuilder(path="/", query_string=query).get_environ()
    return wrappers.Request(environ).args.getlist("run")


def test_runs_answer_any_query(client):
    @FUZZ
    @given(query=query_strings())
    def check(query):
        response = client.get(f"{ROUTE}/runs", query_string=query)
        assert response.status_code == 200
        assert sorted(r["run"] for r in response.json["runs"]) == sorted(RUNS)

    check()


def test_report_answers_any_query(client):
    @FUZZ
    @given(query=query_strings())
    def check(query):
        response = client.get(f"{ROUTE}/report", query_string=query)
        runs = parsed_runs(query)
        assert response.mimetype == "application/json", response.status_code
        if len(runs) != 1:
            assert response.status_code == 400 and set(response.json) == {"error"}
        elif runs[0] in RUNS:
            assert response.status_code == 200
            assert response.json["run"] == runs[0]
        else:
            assert response.status_code == 404 and set(response.json) == {"error"}

    check()


def test_hostile_run_name_comes_back_intact_however_encoded(client):
    @FUZZ
    @given(safe=st.text(alphabet="<>'\"()/!*;:@$,", max_size=6), plus=st.booleans())
    def check(safe, plus):
        quote = urllib.parse.quote_plus if plus else urllib.parse.quote
        response = client.get(f"{ROUTE}/report", query_string="run=" + quote(HOSTILE_NAME, safe))
        assert response.status_code == 200
        body = response.json
        assert body["run"] == HOSTILE_NAME
        assert HOSTILE_NAME in [v["name"] for v in body["variables"]]

    check()


def test_assets_ignore_any_query(client):
    static = Path(plugin.__file__).parent / "static"

    @FUZZ
    @given(query=query_strings(), name=st.sampled_from(["index.js", "static/app.js"]))
    def check(query, name):
        response = client.get(f"{ROUTE}/{name}", query_string=query)
        assert response.status_code == 200
        assert response.data == (static / PurePosixPath(name).name).read_bytes()

    check()


segments = st.one_of(
    st.sampled_from(ODD + ["static", "app.js", "index.js", "style.css", "a" * 300]),
    st.text(max_size=12),
)


def test_static_answers_any_path(client):
    static = Path(plugin.__file__).parent / "static"

    @FUZZ
    @given(parts=st.lists(segments, max_size=6))
    def check(parts):
        tail = "/".join(urllib.parse.quote(p, safe="/%\\.~") for p in parts)
        response = client.get(f"{ROUTE}/static/{tail}")
        assert response.status_code in (200, 404), tail
        if response.status_code == 200:
            # Only a file of static/ itself, byte for byte.
            name = PurePosixPath(posixpath.normpath(response.request.path)).name
            assert response.data == (static / name).read_bytes()

    check()
