"""schemathesis hooks for scripts/fuzz.sh: a value strategy for the hub's Money scalar, and the
check that matters here. schemathesis' own GraphQL check fails on any entry in `errors`, but the hub
answers refusals (FORBIDDEN, BAD_USER_INPUT, ...) that way by design; a failure of the service is a
5xx status, a body that is not a GraphQL response, or an error whose code is INTERNAL."""

from hypothesis import strategies as st

import schemathesis
from schemathesis.graphql import nodes

MONEY = st.one_of(
    st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False, allow_infinity=False).map(
        lambda d: nodes.String(f"{d:.2f}")
    ),
    st.text(max_size=24).map(nodes.String),
)
schemathesis.graphql.scalar("Money", MONEY)


@schemathesis.check
def hub_no_server_error(ctx, response, case):
    """No 5xx, a JSON GraphQL body, and no INTERNAL error code."""
    if response.status_code >= 500:
        raise AssertionError(f"server error {response.status_code}: {response.text[:500]}")
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError as exc:
        raise AssertionError(f"not a JSON body: {response.text[:200]}") from exc
    if not isinstance(body, dict) or not ("data" in body or "errors" in body):
        raise AssertionError(f"not a GraphQL response: {response.text[:200]}")
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if code == "INTERNAL":
            raise AssertionError(f"INTERNAL error: {error.get('message')}")
    return None
