"""GraphQL documents that cost a server much to parse, validate or run: the
limits tests send them, and `scripts/bench graphql` times them."""

from __future__ import annotations


def fan_out(n: int) -> str:
    """`{ stats { ...F0 } }`, each fragment spreading the next one twice: 2^n
    selections to anything that expands fragments again at each spread."""
    lines = ["{ stats { ...F0 } }"]
    lines += [f"fragment F{i} on Stats {{ ...F{i + 1} ...F{i + 1} }}" for i in range(n)]
    lines.append(f"fragment F{n} on Stats {{ totalFiles }}")
    return "\n".join(lines)


def repeated(n: int) -> str:
    """One field asked for n times in one selection set."""
    return "{ stats { " + "totalFiles " * n + "} }"


_STATS_FIELDS = (
    "totalFiles processedFiles unprocessedFiles lowConfidenceThreshold lowConfidenceCount"
    " meanInferenceMs __typename byStatus { status count } topBrands { label count }"
    " topMakes { make count } topModels { make model count }"
    " confidenceHistogram { low high count } failures { reason count }"
)


def many_fragments(n: int) -> str:
    """n fragments with every field of Stats, all spread in one selection set:
    graphql-core compares each pair of them."""
    spreads = " ".join(f"...S{i}" for i in range(n))
    fragments = "\n".join(f"fragment S{i} on Stats {{ {_STATS_FIELDS} }}" for i in range(n))
    return f"{{ stats {{ {spreads} }} }}\n{fragments}"


def unused_variables(n: int) -> str:
    """n variables declared and never used: n validation errors to locate."""
    return "query(" + " ".join(f"$v{i}: Int" for i in range(n)) + ") { stats { totalFiles } }"


def long_comment(kb: int) -> str:
    """A valid query behind a comment of `kb` kilobytes: no tokens, only text."""
    return "# " + "x" * (kb * 1024) + "\n{ stats { totalFiles } }"


def wide_query() -> str:
    """The largest honest query within the default limits: 30 aliased pages of
    files, every field of each."""
    node = (
        "id databaseId filename mimeType size width height sha256 uploadedAt status error"
        " processedAt predictions { rank label confidence make model year }"
    )
    pages = " ".join(
        f"p{i}: files(first: 100) {{ totalCount edges {{ node {{ {node} }} }} }}" for i in range(30)
    )
    return "{ " + pages + " }"


def wide_arguments() -> str:
    """`wide_query` with every argument spelled out: near the token limit too."""
    args = 'first: 100, after: null, status: DONE, search: "a", make: "b", order: OLDEST_FIRST'
    node = "id filename status width height predictions { rank label confidence }"
    pages = " ".join(
        f"p{i}: files({args}) {{ totalCount edges {{ node {{ {node} }} }} }}" for i in range(30)
    )
    return "{ " + pages + " }"
