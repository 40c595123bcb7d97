"""Relative-date markers (cds_service.relative_dates)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone

import pytest

from cds_service.relative_dates import expand, expand_marker, has_markers, is_marker

NOW = datetime(2026, 11, 12, 10, 0, 0, tzinfo=UTC)


class TestUnits:
    @pytest.mark.parametrize(
        ("marker", "expected"),
        [
            ("@now", "2026-11-12T10:00:00Z"),
            ("@now-10d", "2026-11-02T10:00:00Z"),
            ("@now+3d", "2026-11-15T10:00:00Z"),
            ("@now-0d", "2026-11-12T10:00:00Z"),
            ("@now-12h", "2026-11-11T22:00:00Z"),
            ("@now+90min", "2026-11-12T11:30:00Z"),
            ("@now-2w", "2026-10-29T10:00:00Z"),
            ("@now-6mo", "2026-05-12T10:00:00Z"),
            ("@now+2mo", "2027-01-12T10:00:00Z"),
            ("@now-11mo", "2025-12-12T10:00:00Z"),
            ("@now-2y", "2024-11-12T10:00:00Z"),
            ("@now+1y", "2027-11-12T10:00:00Z"),
            ("@today", "2026-11-12"),
            ("@today-40y", "1986-11-12"),
            ("@today-3mo", "2026-08-12"),
            ("@today+1d", "2026-11-13"),
            ("@today-1w", "2026-11-05"),
        ],
    )
    def test_each_unit(self, marker: str, expected: str) -> None:
        assert expand(marker, NOW) == expected
        assert expand_marker(marker, NOW) == expected

    def test_datetime_is_utc_seconds_with_z(self) -> None:
        plus_two = timezone(timedelta(hours=2))
        now = datetime(2026, 11, 12, 12, 0, 5, 987654, tzinfo=plus_two)
        assert expand("@now", now) == "2026-11-12T10:00:05Z"

    def test_today_is_the_utc_date(self) -> None:
        # 01:30 at UTC+3 is still the previous day in UTC
        now = datetime(2026, 11, 12, 1, 30, tzinfo=timezone(timedelta(hours=3)))
        assert expand("@today", now) == "2026-11-11"

    def test_hours_cross_midnight(self) -> None:
        now = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
        assert expand("@now-12h", now) == "2025-12-31T15:00:00Z"


class TestCalendarArithmetic:
    @pytest.mark.parametrize(
        ("now", "marker", "expected"),
        [
            (datetime(2026, 3, 31, tzinfo=UTC), "@today-1mo", "2026-02-28"),
            (datetime(2026, 5, 31, tzinfo=UTC), "@today-1mo", "2026-04-30"),
            (datetime(2026, 1, 31, tzinfo=UTC), "@today+1mo", "2026-02-28"),
            (datetime(2026, 8, 31, 9, 15, tzinfo=UTC), "@now-6mo", "2026-02-28T09:15:00Z"),
            (datetime(2026, 12, 31, tzinfo=UTC), "@today+2mo", "2027-02-28"),
            (datetime(2026, 1, 15, tzinfo=UTC), "@today-13mo", "2024-12-15"),
        ],
    )
    def test_month_end_is_clamped(self, now: datetime, marker: str, expected: str) -> None:
        assert expand(marker, now) == expected

    @pytest.mark.parametrize(
        ("marker", "expected"),
        [
            ("@today-1y", "2027-02-28"),
            ("@today-4y", "2024-02-29"),
            ("@today+1y", "2029-02-28"),
            ("@today-12mo", "2027-02-28"),
            ("@today+1d", "2028-03-01"),
        ],
    )
    def test_leap_day(self, marker: str, expected: str) -> None:
        leap = datetime(2028, 2, 29, 8, 0, tzinfo=UTC)
        assert expand(marker, leap) == expected

    def test_to_leap_day_keeps_day(self) -> None:
        now = datetime(2028, 3, 29, tzinfo=UTC)
        assert expand("@today-1mo", now) == "2028-02-29"


class TestStructures:
    def test_nested_structures_are_walked(self) -> None:
        doc = {
            "resourceType": "Bundle",
            "entry": [
                {"resource": {"birthDate": "@today-34y", "effectiveDateTime": "@now-20d",
                              "valueQuantity": {"value": 70, "unit": "kg"}}},
                {"resource": {"period": {"start": "@now-1y", "end": "@now"}, "flags": [True, None, 1.5]}},
            ],
            "tuple": ("@now-1d", "x"),
        }
        out = expand(doc, NOW)
        assert out["entry"][0]["resource"]["birthDate"] == "1992-11-12"
        assert out["entry"][0]["resource"]["effectiveDateTime"] == "2026-10-23T10:00:00Z"
        assert out["entry"][0]["resource"]["valueQuantity"] == {"value": 70, "unit": "kg"}
        assert out["entry"][1]["resource"]["period"] == {
            "start": "2025-11-12T10:00:00Z", "end": "2026-11-12T10:00:00Z"}
        assert out["entry"][1]["resource"]["flags"] == [True, None, 1.5]
        assert out["tuple"] == ("2026-11-11T10:00:00Z", "x")
        assert not has_markers(out)

    def test_input_is_not_mutated_and_result_is_new(self) -> None:
        doc = {"a": ["@now", {"b": "@today"}]}
        before = copy.deepcopy(doc)
        out = expand(doc, NOW)
        assert doc == before
        assert out is not doc and out["a"] is not doc["a"]

    def test_keys_are_not_expanded(self) -> None:
        assert expand({"@now": "@now"}, NOW) == {"@now": "2026-11-12T10:00:00Z"}

    @pytest.mark.parametrize(
        "text",
        ["@nowhere", "@todays", "now", "today", "@now ", " @now", "@NOW", "seen @now-3d", "", "@",
         "2026-01-01"],
    )
    def test_non_markers_are_untouched(self, text: str) -> None:
        assert expand(text, NOW) == text
        assert expand({"k": [text]}, NOW) == {"k": [text]}
        assert not is_marker(text)
        assert not has_markers({"k": [text]})

    @pytest.mark.parametrize("scalar", [None, True, 0, 3.5, 10**20])
    def test_scalars_are_untouched(self, scalar: object) -> None:
        assert expand(scalar, NOW) is scalar


class TestHasMarkers:
    def test_detects_deep_marker(self) -> None:
        assert has_markers({"a": [{"b": [1, "x", "@now-6mo"]}]})
        assert has_markers(["@today"])
        assert has_markers("@now+1d")

    def test_false_without_markers(self) -> None:
        assert not has_markers({"a": [{"b": [1, "x", "2026-01-01"]}], "@now": 1})
        assert not has_markers([])
        assert not has_markers(None)


class TestErrors:
    @pytest.mark.parametrize("marker", ["@now-3x", "@now-", "@now+d", "@now-1.5d", "@today-12h",
                                        "@today+5min", "@now--1d", "@now-1d2"])
    def test_malformed_markers_raise(self, marker: str) -> None:
        assert is_marker(marker)
        with pytest.raises(ValueError, match="marker"):
            expand({"x": [marker]}, NOW)

    def test_naive_now_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            expand("@now", datetime(2026, 11, 12, 10, 0))

    def test_expand_marker_rejects_plain_text(self) -> None:
        with pytest.raises(ValueError, match="not a relative-date marker"):
            expand_marker("@nowhere", NOW)
