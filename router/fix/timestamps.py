"""FIX UTCTimestamp formatting and parsing for the hot path: every message carries SendingTime.

`utc_timestamp(ns)` formats ``YYYYMMDD-HH:MM:SS.sss``, reusing the date part within a second;
`parse_utc_timestamp(value)` returns ns since the epoch for second, millisecond, microsecond or
nanosecond precision, or None when the value is not a valid UTCTimestamp. No time zones other
than UTC, no clock reads (the caller passes the time).
"""
from __future__ import annotations

import time

_ts_second = -1
_ts_prefix = b""
_ts_ms: int | None = None
_ts_text = b""


def utc_timestamp(ns: int) -> bytes:
    """FIX UTCTimestamp ``YYYYMMDD-HH:MM:SS.sss`` for ns since the epoch (UTC)."""
    global _ts_second, _ts_prefix, _ts_ms, _ts_text
    ms = ns // 1_000_000
    if ms == _ts_ms:
        # A batch of reports is stamped with one clock read: the same text for all of them.
        return _ts_text
    second, rest = divmod(ns, 1_000_000_000)
    if second != _ts_second:
        # Formatting the date part costs a few microseconds; outgoing messages
        # arrive many per second, so reuse it within the second.
        _ts_prefix = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(second)).encode()
        _ts_second = second
    _ts_text = b"%s.%03d" % (_ts_prefix, rest // 1_000_000)
    _ts_ms = ms
    return _ts_text


_DAYS_BEFORE_MONTH = (0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
_FRACTION_SCALE = {3: 1_000_000, 6: 1_000, 9: 1}


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date."""
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    yd = _DAYS_BEFORE_MONTH[m] + d - 1 + (1 if leap and m > 2 else 0)
    y1 = y - 1
    return y1 * 365 + y1 // 4 - y1 // 100 + y1 // 400 + yd - 719162


_MONTH_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _utc_seconds(head: bytes) -> int | None:
    """Epoch seconds of ``YYYYMMDD-HH:MM:SS``, or None."""
    if len(head) != 17 or head[8] != 45 or head[11] != 58 or head[14] != 58:
        return None
    digits = head[0:8] + head[9:11] + head[12:14] + head[15:17]
    if not digits.isdigit():
        return None
    y, mo, d = int(digits[0:4]), int(digits[4:6]), int(digits[6:8])
    hh, mm, ss = int(digits[8:10]), int(digits[10:12]), int(digits[12:14])
    if not (1 <= mo <= 12 and 1 <= d <= _MONTH_DAYS[mo] and hh <= 23 and mm <= 59 and ss <= 60):
        return None
    if mo == 2 and d == 29 and not (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)):
        return None
    return _days_from_civil(y, mo, d) * 86400 + hh * 3600 + mm * 60 + ss


_SECONDS_CACHE: dict[bytes, int] = {}


def parse_utc_timestamp(value: bytes) -> int | None:
    """ns since the epoch for ``YYYYMMDD-HH:MM:SS[.sss|.ssssss|.sssssssss]``; None if invalid."""
    # Every inbound message carries SendingTime and most within the same few
    # seconds: remember the validated whole-second part.
    head = value[:17]
    seconds = _SECONDS_CACHE.get(head)
    if seconds is None:
        seconds = _utc_seconds(head)
        if seconds is None:
            return None
        if len(_SECONDS_CACHE) >= 4096:
            _SECONDS_CACHE.clear()
        _SECONDS_CACHE[head] = seconds
    if len(value) == 17:
        return seconds * 1_000_000_000
    frac = value[18:]
    scale = _FRACTION_SCALE.get(len(frac))
    if value[17] != 46 or not scale or not frac.isdigit():
        return None
    return seconds * 1_000_000_000 + int(frac) * scale
