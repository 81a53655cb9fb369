"""Stanford Cars class names, read as make, model, body type and year.

Every name has the form "<make> <model> [<body type>] <year>", e.g.
"BMW M3 Coupe 2012", "Land Rover Range Rover SUV 2012",
"Chevrolet Silverado 1500 Hybrid Crew Cab 2012", "Acura TL Type-S 2008" (no body
type). Makes can be several words, so they come from a table; body types are
matched at the end of the name, longest first. A label of any other form keeps
its text with null parts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The 49 makes of Stanford Cars, spelled as in its class names.
MAKES: tuple[str, ...] = (
    "AM General", "Acura", "Aston Martin", "Audi", "BMW", "Bentley", "Bugatti", "Buick",
    "Cadillac", "Chevrolet", "Chrysler", "Daewoo", "Dodge", "Eagle", "FIAT", "Ferrari",
    "Fisker", "Ford", "GMC", "Geo", "HUMMER", "Honda", "Hyundai", "Infiniti", "Isuzu",
    "Jaguar", "Jeep", "Lamborghini", "Land Rover", "Lincoln", "MINI", "Maybach", "Mazda",
    "McLaren", "Mercedes-Benz", "Mitsubishi", "Nissan", "Plymouth", "Porsche", "Ram",
    "Rolls-Royce", "Scion", "Spyker", "Suzuki", "Tesla", "Toyota", "Volkswagen", "Volvo",
    "smart",
)  # fmt: skip

# Longest first, so "Cargo Van" wins over "Van" and "Crew Cab" is one body type.
BODY_TYPES: tuple[str, ...] = tuple(
    sorted(
        (
            "Crew Cab", "Extended Cab", "Regular Cab", "Club Cab", "Quad Cab", "SuperCab",
            "Cargo Van", "Passenger Van", "Minivan", "Van", "Sedan", "Coupe", "Convertible",
            "SUV", "Hatchback", "Wagon",
        ),
        key=len,
        reverse=True,
    )
)  # fmt: skip

_YEAR = re.compile(r"^(19|20)\d\d$")
# Longest first, so "AM General" is tried before a one-word make could match.
_MAKES_LONGEST_FIRST = sorted(MAKES, key=len, reverse=True)


@dataclass(frozen=True)
class CarLabel:
    label: str
    make: str | None = None
    model: str | None = None
    body_type: str | None = None
    year: int | None = None


def parse_label(label: str) -> CarLabel:
    text = " ".join(label.split())
    make = next((m for m in _MAKES_LONGEST_FIRST if text.startswith(m + " ")), None)
    if make is None:
        return CarLabel(label=label)
    rest, _, last = text[len(make) + 1 :].rpartition(" ")
    if not rest or not _YEAR.match(last):
        return CarLabel(label=label)
    body = next((b for b in BODY_TYPES if rest == b or rest.endswith(" " + b)), None)
    model = rest[: -len(body)].rstrip() if body else rest
    if not model:  # the whole middle was a body type: keep it as the model
        model, body = rest, None
    return CarLabel(label=label, make=make, model=model, body_type=body, year=int(last))
