"""Request bodies of the HTTP API, as Pydantic models (Pydantic stays at this edge).

Each model checks what the database would otherwise refuse with an unhelpful error: integers
fit in 64 bits, strings fit their columns and hold no NUL byte or lone surrogate, ids and
digests have their formats. Routes turn the models into the frozen dataclasses and plain
values the tracking store takes. Metric values are JSON numbers, or the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"`` (JSON has no spelling for them).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "ArtifactIn",
    "CodeIn",
    "DatasetIn",
    "ExperimentIn",
    "HeartbeatIn",
    "MarkDeadIn",
    "MetricBatchIn",
    "ParamsIn",
    "RunEndIn",
    "RunIn",
    "SearchIn",
    "TagsIn",
]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MAX = 2**31 - 1

Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
Count = Annotated[int, Field(ge=0, le=INT64_MAX)]
Millis = Annotated[int, Field(ge=0, le=INT64_MAX, description="milliseconds since the epoch")]
RunId = Annotated[
    str,
    Field(pattern=r"^[0-9a-f]{32}$", description="32 lowercase hex characters (uuid4().hex)"),
]
AnyRunId = Annotated[str, Field(min_length=1, max_length=32)]
Digest = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="BLAKE3, 64 hex")]
Key = Annotated[str, Field(min_length=1, max_length=250)]
Name = Annotated[str, Field(min_length=1, max_length=256)]
MetricValue = Annotated[
    float | Literal["NaN", "Infinity", "-Infinity"],
    Field(description='a JSON number, or "NaN", "Infinity", "-Infinity"'),
]

_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


def _check_text(value: Any, where: str = "body") -> None:
    if isinstance(value, str):
        if _BAD_TEXT.search(value):
            raise ValueError(f"{where}: text holds a NUL character or a lone surrogate")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, where)
            _check_text(item, f"{where}.{key}" if isinstance(key, str) else where)
    elif isinstance(value, list):
        for item in value:
            _check_text(item, where)


class _Body(BaseModel):
    """Base of request bodies: no unknown fields, no NUL bytes or lone surrogates in text."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _clean_text(cls, data: Any) -> Any:
        _check_text(data)
        return data


class ExperimentIn(_Body):
    name: Name
    description: Annotated[str, Field(max_length=10_000)] | None = None


class EnvironmentIn(_Body):
    digest: Digest
    python: Annotated[str, Field(max_length=64)]
    platform: Annotated[str, Field(max_length=256)]
    packages: dict[Annotated[str, Field(max_length=256)], Annotated[str, Field(max_length=256)]]
    hardware: dict[str, Any] = Field(default_factory=dict)


class RunIn(_Body):
    run_id: RunId
    experiment_id: Annotated[int, Field(ge=1, le=INT32_MAX)]
    name: Name
    start_time: Millis
    parent_run_id: AnyRunId | None = None
    user: Annotated[str, Field(max_length=256)] = ""
    host: Annotated[str, Field(max_length=256)] = ""
    pid: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = None
    entry_point: Annotated[str, Field(max_length=10_000)] | None = None
    code: dict[str, Any] | None = None
    environment: EnvironmentIn | None = None
    tags: dict[Key, str] = Field(default_factory=dict)


class RunEndIn(_Body):
    status: Literal["FINISHED", "FAILED", "KILLED"] = "FINISHED"
    end_time: Millis | None = None
    error: Annotated[str, Field(max_length=100_000)] | None = None


class CodeIn(_Body):
    code: dict[str, Any]


class HeartbeatIn(_Body):
    run_ids: Annotated[list[AnyRunId], Field(max_length=10_000)]
    ts: Millis | None = None


class MarkDeadIn(_Body):
    host: Annotated[str, Field(max_length=256)]
    pids: Annotated[list[Annotated[int, Field(ge=0, le=INT32_MAX)]], Field(max_length=10_000)]


class ParamsIn(_Body):
    params: dict[Key, str]


class TagsIn(_Body):
    tags: dict[Key, str]


class MetricPointIn(BaseModel):
    """One point; its strings are checked by pattern, so no walk over big batches is needed."""

    model_config = ConfigDict(extra="forbid")

    run_id: Annotated[str, Field(pattern=r"^[0-9A-Za-z_-]{1,32}$")]
    key: Annotated[str, Field(min_length=1, max_length=250, pattern=r"^[\w\-./: ]+$")]
    value: MetricValue
    timestamp: Millis
    step: Int64 = 0


class MetricBatchIn(BaseModel):
    """Metric points of one or more runs; a repeated ``batch_id`` is written only once."""

    model_config = ConfigDict(extra="forbid")

    batch_id: Annotated[str, Field(pattern=r"^[0-9A-Za-z_-]{1,64}$")] | None = None
    points: Annotated[list[MetricPointIn], Field(max_length=100_000)]


class DatasetInfoIn(_Body):
    digest: Digest
    kind: Literal["dataframe", "ndarray", "file", "folder"]
    rows: Count | None = None
    columns: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = None
    size_bytes: Count | None = None
    schema_: list[dict[str, Any]] | None = Field(default=None, alias="schema")
    profile: dict[str, Any] | None = None
    manifest: list[dict[str, Any]] | None = None
    source: Annotated[str, Field(max_length=10_000)] | None = None
    note: Annotated[str, Field(max_length=10_000)] | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DatasetIn(_Body):
    name: Name
    context: Annotated[str, Field(max_length=64)] = ""
    direction: Literal["input", "output"] = "input"
    info: DatasetInfoIn


class ArtifactIn(_Body):
    path: Annotated[str, Field(min_length=1, max_length=1024)]
    digest: Digest
    size: Count


class SearchIn(_Body):
    experiment_ids: Annotated[
        list[Annotated[int, Field(ge=0, le=INT32_MAX)]], Field(max_length=1000)
    ]
    filter: Annotated[str, Field(max_length=20_000)] | None = None
    order_by: Annotated[list[Annotated[str, Field(max_length=1000)]], Field(max_length=50)] = []
    max_results: Annotated[int, Field(ge=1, le=INT64_MAX)] = 100
    page_token: Annotated[str, Field(max_length=1000)] | None = None
