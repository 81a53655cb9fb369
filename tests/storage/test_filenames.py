from __future__ import annotations

import pytest

from storage.filenames import clean_filename


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (None, ""),
        ("", ""),
        ("car.jpg", "car.jpg"),
        ("/abs/path/car.jpg", "car.jpg"),
        ("C:\\Users\\me\\car.jpg", "car.jpg"),
        ("../..", ""),
        ("..", ""),
        ("zero\u200bwidth.jpg", "zerowidth.jpg"),
        ("bell\x07.jpg", "bell.jpg"),
        ("Citro\u0065\u0308n.jpg", "Citro\u00ebn.jpg"),  # NFC: one code point for ë
        ("voiture été.jpg", "voiture été.jpg"),
    ],
)
def test_clean_filename(raw: str | None, clean: str) -> None:
    assert clean_filename(raw, max_length=200) == clean


def test_long_names_keep_their_extension() -> None:
    assert clean_filename("x" * 500 + ".jpeg", max_length=50) == "x" * 45 + ".jpeg"
