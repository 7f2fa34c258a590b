"""Shared fixtures: clean settings, and a metadata store on SQLite and on real PostgreSQL.

Store tests take ``database_url``; it runs each test on a fresh SQLite file, and again on a
PostgreSQL database created for this session when ``MODELYARD_TEST_DATABASE_URL`` names a
server (always in CI). Tables are emptied between PostgreSQL tests. Tests taking ``settings``
(or ``client``, ``yard``) run on the ``backend`` values: the same two, plus ``remote`` (the SDK
talking to a real ``modelyard server`` on 127.0.0.1) for the folders in ``REMOTE_SUITES``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

PG_ENV = "MODELYARD_TEST_DATABASE_URL"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MODELYARD_* variable of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("MODELYARD_") and not name.startswith("MODELYARD_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """A PostgreSQL database made for this test session (None without the env var)."""
    admin_url = os.environ.get(PG_ENV)
    if not admin_url:
        yield None
        return
    from modelyard.store.database import Database
    from modelyard.testing.databases import temporary_postgres_database

    with temporary_postgres_database(admin_url) as url:
        Database.open(url).dispose()
        yield url


def _truncate(url: str) -> None:
    from sqlalchemy import create_engine, text

    from modelyard.store.tables import metadata

    engine = create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


def _fresh_store_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'modelyard.db'}"
    url = request.getfixturevalue("postgres_url")
    if url is None:
        pytest.skip(f"set {PG_ENV} to run the store tests on PostgreSQL")
    _truncate(url)
    return str(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty metadata store: a SQLite file, or the session's PostgreSQL database."""
    yield _fresh_store_url(request.param, request, tmp_path)


#: Test folders whose ``settings``/``client``/``yard`` tests also run in remote mode: through a
#: real ``modelyard server`` (uvicorn on 127.0.0.1, in a thread) over a fresh SQLite store.
REMOTE_SUITES = ("tracking", "server")
TESTS = Path(__file__).resolve().parent


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``backend``: sqlite and postgresql everywhere, plus remote in REMOTE_SUITES."""
    if "backend" not in metafunc.fixturenames:
        return
    kinds = ["sqlite", "postgresql"]
    try:
        folder = Path(metafunc.definition.path).resolve().relative_to(TESTS).parts[0]
    except ValueError:
        folder = ""
    if folder in REMOTE_SUITES:
        kinds.append("remote")
    metafunc.parametrize("backend", kinds, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """Where tracking goes: ``sqlite``, ``postgresql``, or ``remote`` (a server over SQLite)."""
    return str(request.param)


@pytest.fixture
def settings(tmp_path: Path, backend: str, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Settings for a project in ``tmp_path`` on the parametrized backend.

    For ``remote`` a server is started for the test over a SQLite file; the settings name that
    file and artifact folder too (child processes of a test may write there directly) and set
    ``tracking_uri``, so the SDK of this process goes through the server.
    """
    from modelyard.settings import Settings

    kind = "sqlite" if backend == "remote" else backend
    settings = Settings.load(
        project_root=str(tmp_path),
        database_url=_fresh_store_url(kind, request, tmp_path),
        artifact_url=str(tmp_path / "artifacts"),
        flush_interval=0.2,
    )
    if backend != "remote":
        return settings
    from modelyard.server.runner import ThreadedServer

    server = ThreadedServer(settings).start()
    request.addfinalizer(server.stop)
    return settings.replace(tracking_uri=server.url)


@pytest.fixture
def sqlite_settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Settings on a SQLite file only, for tests about the embedded default."""
    from modelyard.settings import Settings

    return Settings.load(project_root=str(tmp_path), flush_interval=0.2)


@pytest.fixture
def client(settings):  # type: ignore[no-untyped-def]
    """A TrackingClient on the parametrized store (closed after the test)."""
    from modelyard.tracking.client import TrackingClient

    c = TrackingClient(settings)
    yield c
    c.close()


@pytest.fixture
def yard(settings):  # type: ignore[no-untyped-def]
    """The module-level SDK pointed at the parametrized store; active runs ended after."""
    import modelyard
    from modelyard.tracking import fluent

    modelyard.configure(settings)
    yield modelyard
    while fluent.active_run() is not None:
        modelyard.end_run()
    fluent._experiment = None
    modelyard.configure(settings)  # closes the client and its connections
