"""FIX logon credentials: salted scrypt password hashes and the per-address failure throttle.

Job: `hash_password` makes the text stored in config (`scrypt$n$r$p$salt_b64$hash_b64`, scrypt from
the standard library, a random 16-byte salt); `hash_problem` says what is wrong with a configured
value (a clear-text password is refused, so config never holds one); `verify_password` checks a
Logon's Password(554) against a stored hash in constant time (`hmac.compare_digest`).
`LogonThrottle` counts failed logons per client address and refuses that address for a cool-down
once it fails `limit` times within `window`; times are passed in (the gateway's clock).

Not its job: deciding what a refused Logon says (the gateway answers every refusal of identity
with the same text), reading config files, or TLS.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

__all__ = ["hash_password", "hash_problem", "verify_password", "LogonThrottle", "DUMMY_HASH"]

# Interactive-login strength (about 16 MiB and tens of milliseconds per check).
DEFAULT_N, DEFAULT_R, DEFAULT_P = 2 ** 14, 8, 1
_MAX_N = 2 ** 20
_MAXMEM = 256 * 1024 * 1024


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str | bytes, *, n: int = DEFAULT_N, r: int = DEFAULT_R, p: int = DEFAULT_P,
                  salt: bytes | None = None) -> str:
    """The config text for a password: `scrypt$n$r$p$salt_b64$hash_b64`."""
    if isinstance(password, str):
        password = password.encode("utf-8")
    if not password:
        raise ValueError("the password is empty")
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes] | str:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return "is not a scrypt hash (scrypt$n$r$p$salt$hash)"
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
    except ValueError:
        return "has non-numeric scrypt parameters"
    if n < 2 or n & (n - 1) or n > _MAX_N:
        return f"has scrypt n={n}; it must be a power of two, 2..{_MAX_N}"
    if not 1 <= r <= 64 or not 1 <= p <= 16 or 128 * r * n * p > _MAXMEM:
        return f"has scrypt r={r}, p={p} out of range"
    try:
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
    except (binascii.Error, ValueError):
        return "has a salt or hash that is not base64"
    if len(salt) < 8 or len(digest) < 16:
        return "has a salt or hash too short to be real"
    return n, r, p, salt, digest


def hash_problem(stored: str) -> str | None:
    """None if `stored` is a usable hash, else what is wrong (for a ConfigError)."""
    problem = _parse(stored)
    if isinstance(problem, str):
        if not stored.startswith("scrypt$"):
            return ("looks like a clear-text password, which is refused; run `gold-router hash-password` "
                    "and store its output (scrypt$n$r$p$salt$hash) instead")
        return problem
    return None


# Checked when a session has no password or does not exist, so a refusal costs the same time
# whether or not the CompID is real.
DUMMY_HASH = f"scrypt${DEFAULT_N}${DEFAULT_R}${DEFAULT_P}${_b64(bytes(16))}${_b64(bytes(32))}"


def verify_password(stored: str, given: bytes) -> bool:
    """True if `given` hashes to `stored` (constant-time comparison of the digests)."""
    parsed = _parse(stored)
    if isinstance(parsed, str):
        return False
    n, r, p, salt, digest = parsed
    got = hashlib.scrypt(given, salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=len(digest))
    return hmac.compare_digest(got, digest)


class LogonThrottle:
    """Failed logons per client address: `limit` failures within `window_ns` lock the address out
    for `lockout_ns`.  Bounded: at most `max_addresses` addresses are tracked (the oldest go)."""

    def __init__(self, limit: int, window_ns: int, lockout_ns: int, max_addresses: int = 10000) -> None:
        self.limit = limit
        self.window_ns = window_ns
        self.lockout_ns = lockout_ns
        self.max_addresses = max_addresses
        self._failures: dict[str, list[int]] = {}  # address -> failure times within the window
        self._locked: dict[str, int] = {}  # address -> locked until (ns)

    def locked(self, address: str, now: int) -> bool:
        until = self._locked.get(address)
        if until is None:
            return False
        if now >= until:
            del self._locked[address]
            return False
        return True

    def failed(self, address: str, now: int) -> bool:
        """Record a failure; True if it locked the address out."""
        times = [t for t in self._failures.pop(address, ()) if now - t < self.window_ns]
        times.append(now)
        if len(times) >= self.limit:
            if len(self._locked) >= self.max_addresses:
                self._locked.pop(next(iter(self._locked)))
            self._locked[address] = now + self.lockout_ns
            return True
        if len(self._failures) >= self.max_addresses:
            self._failures.pop(next(iter(self._failures)))
        self._failures[address] = times  # re-inserted last: the dict stays oldest-first
        return False

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)

    @property
    def locked_addresses(self) -> int:
        return len(self._locked)
