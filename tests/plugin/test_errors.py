"""Bad input answers 400 or 404 with a JSON error; nothing a client sends gives a 5xx."""

from __future__ import annotations

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


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    route=st.sampled_from(["series", "schedule", "deviations", "export", "runs", "static/x"]),
    run=st.one_of(st.none(), st.sampled_from(["cosine", "plateau", "two_optimizers"]), _text),
    name=st.one_of(st.none(), st.sampled_from(["learning_rate", "epoch", "schedule"]), _text),
    numbers=st.dictionaries(
        st.sampled_from(["start", "end", "max_points", "max_events"]), _number_like, max_size=4
    ),
    extra=st.dictionaries(st.sampled_from(["format", "optimizer", "x"]), _text, max_size=2),
)
def test_no_query_gives_a_server_error(server, route, run, name, numbers, extra):
    query = {key: value for key, value in (("run", run), ("name", name)) if value is not None}
    response = server.get(route, **query, **numbers, **extra)
    assert response.status_code in (200, 400, 404), response.get_data(as_text=True)
    if response.mimetype == "application/json":
        body = response.get_json()
        if response.status_code != 200:
            assert set(body) == {"error"}
