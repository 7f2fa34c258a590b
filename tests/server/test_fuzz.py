"""A schema-driven fuzzer (schemathesis) over /api/openapi.json finds no 500 on a real server.

Each API operation gets generated requests, valid (positive) and invalid (negative) ones,
against uvicorn on 127.0.0.1 over a fresh SQLite store. The only check is the one that matters
here: the server never answers 5xx. (Schemathesis' own pytest plugin is not used: its lazy
fixture loader does not work with this pytest, so Hypothesis drives it directly.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from modelyard.server import api, blobs, pipelines_api

EXAMPLES = 25
OPERATIONS = [
    (method, path) for method, path, _, _ in api.ROUTES + blobs.ROUTES + pipelines_api.ROUTES
]


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory, project_at) -> Iterator[str]:  # type: ignore[no-untyped-def]
    from modelyard.server.runner import ThreadedServer

    with ThreadedServer(project_at(tmp_path_factory.mktemp("fuzz"))) as server:
        yield server.url


@pytest.fixture(scope="module")
def api_schema(fuzzed_server: str):  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_url(f"{fuzzed_server}/api/openapi.json")


@pytest.fixture(scope="module")
def existing(fuzzed_server: str, project_at, tmp_path_factory) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A run (with a param, a metric and an artifact) for valid requests to act on."""
    from modelyard.tracking.client import TrackingClient

    root = tmp_path_factory.mktemp("fuzz-client")
    client = TrackingClient(project_at(root, tracking_uri=fuzzed_server))
    run_id = client.create_run("fuzz")
    client.log_params(run_id, {"p": 1})
    client.log_metric(run_id, "m", 1.0)
    artifact = client.log_text(run_id, "x", "a.txt")
    client.flush()
    client.close()
    return {"run_id": run_id, "digest": artifact.digest, "path": "a.txt"}


def test_every_route_is_in_the_schema(api_schema) -> None:  # type: ignore[no-untyped-def]
    for method, path in OPERATIONS:
        assert api_schema[path.replace(":path", "")][method] is not None


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_request_makes_the_server_fail(api_schema, existing, method, path, mode) -> None:  # type: ignore[no-untyped-def]
    operation = api_schema[path.replace(":path", "")][method]
    fixed = None  # valid requests name a run and blob that exist, to reach deeper code
    if mode == GenerationMode.POSITIVE:
        fixed = {k: v for k, v in existing.items() if f"{{{k}" in path} or None

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case) -> None:  # type: ignore[no-untyped-def]
        case.call_and_validate(checks=[not_a_server_error])

    try:
        check()
    except Unsatisfiable:  # no request can break this operation's schema (e.g. no params)
        assert mode == GenerationMode.NEGATIVE
