"""Reading a server's card audit from a test, now that it is written in batches after the answer.

igcds queues issued cards and writes them a flush interval (``[storage] audit_flush_ms``) after the
call was answered, so a test that reads ``issued_cards`` right after an HTTP call must wait for the
rows: :func:`wait_for_issued` polls, with a bounded wait, until they are there. (Stopping the server
gracefully also writes them: the worker flushes its queue on exit.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from cds_service.storage import Store

#: Longest wait for audit rows; the default flush interval is 0.2 s.
AUDIT_WAIT_S = 15.0


def read_issued(url: str) -> list[dict[str, Any]]:
    """Every ``issued_cards`` row of the database at ``url``, read from this process."""
    store = Store(url, salt=None, migrate=False)
    try:
        return store.issued()
    finally:
        store.dispose()


def wait_for_issued(
    read: Callable[[], list[dict[str, Any]]],
    until: Callable[[list[dict[str, Any]]], bool],
    *,
    timeout: float = AUDIT_WAIT_S,
    what: str = "the expected audit rows",
) -> list[dict[str, Any]]:
    """Call ``read()`` until ``until(rows)`` holds; return those rows, or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        rows = read()
        if until(rows):
            return rows
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} did not appear in issued_cards within {timeout} s "
                                 f"({len(rows)} rows there)")
        time.sleep(0.05)


def wait_for_cards(url: str, card_uuids: set[str], *, timeout: float = AUDIT_WAIT_S) -> list[dict[str, Any]]:
    """The audit rows of ``card_uuids`` once all of them are written (bounded wait)."""
    rows = wait_for_issued(
        lambda: read_issued(url),
        lambda rows: card_uuids <= {r["card_uuid"] for r in rows},
        timeout=timeout,
        what=f"{len(card_uuids)} issued cards",
    )
    return [r for r in rows if r["card_uuid"] in card_uuids]


def record_issued_card(url: str, service_id: str, *, issuer: str | None = None, tenant: str | None = None) -> str:
    """Record one card as issued by ``service_id`` to a client (``issuer``/``tenant``; None: dev mode)
    straight into the database at ``url``, as the server does after a call; return its uuid.

    For tests of feedback that do not need a real call to produce a card first (feedback is only
    taken on cards that were issued to its sender)."""
    from datetime import UTC, datetime

    from cds_service.cards import Card, Indicator, Source
    from cds_service.extensions import CallRecord, IssuedCard

    card = Card(summary="recorded by a test", indicator=Indicator.INFO, source=Source("test"))
    store = Store(url, salt=b"t" * 32)
    try:
        store.record_call(CallRecord(service_id, "patient-view", "test", None, datetime.now(UTC),
                                     [IssuedCard(card, True)], issuer=issuer, tenant=tenant))
    finally:
        store.dispose()
    return card.uuid
