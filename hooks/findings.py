"""Findings: what a rule concludes, before it becomes a CDS Hooks card.

Rules return :class:`Finding` values (pure data); :func:`render_card` turns one into a
:class:`cds_service.Card` with the conventions every igcds card shares (docs/clinical-rules.md "Cards"): the
rule id in ``source.topic``, the rule's citation as ``source.label``/``url``, and coded override
reasons on warning and critical cards.
"""

from __future__ import annotations

from dataclasses import dataclass

from cds_service import Card, Coding, Indicator, Link, SelectionBehavior, Source, Suggestion
from cds_service.cards import SUMMARY_MAX_CHARS

from .catalog import RULES_BY_ID, Citation

RULE_SYSTEM = "urn:igcds:rule"
OVERRIDE_SYSTEM = "urn:igcds:override-reason"

#: Offered on every warning and critical card (docs/clinical-rules.md "Cards": coded, with display).
OVERRIDE_REASONS: tuple[Coding, ...] = (
    Coding(OVERRIDE_SYSTEM, "specialist-regimen", "Patient-specific regimen agreed with specialist"),
    Coding(OVERRIDE_SYSTEM, "record-wrong", "Data in the record is wrong"),
    Coding(OVERRIDE_SYSTEM, "benefit-outweighs-risk", "Benefit outweighs risk for this patient"),
    Coding(OVERRIDE_SYSTEM, "reassess-next-visit", "Will reassess at next visit"),
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule's conclusion about one order (or about the chart, for patient-view rules)."""

    rule: str
    indicator: Indicator
    summary: str
    detail: str
    #: The order the finding is about (``MedicationRequest/123``), None for chart-level findings.
    about: str | None = None
    suggestions: tuple[Suggestion, ...] = ()
    #: Defaults to ``at-most-one`` for one suggestion and ``any`` for several.
    selection_behavior: SelectionBehavior | None = None
    #: Overrides the catalog citation (e.g. a seed-only number shown as site policy).
    source: Citation | None = None


def fit_summary(summary: str) -> str:
    """Keep a summary under the CDS Hooks limit even when it quotes client text (a long drug
    name): cut at a word boundary and mark the cut; the full text is in the detail."""
    summary = " ".join(summary.split())
    if len(summary) <= SUMMARY_MAX_CHARS:
        return summary
    cut = summary[: SUMMARY_MAX_CHARS - 1].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return cut + "…"


def render_card(finding: Finding, links: tuple[Link, ...] = ()) -> Card:
    """The card of ``finding``; ``links`` are added as they are (the companion app's SMART link)."""
    spec = RULES_BY_ID[finding.rule]
    citation = finding.source or spec.source
    behavior = finding.selection_behavior
    if finding.suggestions and behavior is None:
        behavior = SelectionBehavior.AT_MOST_ONE if len(finding.suggestions) == 1 else SelectionBehavior.ANY
    return Card(
        summary=fit_summary(finding.summary),
        indicator=finding.indicator,
        detail=finding.detail,
        source=Source(
            label=citation.label,
            url=citation.url,
            topic=Coding(RULE_SYSTEM, spec.id, spec.title),
        ),
        suggestions=finding.suggestions,
        selection_behavior=behavior if finding.suggestions else None,
        override_reasons=OVERRIDE_REASONS if finding.indicator is not Indicator.INFO else (),
        links=links,
    )
