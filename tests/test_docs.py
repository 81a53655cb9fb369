"""The README and docs/ stay true: every link leads somewhere, every setting
they name exists, and every setting is documented and in `.env.example`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import errors
from config import Settings

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Environment variables the docs name that belong to other tools, not to Settings.
NOT_SETTINGS = {
    "HF_HUB_OFFLINE",  # huggingface_hub
    "HF_ENDPOINT",  # huggingface_hub
    "TEST_DATABASE_URL",  # the test suite
    "BENCH_RUNS",  # scripts/bench
    "BENCH_SIZES",
    "BENCH_DATABASE_URL",
    "LOAD_CLIENTS",
    "LOAD_SECONDS",
    "HOST",  # python server.py
    "PORT",
    "KEY",  # shell variables in examples
    "METADATA_FILE",  # the original service's, ignored (docs/rest-compat.md)
}
# Fixed limits the docs name: constants in the code, not settings.
CONSTANTS = {"MAX_SEARCH_LENGTH": "resolvers/files.py"}

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
_ASSIGNED = re.compile(r"(?<![\w$])([A-Z][A-Z0-9_]{2,})=")
_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")


def _setting_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def _codes_and_enums() -> set[str]:
    """Upper-case words the API itself uses: error codes and GraphQL enum values."""
    codes = {
        cls.code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.AppError)
    }
    schema = (ROOT / "schema.graphql").read_text()
    enums = set()
    for body in re.findall(r"^enum \w+ \{(.*?)^\}", schema, re.DOTALL | re.MULTILINE):
        enums |= set(re.findall(r"^\s+([A-Z][A-Z0-9_]*)\s*$", body, re.MULTILINE))
    limits = (ROOT / "schema" / "limits.py").read_text()
    return codes | enums | set(re.findall(r'^[A-Z_]+ = "([A-Z_]+)"$', limits, re.MULTILINE))


def _anchor(heading: str) -> str:
    """GitHub's slug of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = _FENCE.sub("", page.read_text())
    return {_anchor(m) for m in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_leads_to_a_file_and_heading_that_exist(page: Path) -> None:
    broken = []
    for target in _LINK.findall(_FENCE.sub("", page.read_text())):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        where = (page.parent / path).resolve() if path else page
        if not where.exists():
            broken.append(f"{target}: no such file")
        elif anchor and where.suffix == ".md" and anchor not in _anchors(where):
            broken.append(f"{target}: no heading #{anchor} in {where.name}")
    assert not broken, f"{page.name}: {broken}"


def test_the_readme_is_short_and_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 160
    first_block = _FENCE.search(readme)
    assert first_block is not None
    commands = [line.split()[0] for line in first_block.group(1).splitlines()]
    assert commands == ["scripts/serve", "scripts/test"]


def test_every_setting_the_docs_name_exists() -> None:
    settings = _setting_names()
    for name, module in CONSTANTS.items():
        assert re.search(rf"^{name}\b", (ROOT / module).read_text(), re.MULTILINE), name
    known = settings | NOT_SETTINGS | set(CONSTANTS) | _codes_and_enums()
    unknown: dict[str, set[str]] = {}
    for page in PAGES:
        text = page.read_text()
        named = set(_ASSIGNED.findall(text))  # `NAME=value`, in prose or a code block
        for span in _CODE_SPAN.findall(text):
            named |= {word for word in re.split(r"[\s,;()/]+", span) if _NAME.match(word)}
        for block in _FENCE.findall(text):
            named |= set(_ASSIGNED.findall(block))
        missing = named - known
        if missing:
            unknown[page.name] = missing
    assert not unknown, f"names that are no setting (config.py): {unknown}"


def test_every_setting_is_in_env_example_and_the_docs() -> None:
    example = (ROOT / ".env.example").read_text()
    docs = "\n".join(page.read_text() for page in PAGES)
    in_example = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    settings = _setting_names()
    assert settings - in_example == set(), "settings missing from .env.example"
    assert in_example - settings == set(), ".env.example names settings that do not exist"
    undocumented = {name for name in settings if not re.search(rf"\b{name}\b", docs)}
    assert undocumented == set(), "settings no page of docs/ names"
