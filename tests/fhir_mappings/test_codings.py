"""Dates and codings as EHRs send them: partial dates, missing offsets, malformed values."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from fhir_mappings.codings import (
    as_number,
    codes_of,
    first_code,
    parse_date,
    parse_datetime,
    text_of,
    words_of,
)
from fhir_mappings.model import Code, MedClass


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2024", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-05", datetime(2024, 5, 1, tzinfo=UTC)),
        ("2024-05-03", datetime(2024, 5, 3, tzinfo=UTC)),
        ("2024-05-03T10:15:00Z", datetime(2024, 5, 3, 10, 15, tzinfo=UTC)),
        ("2024-05-03T10:15:00", datetime(2024, 5, 3, 10, 15, tzinfo=UTC)),
        ("2024-05-03T10:15", datetime(2024, 5, 3, 10, 15, tzinfo=UTC)),
        ("2024-05-03T10:15:00.123456789+02:00",
         datetime(2024, 5, 3, 10, 15, 0, 123456, tzinfo=timezone(timedelta(hours=2)))),
    ],
)
def test_fhir_dates_become_aware_datetimes(given: str, expected: datetime) -> None:
    parsed = parse_datetime(given)
    assert parsed == expected
    assert parsed is not None and parsed.tzinfo is not None


@pytest.mark.parametrize("garbage", [None, "", "yesterday", "2024-13-01", "2024-02-30T00:00:00Z", 20240501, {}, []])
def test_unparseable_dates_are_none_not_errors(garbage: object) -> None:
    assert parse_datetime(garbage) is None
    assert parse_date(garbage) is None


def test_a_birth_date_is_a_date_and_partial_dates_take_the_first_day() -> None:
    assert parse_date("1980-04-02") == date(1980, 4, 2)
    assert parse_date("1980") == date(1980, 1, 1)


def test_codings_need_system_and_code() -> None:
    concept = {"coding": [{"system": "http://loinc.org", "code": "2465-3", "display": "IgG"},
                          {"code": "no-system"}, "garbage", {"system": "http://snomed.info/sct", "code": 5}],
               "text": "Serum IgG"}
    assert codes_of(concept) == (Code("http://loinc.org", "2465-3", "IgG"),)
    assert text_of(concept) == "Serum IgG"
    assert text_of({"coding": [{"display": "only a display"}]}) == "only a display"
    assert words_of([concept]) == "serum igg | igg"
    assert first_code({"coding": [{"code": "active"}]}) == "active"
    assert codes_of("not a concept") == ()


def test_numbers_are_json_numbers_only() -> None:
    assert as_number(5) == 5.0
    assert as_number(True) is None
    assert as_number("5") is None
    assert as_number(float("nan")) is None


def _reference_parse(text: str) -> datetime | None:
    """The field-by-field reading ``parse_datetime`` used before its ``fromisoformat`` fast path: the
    oracle the fast path must agree with for every FHIR dateTime/instant string."""
    import re

    match = re.match(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$", text)
    if match is None:
        return None
    year, month, dom, hour, minute, second, fraction, zone = match.groups()
    try:
        micro = int((fraction or ".0")[1:7].ljust(6, "0"))
        moment = datetime(int(year), int(month), int(dom), int(hour), int(minute), int(second or 0), micro)
        if zone is None or zone == "Z":
            return moment.replace(tzinfo=UTC)
        return datetime.fromisoformat(moment.isoformat() + zone)
    except ValueError:
        return None


def test_the_fast_datetime_path_agrees_with_the_field_by_field_reading() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    two = st.integers(0, 99).map(lambda n: f"{n:02d}")
    zone = st.sampled_from(["", "Z", "+00:00", "-00:00", "+02:00", "-05:30", "+14:00", "+23:59", "-24:00", "+2:00"])
    fraction = st.sampled_from(["", ".1", ".123", ".123456", ".1234567891", "."])
    seconds = st.one_of(st.just(""), two.map(lambda s: ":" + s))

    @settings(max_examples=400, deadline=None)
    @given(st.integers(1, 9999), two, two, two, two, seconds, fraction, zone)
    def agree(year: int, month: str, day: str, hour: str, minute: str, second: str, frac: str, tz: str) -> None:
        text = f"{year:04d}-{month}-{day}T{hour}:{minute}{second}{frac if second else ''}{tz}"
        assert parse_datetime(text) == _reference_parse(text)
        parsed = parse_datetime(text)
        assert parsed is None or parsed.tzinfo is not None

    agree()


# --- client text is capped where it is read (issue 15, findings 1 and 2) ---------------------------------


def test_an_over_long_code_is_kept_clipped_and_is_never_a_known_code() -> None:
    from fhir_mappings.codings import CLIPPED, ICD10CM, MAX_CODE_CHARS, MAX_SYSTEM_CHARS
    from fhir_mappings.condition_sets import CONDITION_INDEX

    concept = {"coding": [{"system": ICD10CM, "code": "D80.5" + "9" * 200_000},
                          {"system": ICD10CM + "x" * 300_000, "code": "D80.5"},
                          {"system": ICD10CM, "code": "D80.5", "display": "Hyper-IgM" + " syndrome" * 50_000}]}
    long_code, long_system, real = codes_of(concept)
    assert long_code.code == "D80.5" + "9" * (MAX_CODE_CHARS - 5) + CLIPPED
    assert long_system.system.endswith(CLIPPED) and len(long_system.system) == MAX_SYSTEM_CHARS + 1
    assert len(real.display or "") <= 1025 and (real.display or "").endswith(" syndrome " + CLIPPED)
    # the hyper-IgM code alone is recognised; the over-long ones are not codes anybody knows
    assert "hyper-igm" in CONDITION_INDEX.concepts_for([real])
    assert "hyper-igm" not in CONDITION_INDEX.concepts_for([long_code, long_system])


def test_a_clipped_name_never_ends_in_a_word_the_original_does_not_have() -> None:
    from fhir_mappings.codings import CLIPPED, MAX_TEXT_CHARS, clip_text
    from fhir_mappings.drugs import classify_drug

    # "prednisolonexyz…" is no corticosteroid: cutting it to "... prednisolone" would make it one
    name = "a " * ((MAX_TEXT_CHARS - 12) // 2) + "prednisolonexyz" + " tablet" * 50
    clipped = text_of({"text": name}) or ""
    assert clipped.endswith(" " + CLIPPED) and "prednisolone" not in clipped
    assert MedClass.CORTICOSTEROID not in classify_drug((), clipped.lower()).classes
    assert clip_text("x" * 5000) == CLIPPED  # one over-long word: nothing of it is kept
    assert clip_text("Privigen 10% " + "x" * 5000) == "Privigen 10% " + CLIPPED


def test_a_real_name_is_read_whole() -> None:
    name = "{21 (ethinyl estradiol 0.03 MG / levonorgestrel 0.15 MG Oral Tablet) / 7 (inert ingredients 1 MG Oral Tablet) } Pack"
    assert text_of({"text": name}) == name and words_of([{"text": name}]) == name.lower()


def test_two_hundred_kilobytes_of_hostile_words_are_read_in_linear_time() -> None:
    """The reader caps each part; the words of many parts are still matched by linear patterns."""
    hostile = {"text": "estradiol)" + " " * 200_000 + "y",
               "coding": [{"system": "urn:x", "code": "1", "display": "trimethoprim" * 20_000}] * 20}
    words = words_of([hostile])
    assert len(words) < 25 * 1100
    from fhir_mappings.drugs import classify_drug

    assert MedClass.ESTROGEN in classify_drug((), words).classes
