"""What one GraphQL document may cost, measured before any validator walks it.

graphql-core's validators, and Strawberry's depth and alias limiters, walk a
fragment once per spread: `fragment F0 { ...F1 ...F1 }` ... `fragment F30 {...}`
is 1 KB of text and 2^30 selections to them, and each spread walked again blocks
the event loop. Here each fragment is measured once, in dependency order, and
its spreads then add its figures (selections, depth, aliases) without walking it
again: linear in the document. Only a document whose expanded size is within
the limit is then walked in full, once, to count fields repeated in one
selection set (graphql-core compares those pairwise).

Integer literals are measured first: Python refuses to turn more than 4,300
digits into an int, and graphql-core's Int parsing then fails with a
ValueError, which reads as a bug ("Unexpected error.", a logged traceback)
instead of the client's mistake that it is.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from typing import Any

from anyio import CapacityLimiter, to_thread
from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Visitor,
    parse,
    visit,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

TOO_COMPLEX = "QUERY_TOO_COMPLEX"
INVALID = "GRAPHQL_VALIDATION_FAILED"
# Figures stop growing here: a fan-out's true count (2^n) is of no interest, and
# keeping the numbers small keeps the arithmetic cheap.
_CAP = 1 << 40


@dataclass(frozen=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_selections: int
    max_fragment_spreads: int
    # Fields asked for again in a selection set where the same response name is
    # already asked for (by the set itself, a fragment, or a merging field).
    max_repeats: int
    # Variable definitions in the whole document. graphql-core checks each
    # variable against every use, so a few thousand unused ones cost it about
    # 100 ms; no operation of this API takes more than a handful.
    max_variables: int = 50


@dataclass(frozen=True)
class _Cost:
    selections: int = 0
    depth: int = 0
    aliases: int = 0


def too_complex(message: str, limit: str, allowed: int) -> GraphQLError:
    return GraphQLError(
        message, extensions={"code": TOO_COMPLEX, "limit": limit, "allowed": allowed}
    )


def check_document(document: DocumentNode, limits: Limits) -> GraphQLError | None:
    """The first limit the document exceeds, as an error for the client; None
    when it is within all of them."""
    fragments: dict[str, FragmentDefinitionNode] = {}
    operations: list[OperationDefinitionNode] = []
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            name = definition.name.value
            if name in fragments:
                # graphql-core would measure one and use the other.
                return GraphQLError(
                    f"There can be only one fragment named '{name}'.",
                    extensions={"code": INVALID},
                )
            fragments[name] = definition
        elif isinstance(definition, OperationDefinitionNode):
            operations.append(definition)
    if (error := _too_many_digits(document)) is not None:
        return error
    variables = sum(len(operation.variable_definitions or ()) for operation in operations)
    if variables > limits.max_variables:
        return too_complex(
            f"The document defines {variables} variables; at most {limits.max_variables}"
            " are allowed.",
            "variables",
            limits.max_variables,
        )

    spreads = sum(
        1
        for definition in document.definitions
        if isinstance(definition, (OperationDefinitionNode, FragmentDefinitionNode))
        for _ in _spreads(definition.selection_set)
    )
    if spreads > limits.max_fragment_spreads:
        return too_complex(
            f"The document has {spreads} fragment spreads; at most"
            f" {limits.max_fragment_spreads} are allowed.",
            "fragmentSpreads",
            limits.max_fragment_spreads,
        )
    order = _dependency_order(operations, fragments)
    if isinstance(order, GraphQLError):
        return order
    costs: dict[str, _Cost] = {}
    for name in order:  # a fragment's own spreads are measured before it
        costs[name] = _measure(fragments[name].selection_set, costs)

    selections = aliases = 0
    for operation in operations:
        cost = _measure(operation.selection_set, costs)
        if cost.depth > limits.max_depth:
            name = operation.name.value if operation.name else "anonymous"
            return too_complex(
                f"'{name}' exceeds maximum operation depth of {limits.max_depth}",
                "depth",
                limits.max_depth,
            )
        selections = min(selections + cost.selections, _CAP)
        aliases = min(aliases + cost.aliases, _CAP)
    if selections > limits.max_selections:
        return too_complex(
            f"The document selects too much: more than {limits.max_selections} fields,"
            " fragment spreads and inline fragments once its fragments are expanded.",
            "selections",
            limits.max_selections,
        )
    if aliases > limits.max_aliases:
        return too_complex(
            f"{_at_most(aliases)} aliases found. Allowed: {limits.max_aliases}",
            "aliases",
            limits.max_aliases,
        )
    return _repeated_field(operations, fragments, limits.max_repeats)


class _LongIntegers(Visitor):
    def __init__(self, most: int) -> None:
        super().__init__()
        self.most = most
        self.found: IntValueNode | None = None

    def enter_int_value(self, node: IntValueNode, *_: Any) -> Any:
        if len(node.value.lstrip("-")) > self.most:
            self.found = node
            return self.BREAK
        return None


def _too_many_digits(document: DocumentNode) -> GraphQLError | None:
    """An integer literal (an argument, a default value, in a list or an input
    object) longer than int() accepts. No Int, nor an id, is that long."""
    most = sys.get_int_max_str_digits() or sys.maxsize  # 0: no limit
    finder = _LongIntegers(most)
    visit(document, finder)
    if finder.found is None:
        return None
    digits = len(finder.found.value.lstrip("-"))
    return GraphQLError(
        f"An integer of {digits} digits is not a value any argument accepts;"
        f" integers have at most {most} digits.",
        finder.found,
        extensions={"code": INVALID},
    )


def _at_most(count: int) -> str:
    return "Too many" if count >= _CAP else str(count)


def _spreads(selection_set: SelectionSetNode) -> Iterator[str]:
    """Names of the fragments spread anywhere in a selection set, not entering
    the fragments themselves."""
    for selection in selection_set.selections:
        if isinstance(selection, FragmentSpreadNode):
            yield selection.name.value
        elif isinstance(selection, (FieldNode, InlineFragmentNode)) and selection.selection_set:
            yield from _spreads(selection.selection_set)


def _dependency_order(
    operations: list[OperationDefinitionNode], fragments: dict[str, FragmentDefinitionNode]
) -> list[str] | GraphQLError:
    """The fragments the operations use, each after the fragments it spreads; an
    error for a cycle. Iterative: a chain of fragments is as long as the
    document allows, deeper than Python's recursion limit."""
    done: set[str] = set()
    order: list[str] = []
    for operation in operations:
        stack: list[tuple[str, Iterator[str]]] = [("", _spreads(operation.selection_set))]
        entered: set[str] = set()
        while stack:
            name, pending = stack[-1]
            spread = next(pending, None)
            if spread is None:
                stack.pop()
                if name:
                    entered.discard(name)
                    done.add(name)
                    order.append(name)
            elif spread in entered:
                return GraphQLError(
                    f"Cannot spread fragment '{spread}' within itself.",
                    extensions={"code": INVALID},
                )
            elif spread not in done and spread in fragments:
                entered.add(spread)
                stack.append((spread, _spreads(fragments[spread].selection_set)))
    return order


def _measure(selection_set: SelectionSetNode, fragments: dict[str, _Cost]) -> _Cost:
    """Selections (a fragment's counted each time it is spread), depth (as
    Strawberry's QueryDepthLimiter counts it: introspection fields aside) and
    aliases of a selection set, using the costs of the fragments it spreads.
    Recursive along the text only, which the parser keeps shallow."""
    selections = depth = aliases = 0
    for selection in selection_set.selections:
        selections += 1
        inner = _Cost()
        if isinstance(selection, FieldNode):
            aliases += selection.alias is not None
            if selection.selection_set:
                inner = _measure(selection.selection_set, fragments)
                if not selection.name.value.startswith("__"):
                    depth = max(depth, inner.depth + 1)
        elif isinstance(selection, InlineFragmentNode):
            inner = _measure(selection.selection_set, fragments)
            depth = max(depth, inner.depth)
        elif isinstance(selection, FragmentSpreadNode):
            inner = fragments.get(selection.name.value, inner)
            depth = max(depth, inner.depth)
        selections = min(selections + inner.selections, _CAP)
        aliases = min(aliases + inner.aliases, _CAP)
    return _Cost(selections, depth, aliases)


def _repeated_field(
    operations: list[OperationDefinitionNode],
    fragments: dict[str, FragmentDefinitionNode],
    max_repeats: int,
) -> GraphQLError | None:
    """Too many fields asked for again in one selection set, counting those its
    fragments bring and those of the sub-selections of fields that merge
    (`{ a { b } a { b } }` asks for `b` again under `a`): graphql-core compares
    such fields pairwise. Walks the expanded document, so it is called only once
    that is known to be small."""
    repeats = 0
    groups: list[list[SelectionSetNode]] = [[op.selection_set] for op in operations]
    while groups:
        pending = groups.pop()
        fields: dict[str, list[FieldNode]] = {}
        while pending:
            for selection in pending.pop().selections:
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    fields.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    pending.append(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    fragment = fragments.get(selection.name.value)
                    if fragment is not None:
                        pending.append(fragment.selection_set)
        for key, same in fields.items():
            repeats += len(same) - 1
            if repeats > max_repeats:
                return too_complex(
                    f"The document asks for fields again in the same selection set more"
                    f" than {max_repeats} times (fragments included), '{key}' for one;"
                    " ask for each field once.",
                    "repeats",
                    max_repeats,
                )
            inner = [field.selection_set for field in same if field.selection_set]
            if inner:
                groups.append(inner)
    return None


def validate(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
    limits: Limits,
) -> list[GraphQLError]:
    """The limits first; then, for a document within them, the validation
    Strawberry would run (its rules, and those extensions added)."""
    error = check_document(document, limits)
    if error is not None:
        return [error]
    return validate_document(schema, document, rules) if rules else []


class DocumentLimits(SchemaExtension):
    """Checks the limits and validates in a worker thread, in place of
    Strawberry's validation on the event loop: graphql-core takes about 50 µs
    per selection, 40 ms for the largest document within the limits, and the
    loop must go on answering meanwhile. One thread for all requests: more
    would only compete with the loop for the interpreter, which lets it run
    again every few milliseconds (sys.getswitchinterval)."""

    def __init__(self, limits: Limits, threads: CapacityLimiter) -> None:
        self.limits = limits
        self.threads = threads

    async def on_parse(self) -> AsyncIterator[None]:
        # Parsing is pure Python too (a 13 KB document takes 15 ms): it runs in
        # the same thread. A document that fails to parse is left to Strawberry,
        # which parses it again on the loop to report the error its own way.
        run = self.execution_context
        if run.graphql_document is None and isinstance(run.query, str):
            with suppress(GraphQLError):
                run.graphql_document = await to_thread.run_sync(
                    partial(parse, run.query, **run.parse_options), limiter=self.threads
                )
        yield

    async def on_validate(self) -> AsyncIterator[None]:
        run = self.execution_context
        if run.graphql_document is not None and run.pre_execution_errors is None:
            # Set, even empty, it stands for validation: Strawberry skips its own.
            run.pre_execution_errors = await to_thread.run_sync(
                validate,
                run.schema._schema,  # the graphql-core schema, as Strawberry validates it
                run.graphql_document,
                tuple(run.validation_rules),
                self.limits,
                limiter=self.threads,
            )
        yield
