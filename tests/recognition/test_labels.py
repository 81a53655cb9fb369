"""Every Stanford Cars class name reads as make, model, body type and year."""

from __future__ import annotations

from pathlib import Path

import pytest

from recognition.labels import BODY_TYPES, MAKES, CarLabel, parse_label

CLASSES = (
    (Path(__file__).parents[2] / "testkit" / "stanford_cars_classes.txt").read_text().splitlines()
)


def test_the_class_list_is_complete() -> None:
    assert len(CLASSES) == 196
    assert len(set(CLASSES)) == 196
    assert len(MAKES) == 49


@pytest.mark.parametrize("label", CLASSES)
def test_every_class_name_parses(label: str) -> None:
    parts = parse_label(label)
    assert parts.label == label
    assert parts.make in MAKES
    assert parts.year is not None
    assert 1990 <= parts.year <= 2012
    assert parts.model
    assert parts.body_type is None or parts.body_type in BODY_TYPES
    rebuilt = " ".join(p for p in (parts.make, parts.model, parts.body_type, str(parts.year)) if p)
    assert rebuilt == label  # nothing lost, nothing invented


def test_all_49_makes_occur() -> None:
    assert {parse_label(label).make for label in CLASSES} == set(MAKES)


@pytest.mark.parametrize(
    ("label", "make", "model", "body", "year"),
    [
        ("BMW M3 Coupe 2012", "BMW", "M3", "Coupe", 2012),
        ("AM General Hummer SUV 2000", "AM General", "Hummer", "SUV", 2000),
        (
            "Aston Martin V8 Vantage Convertible 2012",
            "Aston Martin",
            "V8 Vantage",
            "Convertible",
            2012,
        ),
        ("Land Rover Range Rover SUV 2012", "Land Rover", "Range Rover", "SUV", 2012),
        (
            "Rolls-Royce Phantom Drophead Coupe Convertible 2012",
            "Rolls-Royce",
            "Phantom Drophead Coupe",
            "Convertible",
            2012,
        ),
        ("smart fortwo Convertible 2012", "smart", "fortwo", "Convertible", 2012),
        (
            "Chevrolet Silverado 1500 Hybrid Crew Cab 2012",
            "Chevrolet",
            "Silverado 1500 Hybrid",
            "Crew Cab",
            2012,
        ),
        ("Chevrolet Express Cargo Van 2007", "Chevrolet", "Express", "Cargo Van", 2007),
        ("Ram C/V Cargo Van Minivan 2012", "Ram", "C/V Cargo Van", "Minivan", 2012),
        ("Ford Ranger SuperCab 2011", "Ford", "Ranger", "SuperCab", 2011),
        ("Acura TL Type-S 2008", "Acura", "TL Type-S", None, 2008),
        ("Mercedes-Benz Sprinter Van 2012", "Mercedes-Benz", "Sprinter", "Van", 2012),
    ],
)
def test_known_labels(label: str, make: str, model: str, body: str | None, year: int) -> None:
    assert parse_label(label) == CarLabel(label, make, model, body, year)


@pytest.mark.parametrize(
    "label",
    [
        "sports car",
        "Unknown Maker X 2012",
        "BMW",
        "BMW M3 Coupe",
        "BMW 2012",
        "Tesla Model S Sedan 3012",
        "",
    ],
)
def test_other_labels_keep_their_text_with_null_parts(label: str) -> None:
    assert parse_label(label) == CarLabel(label)
