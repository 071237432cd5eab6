"""Bad input answers 400 or 404 with a JSON error; nothing a client sends gives a 5xx."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

BAD_REQUESTS = [
    # (route, query, status, words in the message)
    ("series", {"name": "learning_rate"}, 400, "run is required"),
    ("series", {"run": "", "name": "learning_rate"}, 400, "run is required"),
    ("series", {"run": "cosine"}, 400, "name is required"),
    ("series", {"run": "cosine", "name": "learning_rate", "max_points": "abc"}, 400, "integer"),
    ("series", {"run": "cosine", "name": "learning_rate", "max_points": "-5"}, 400, "max_points"),
    ("series", {"run": "cosine", "name": "learning_rate", "max_points": "0"}, 400, "max_points"),
    ("series", {"run": "cosine", "name": "learning_rate", "max_points": "3"}, 400, "from 10"),
    ("series", {"run": "cosine", "name": "learning_rate", "max_points": "1e3"}, 400, "integer"),
    ("series", {"run": "cosine", "name": "learning_rate", "max_points": "2.5"}, 400, "integer"),
    (
        "series",
        {"run": "cosine", "name": "learning_rate", "max_points": "99999999999999999999999"},
        400,
        "max_points",
    ),
    ("series", {"run": "cosine", "name": "learning_rate", "max_points": "10" * 9}, 400, "to"),
    ("series", {"run": "cosine", "name": "learning_rate", "start": "9", "end": "3"}, 400, "after"),
    ("series", {"run": "cosine", "name": "learning_rate", "start": "-1"}, 400, "start"),
    ("series", {"run": "cosine", "name": "learning_rate", "end": "x"}, 400, "end"),
    ("series", {"run": ["cosine", "plateau"], "name": "learning_rate"}, 400, "once"),
    ("series", {"run": "nope", "name": "learning_rate"}, 404, "no run 'nope'"),
    ("series", {"run": "cosine", "name": "nope"}, 404, "no series 'nope'"),
    ("series", {"run": "cosine", "name": "assignment"}, 404, "no series"),
    ("schedule", {}, 400, "run is required"),
    ("schedule", {"run": "nope"}, 404, "no run"),
    ("schedule", {"run": "cosine", "optimizer": "adam"}, 404, "no schedule for optimizer"),
    ("schedule", {"run": "preview", "max_points": "-1"}, 400, "max_points"),
    ("schedule", {"run": "two_optimizers"}, 400, "optimizer="),
    ("deviations", {}, 400, "run is required"),
    ("deviations", {"run": "nope"}, 404, "no run"),
    ("deviations", {"run": "cosine", "max_events": "0"}, 400, "max_events"),
    ("deviations", {"run": "two_optimizers", "optimizer": "nope"}, 404, "no optimizer"),
    ("export", {"run": "cosine", "name": "learning_rate"}, 400, "format is required"),
    ("export", {"run": "cosine", "name": "learning_rate", "format": "xml"}, 400, "csv, json"),
    ("export", {"run": "cosine", "format": "csv"}, 400, "name is required"),
    ("export", {"run": "nope", "name": "learning_rate", "format": "csv"}, 404, "no run"),
    ("export", {"run": "cosine", "name": "nope", "format": "json"}, 404, "no series"),
    ("batch", {}, 400, "run is required"),
    ("batch", {"run": ["cosine", ""]}, 400, "run is required"),
    ("batch", {"run": ["cosine", "cosine"]}, 400, "twice"),
    ("batch", {"run": ["cosine", "plateau", "manual"], "window": ["1:2", "3:4"]}, 400, "per run"),
    ("batch", {"run": "cosine", "window": "5"}, 400, "START:END"),
    ("batch", {"run": "cosine", "window": "1:2:3"}, 400, "START:END"),
    ("batch", {"run": "cosine", "window": "9:3"}, 400, "after"),
    ("batch", {"run": "cosine", "window": "-1:3"}, 400, "start"),
    ("batch", {"run": "cosine", "include": "curves,nope"}, 400, "subset"),
    ("batch", {"run": "cosine", "include": ""}, 400, "subset"),
    ("batch", {"run": "cosine", "arrays": "binary"}, 400, "arrays must be one of lists, packed"),
    ("batch", {"run": "cosine", "max_points": "3"}, 400, "from 10"),
    ("update_ratios", {}, 400, "run is required"),
    ("update_ratios", {"run": "nope"}, 404, "no run 'nope'"),
    ("update_ratios", {"run": "ratios", "columns": "0"}, 400, "columns must be from 1 to 4000"),
    ("update_ratios", {"run": "ratios", "columns": "4001"}, 400, "columns"),
    ("update_ratios", {"run": "ratios", "start": "9", "end": "3"}, 400, "after"),
    ("update_ratios", {"run": "ratios", "arrays": "bytes"}, 400, "arrays must be one of"),
    ("range_test", {}, 400, "run is required"),
    ("range_test", {"run": ""}, 400, "run is required"),
    ("range_test", {"run": ["cosine", "plateau"]}, 400, "run was given 2 times"),
    ("range_test", {"run": "nope"}, 404, "no run 'nope'"),
    ("range_test", {"run": "cosine"}, 404, "tb_lr_plugin.find_learning_rate("),
    ("nope", {}, 404, "no static file"),
]


@pytest.mark.parametrize(("route", "query", "status", "message"), BAD_REQUESTS)
def test_bad_requests_answer_json_errors(server, route, query, status, message):
    response = server.get(route, **query)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert message in body["error"]
    assert "Traceback" not in body["error"]


@pytest.mark.parametrize("route", ["runs", "series", "export"])
def test_other_methods_are_405(server, route):
    response = server.client.post(f"/data/plugin/lr/{route}")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"
    assert "error" in response.get_json()


def test_head_is_answered(server):
    response = server.client.head("/data/plugin/lr/runs")
    assert response.status_code == 200


_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
_number_like = st.one_of(
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
    st.sampled_from(["", " 5", "5 ", "0x10", "1_000", "+7", "NaN", "inf", "１２", "\x00"]),
    _text,
)
_known_runs = [
    "cosine",
    "plateau",
    "two_optimizers",
    "preview",
    "manual",
    "in_graph",
    "ratios",
    "range_test",
]
_known_names = ["learning_rate", "epoch", "schedule", "optimizer/beta_1", "learning_rate/biases"]
# Raw query-string material: escapes, broken escapes, invalid UTF-8, separators.
_raw_query = st.lists(
    st.sampled_from(
        [
            *("run=", "name=", "start=", "end=", "max_points=", "max_events=", "format="),
            *("optimizer=", "cosine", "learning_rate", "%", "%2", "%zz", "%ff%fe", "%00"),
            *("%c3%28", "&", "=", ";", "+", "%2B", "..", "%252e", "\u202e", "10", "-1"),
            *("9" * 20, "csv", "json", "x"),
        ]
    ),
    max_size=12,
).map("".join)

ROUTES = [
    "runs",
    "series",
    "schedule",
    "deviations",
    "export",
    "batch",
    "update_ratios",
    "range_test",
]
# Per route: enough to hit the parsers' corners, few enough for a quick run
# (a few milliseconds each through the WSGI app, no HTTP).
EXAMPLES_PER_ROUTE = 1000
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_ROUTE,
    deadline=None,
    derandomize=True,  # Reproducible: the same requests on every run.
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _assert_client_safe(response) -> None:
    """No 5xx, and every error is a JSON `{"error": str}`."""
    body = response.get_data(as_text=True)
    assert response.status_code < 500, body
    if response.status_code >= 400:
        assert response.mimetype == "application/json", body
        error = response.get_json()
        assert set(error) == {"error"} and isinstance(error["error"], str), body


_keys = st.sampled_from(
    [
        "run",
        "name",
        "start",
        "end",
        "max_points",
        "max_events",
        "format",
        "optimizer",
        "window",
        "include",
        "arrays",
        "columns",
        "x",
    ]
)
_values = st.one_of(
    st.sampled_from(
        [
            *_known_runs,
            *_known_names,
            "csv",
            "json",
            "CSV",
            "biases",
            "kernels",
            "curves",
            "marks",
            "hyperparameters",
            "lists",
            "packed",
        ]
    ),
    st.tuples(_number_like, _number_like).map(":".join),
    _number_like,
)
# A query as (key, value) pairs: repeated keys, missing keys and unknown keys included.
_pairs = st.lists(st.tuples(_keys, _values), max_size=7)


def test_no_query_gives_a_server_error(server):
    """Every generated query goes to every route: the generation cost is shared."""
    _fuzz_every_route(server, _known_runs, _known_names)


def test_no_query_over_damaged_records_gives_a_server_error(edge_server):
    """The same over hand-made damage: checksum failures, corrupt chunks, newer versions."""
    runs = [
        "damaged",
        "corrupt",
        "non_finite",
        "newer_format",
        "epoch_only",
        "ratio_edges",
        "range_test",
        "range_test_damaged",
        "range_test_unreadable",
    ]
    _fuzz_every_route(edge_server, runs, ["learning_rate", "epoch", "schedule"])


def _fuzz_every_route(server, runs: list[str], names: list[str]) -> None:
    sent: dict[str, list[int]] = {route: [] for route in ROUTES}

    @FUZZ_SETTINGS
    @given(
        pairs=st.one_of(
            # A valid run, name and format first, then anything: reaches the data.
            st.tuples(
                st.sampled_from(runs),
                st.sampled_from(names),
                st.sampled_from(["csv", "json"]),
                st.lists(st.tuples(_keys, _values), max_size=4),
            ).map(lambda t: [("run", t[0]), ("name", t[1]), ("format", t[2]), *t[3]]),
            _pairs,
        ),
        raw=st.one_of(st.none(), _raw_query),
    )
    def fuzz(pairs, raw):
        for route in ROUTES:
            if raw is not None:
                response = server.client.get(f"/data/plugin/lr/{route}?{raw}")
            else:
                response = server.client.get(f"/data/plugin/lr/{route}", query_string=pairs)
            sent[route].append(response.status_code)
            _assert_client_safe(response)

    fuzz()
    for route, statuses in sent.items():
        # Derandomized Hypothesis stops early only if it runs out of distinct inputs.
        assert len(statuses) >= EXAMPLES_PER_ROUTE, route
        # The fuzz reached the data, not only the parsers.
        assert 200 in statuses and (route == "runs" or 400 in statuses), route


STATIC_DIR = Path(__file__).resolve().parents[2] / "tb_lr_plugin" / "static"
TRAVERSALS = [
    "../pyproject.toml",
    "../../pyproject.toml",
    "..%2f..%2fpyproject.toml",
    "%2e%2e/%2e%2e/pyproject.toml",
    "%2e%2e%2f%2e%2e%2fpyproject.toml",
    "%252e%252e%252fpyproject.toml",
    "..%252f..%252fpyproject.toml",
    "%c0%ae%c0%ae/pyproject.toml",
    "vendor/../../pyproject.toml",
    "vendor/uplot/../../../pyproject.toml",
    "/etc/passwd",
    "//etc/passwd",
    "%2fetc%2fpasswd",
    "..\\..\\pyproject.toml",
    "..%5c..%5cpyproject.toml",
    "C:\\Windows\\win.ini",
    "C:/Windows/win.ini",
    "index.js%00.png",
    "index.js\x00",
    "%00",
    ".",
    "..",
    "./index.js",
    ".hidden",
    "vendor/./uplot/uPlot.esm.js",
    "vendor//uplot/uPlot.esm.js",
    "static/../../pyproject.toml",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_static_traversal_is_refused(server, path):
    response = server.client.get(f"/data/plugin/lr/{path}")
    assert response.status_code == 404, (path, response.get_data()[:200])
    assert set(response.get_json()) == {"error"}


def test_fuzzed_static_paths_serve_only_files_of_the_static_directory(server):
    sent = []
    static_files = {p.read_bytes() for p in STATIC_DIR.rglob("*") if p.is_file()}
    segment = st.one_of(
        st.sampled_from(
            [
                *("..", ".", "", "%2e%2e", "%252e%252e", "%2f", "%5c", "\\", "%00", "\x00"),
                *(":", "vendor", "uplot", "index.js", "app.js", "uPlot.esm.js", "etc"),
                *("passwd", "pyproject.toml", "static", "~", "%c0%ae", "%u002e", ".git", "C:"),
            ]
        ),
        st.text(alphabet=st.characters(codec="utf-8", exclude_characters="?#"), max_size=8),
    )

    @FUZZ_SETTINGS
    @given(parts=st.lists(segment, min_size=1, max_size=6))
    def fuzz(parts):
        path = "/".join(parts)
        url = f"/data/plugin/lr/{path}"
        response = server.client.get(url)
        sent.append(response.status_code)
        # TensorBoard routes on `urlparse(path).path` (a last segment's `;params`
        # dropped) without its trailing slash: what leaves the bare `.../lr` is
        # its own route table's miss (a plugin cannot register its bare root), a text 404.
        if urllib.parse.urlparse(url).path.rstrip("/") != "/data/plugin/lr":
            _assert_client_safe(response)
        else:
            assert response.status_code == 404
        if response.status_code == 200:
            # Only ever a file of the static directory, byte for byte.
            assert response.get_data() in static_files, path
            assert all(part not in ("..", ".") for part in parts), path

    fuzz()
    assert len(sent) >= EXAMPLES_PER_ROUTE
