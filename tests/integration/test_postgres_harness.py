"""The PostgreSQL harness: a real PostgreSQL 15 on 127.0.0.1, started once per session."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.postgres


def test_select_1(postgres_server) -> None:
    with psycopg.connect(postgres_server.conninfo(), connect_timeout=5) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        assert conn.execute("select current_database()").fetchone() == ("igcds_test",)


def test_url_works_with_sqlalchemy(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    assert postgres_url.endswith("/igcds_test")
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("show listen_addresses")).scalar() == "127.0.0.1"
            assert conn.execute(sa.text("select 1")).scalar() == 1
    finally:
        engine.dispose()
