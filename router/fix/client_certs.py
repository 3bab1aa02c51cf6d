"""TLS client certificates for FIX sessions: parse a configured subject and match a peer's certificate.

A session configured with `tls_client_subject = "CN=BROKER1,O=Gold Broker"` may log on only over a TLS
connection whose client certificate (verified against `fix.tls_ca`) has exactly that subject: the same
attribute/value pairs, in any order. Attribute names are the usual short ones (CN, O, OU, C, ST, L,
emailAddress, serialNumber, DC, UID); a comma or plus inside a value is escaped with a backslash, as
in RFC 4514.

Not here: verifying the certificate chain (the TLS handshake does it with `fix.tls_ca`), loading files,
or deciding what a mismatch means (the gateway refuses the Logon like bad credentials).
"""
from __future__ import annotations

from typing import Any

__all__ = ["parse_subject", "peer_subject", "subject_text"]

# ssl.getpeercert() long names -> the short names written in configuration
_SHORT = {
    "commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU", "countryName": "C",
    "stateOrProvinceName": "ST", "localityName": "L", "emailAddress": "emailAddress",
    "serialNumber": "serialNumber", "domainComponent": "DC", "userId": "UID",
}
_KNOWN = frozenset(_SHORT.values())
_CASE = {name.lower(): name for name in _KNOWN}


def _split(text: str, sep: str) -> list[str]:
    parts, cur, escaped = [], [], False
    for ch in text:
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep or (sep == "," and ch == "+"):
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_subject(text: str) -> frozenset[tuple[str, str]]:
    """`"CN=BROKER1,O=Gold Broker"` as a set of (attribute, value); ValueError names what is wrong."""
    pairs = set()
    for part in _split(text, ","):
        name, eq, value = part.strip().partition("=")
        if not eq or not name.strip() or not value.strip():
            raise ValueError(f"{part.strip()!r} is not ATTRIBUTE=value")
        short = _CASE.get(name.strip().lower())
        if short is None:
            raise ValueError(f"unknown attribute {name.strip()!r} (known: {', '.join(sorted(_KNOWN))})")
        pairs.add((short, value.strip()))
    if not pairs:
        raise ValueError("empty subject")
    return frozenset(pairs)


def peer_subject(peercert: Any) -> frozenset[tuple[str, str]] | None:
    """The subject of a verified peer certificate (`ssl` `getpeercert()` form), None without one."""
    if not peercert:
        return None
    pairs = set()
    for rdn in peercert.get("subject", ()):
        for name, value in rdn:
            pairs.add((_SHORT.get(name, name), value))
    return frozenset(pairs)


def subject_text(subject: frozenset[tuple[str, str]] | None) -> str:
    """For log lines: the subject sorted as attribute=value, or 'no certificate'."""
    if subject is None:
        return "no certificate"
    return ",".join(f"{k}={v}" for k, v in sorted(subject))
