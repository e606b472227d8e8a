"""Loopgate's own check for schemathesis: every client error says what went wrong.

Loaded with SCHEMATHESIS_HOOKS=hooks (scripts/fuzz-api.sh sets it). Server errors are caught by
schemathesis' built-in `not_a_server_error` check.
"""

import schemathesis


@schemathesis.check
def client_errors_carry_an_error_code(ctx, response, case):
    """A 4xx answer is `{"error": {"code": "snake_case", "message": "..."}}`."""
    if not 400 <= response.status_code < 500:
        return None
    try:
        body = response.json()
    except Exception as exc:  # noqa: BLE001 - any parse failure is the finding
        raise AssertionError(f"{response.status_code} without a JSON body: {exc}") from exc
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        raise AssertionError(f"{response.status_code} without an `error` object: {body!r}")
    code, message = error.get("code"), error.get("message")
    if not isinstance(code, str) or not code or not all(c.islower() or c == "_" for c in code):
        raise AssertionError(f"{response.status_code} with a malformed error code: {code!r}")
    if not isinstance(message, str) or not message:
        raise AssertionError(f"{response.status_code} ({code}) without a message")
    return None
