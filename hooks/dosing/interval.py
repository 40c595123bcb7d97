"""``order-interval-out-of-range``: a replacement Ig interval outside the regimen's expected interval.

Checked for replacement indications only, not during the HyQvia ramp-up and not for an SCIG loading
course (site policy); HyQvia is checked like IV replacement.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from cds_service import Indicator

from .. import text
from ..derive.indications import ig_orders, order_indication
from ..findings import Finding
from .card_text import citation_text, indication_line, interval_text
from .context import dose_context

if TYPE_CHECKING:
    from ..facts import Facts


def order_interval_out_of_range(facts: Facts) -> Iterator[Finding]:
    for order in ig_orders(facts):
        indication = order_indication(facts, order)
        if indication is None or not indication.replacement or order.timing is None:
            continue
        interval = order.timing.interval_days
        if interval is None:
            continue
        # The dose context (once per call and order) holds the ramp-up and, for a replacement
        # indication, the same regimen row: regimen_for(concept, replacement=True, sc_weekly).
        ctx = dose_context(facts, order)
        if ctx.ramp_up or ctx.loading:  # an SCIG loading course is daily by design
            continue
        regimen = ctx.regimen
        if regimen is None or regimen.interval is None or regimen.interval.contains(interval):
            continue
        drug = ctx.drug
        summary = (
            f"{drug} {interval_text(interval)}: outside the expected {regimen.interval_text} "
            f"for {indication.label}"
        )
        detail = "\n".join(
            [
                f"**Ordered interval**: {interval_text(interval)}"
                + ("" if text.days(interval) in interval_text(interval) else f" ({text.days(interval)})")
                + ".",
                f"**Expected** for {'SC' if ctx.sc_weekly else 'IV'} replacement"
                f"{' (HyQvia is checked like IV replacement)' if drug == 'HyQvia' else ''}: "
                f'{regimen.interval_text}; "monthly" counts as 30 days.',
                indication_line(ctx),
                "",
                f"Source: {citation_text(regimen.usual_source)}; docs/clinical-rules.md Resolved details (replacement "
                "interval).",
            ]
        )
        yield Finding(
            "order-interval-out-of-range",
            Indicator.WARNING,
            summary,
            detail,
            about=order.reference,
            source=regimen.usual_source,
        )
