"""Checks the hub's GraphQL responses with a second implementation, graphql-core.

Reads one JSON document on standard input:

    {"full_sdl": "...", "cases": [{"name", "introspection", "query", "variables",
                                   "operationName", "response"}, ...]}

`response` is the body as the hub sent it (text, so the order of its keys is kept). `introspection` is the data of the standard introspection query asked as the case's role; the
role's schema is built from it. For each case the query is executed by graphql-core over that
schema (or over the full SDL when it asks for fields the role's schema hides), with resolvers that
read the hub's response data by response key and raise where the hub's errors say a field failed.
graphql-core then completes values and propagates nulls as the specification says, and its result
must equal the hub's: the same data (keys in the same order), the same error paths (the hub may
report more errors only inside a subtree that became null, whose siblings the specification lets
an implementation leave unexecuted), and no error location that is not 1-based.

Where the hub answered `null` above a failed field, the resolvers stand in for the object so
graphql-core can decide for itself how far that `null` goes: the stand-in's other fields answer
valid placeholder values, so it becomes `null` only if the failure really propagates to it.

Writes a JSON list of the failures (empty when every case conforms) on standard output.

`introspection-query` as the only argument prints the introspection query to send instead.
"""

import json
import sys

from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    build_client_schema,
    build_schema,
    execute,
    get_introspection_query,
    parse,
    validate,
)


class StandIn(dict):
    """An object the hub answered `null` for, with failed fields below it."""


class Placeholder(dict):
    """An object below a stand-in that did not fail: every field answers a valid value."""


SCALAR_PLACEHOLDERS = {"Int": 0, "Float": 0.0, "Boolean": False, "ID": "0"}


def placeholder(type_):
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if isinstance(type_, GraphQLList):
        return []
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLScalarType):
        return SCALAR_PLACEHOLDERS.get(type_.name, "placeholder")
    return Placeholder()


class Case:
    def __init__(self, response):
        self.errors = response.get("errors") or []
        self.error_paths = {tuple(e["path"]) for e in self.errors if e.get("path")}

    def failed_below(self, path):
        n = len(path)
        return any(len(p) > n and p[:n] == path for p in self.error_paths)

    def stand_in(self, type_, path):
        """What graphql-core gets for a position the hub answered `null` at."""
        if not self.failed_below(path):
            return None
        if isinstance(type_, GraphQLNonNull):
            type_ = type_.of_type
        if isinstance(type_, GraphQLList):
            n = len(path)
            size = 1 + max(
                p[n] for p in self.error_paths if len(p) > n and p[:n] == path
            )
            return [self.stand_in_or_placeholder(type_.of_type, path + (i,)) for i in range(size)]
        return StandIn()

    def stand_in_or_placeholder(self, type_, path):
        value = self.stand_in(type_, path)
        return placeholder(type_) if value is None else value

    def with_stand_ins(self, value, type_, path):
        """The hub's value, with stand-ins for the `null`s that have failures below them."""
        if value is None:
            return self.stand_in(type_, path)
        inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if isinstance(inner, GraphQLList) and isinstance(value, list):
            return [
                self.with_stand_ins(item, inner.of_type, path + (i,))
                for i, item in enumerate(value)
            ]
        return value

    def resolve(self, parent, info, **_args):
        node = info.field_nodes[0]
        key = node.alias.value if node.alias else node.name.value
        path = tuple(info.path.as_list())
        if path in self.error_paths:
            raise GraphQLError("the hub reports an error here")
        if isinstance(parent, Placeholder):
            return placeholder(info.return_type)
        if isinstance(parent, StandIn):
            return self.stand_in_or_placeholder(info.return_type, path)
        if not isinstance(parent, dict) or key not in parent:
            raise GraphQLError(f"the hub's response has no key {key!r} here")
        return self.with_stand_ins(parent[key], info.return_type, path)


def bad_locations(response):
    problems = []
    for error in response.get("errors") or []:
        locations = error.get("locations")
        if locations is None:
            continue
        if not locations:
            problems.append(f"empty locations in {error}")
        for loc in locations:
            if loc.get("line", 0) < 1 or loc.get("column", 0) < 1:
                problems.append(f"location {loc} is not 1-based in {error.get('message')!r}")
        if "path" in error and not error["path"]:
            problems.append(f"empty path in {error.get('message')!r}")
    return problems


def check(case, full_schema, schemas):
    # The response as the hub sent it: its keys in the hub's order.
    response = json.loads(case["response"])
    problems = bad_locations(response)
    key = json.dumps(case["introspection"], sort_keys=True)
    if key not in schemas:
        schemas[key] = build_client_schema(case["introspection"])
    schema = schemas[key]
    document = parse(case["query"])
    if validate(schema, document):
        # The role's schema hides a field the query asks for; the hub serves the full schema
        # (and answers such a field with null and FORBIDDEN).
        schema = full_schema
        invalid = validate(schema, document)
        if invalid:
            if response.get("data") is not None or not response.get("errors"):
                problems.append(f"graphql-core finds the document invalid ({invalid[0].message}) but the hub answered data")
            return problems
    state = Case(response)
    data = response.get("data")
    if data is None and not state.error_paths:
        # A request-level error (a limit, a variable, a purpose refused before execution).
        if not response.get("errors"):
            problems.append("no data and no errors")
        return problems
    root = StandIn() if data is None else data
    result = execute(
        schema,
        document,
        root_value=root,
        variable_values=case.get("variables") or {},
        operation_name=case.get("operationName"),
        field_resolver=state.resolve,
    )
    if json.dumps(result.data) != json.dumps(data):
        problems.append(
            "data differs:\n  graphql-core: "
            + json.dumps(result.data)
            + "\n  hub:          "
            + json.dumps(data)
        )
    theirs = {tuple(e.path) for e in result.errors or [] if e.path}
    for error in result.errors or []:
        if tuple(error.path or ()) not in state.error_paths:
            problems.append(f"graphql-core reports {error.message!r} at {error.path}, the hub no error there")
    for path in state.error_paths - theirs:
        if not inside_null(data, path):
            problems.append(f"the hub reports an error at {list(path)} that graphql-core does not reach")
    return problems


def inside_null(data, path):
    """Whether a proper prefix of `path` is null in `data` (a subtree the specification lets an
    implementation abandon)."""
    value = data
    for segment in path[:-1]:
        if value is None:
            return True
        try:
            value = value[segment]
        except (KeyError, IndexError, TypeError):
            return False
    return value is None


def introspection_query():
    """graphql-core's introspection query with type references four levels deep (enough for
    `[T!]!`), within the hub's depth limit."""
    query = get_introspection_query(descriptions=False)
    start = query.index("fragment TypeRef on __Type {")
    nested = "kind name"
    for _ in range(4):
        nested = f"kind name ofType {{ {nested} }}"
    return query[:start] + "fragment TypeRef on __Type { " + nested + " }\n"


def main():
    if sys.argv[1:] == ["introspection-query"]:
        print(introspection_query())
        return
    payload = json.load(sys.stdin)
    full_schema = build_schema(payload["full_sdl"])
    schemas = {}
    failures = []
    for case in payload["cases"]:
        try:
            problems = check(case, full_schema, schemas)
        except Exception as e:  # a crash is a failure of the case, reported with the others
            problems = [f"checker raised {type(e).__name__}: {e}"]
        if problems:
            failures.append({"name": case["name"], "problems": problems})
    json.dump(failures, sys.stdout)


if __name__ == "__main__":
    main()
