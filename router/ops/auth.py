"""Who may look and who may act on the admin HTTP site: the `read` and `operate` bearer tokens.

Job: decide, per request and role, whether `Authorization: Bearer <token>` grants it, and answer a
refusal as a JSON error. Two roles:

- `read` (admin reads: /sessions, /routes, /books, /reference-prices, the console's data and stream)
  is granted by the read token or the operate token;
- `operate` (mutations: kill switch, FX, reference prices) only by the operate token (the former
  `http.admin_token`).

With no token configured at all the site keeps its first-run behaviour: reads are open to loopback
peers only (the default listener is loopback) and mutations are disabled. With any token configured,
every read needs one. Tokens compare in constant time.

Not here: which routes need which role (`router.ops.admin`, `router.ops.console`), where the
tokens come from (config or environment, read by the service), TLS.
"""
from __future__ import annotations

import hmac

from aiohttp import web

from router.ops.exposure import is_loopback

READ = "read"
OPERATE = "operate"


def _error(status: int, reason: str, detail: str, **headers: str) -> web.Response:
    return web.json_response({"error": reason, "detail": detail}, status=status, headers=headers or None)


class TokenAuth:
    """The configured tokens; `refuse(request, role)` is None when the request may go on."""

    def __init__(self, operate_token: str = "", read_token: str = "") -> None:
        self._operate = operate_token.encode()
        self._read = read_token.encode()

    @property
    def open_reads(self) -> bool:
        """No token configured at all: reads are open to loopback peers (first-run behaviour)."""
        return not self._operate and not self._read

    def role_of(self, request: web.Request) -> str | None:
        """The role the request's bearer token grants (OPERATE, READ) or None."""
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        given_b = given.strip().encode()
        if scheme.lower() != "bearer" or not given_b:
            return None
        # Both comparisons always run: the time taken does not say which token was close.
        operate = bool(self._operate) and hmac.compare_digest(given_b, self._operate)
        read = bool(self._read) and hmac.compare_digest(given_b, self._read)
        return OPERATE if operate else READ if read else None

    def refuse(self, request: web.Request, role: str) -> web.Response | None:
        if role == OPERATE and not self._operate:
            return _error(403, "mutations_disabled", "no operate token configured (http.admin_token)")
        if role == READ and self.open_reads:
            if is_loopback(request.remote):
                return None
            return _error(403, "read_token_required",
                          "no read token configured: admin reads are open to loopback clients only "
                          "(set http.read_token)")
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return _error(401, "missing_token", "Authorization: Bearer <token> required",
                          **{"WWW-Authenticate": "Bearer"})
        granted = self.role_of(request)
        if granted is None:
            return _error(403, "bad_token", "token does not match")
        if role == OPERATE and granted != OPERATE:
            return _error(403, "operate_token_required", "this token may read but not operate")
        return None
