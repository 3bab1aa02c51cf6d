"""The careful field split (router.fix.split_slow): raw-data values holding SOH, tags that are no tag
numbers, and the reasons a body cannot be split. End to end through the decoder: tests/fix/test_codec.py."""
from __future__ import annotations

import pytest

from router.fix.split_slow import _split_slow


def body(text: bytes) -> bytes:
    """A body as the decoder hands it over: 35 up to the field before 10, without the last SOH."""
    return text.replace(b"|", b"\x01")


def test_raw_data_value_is_cut_by_its_length_not_by_soh():
    tags, values, bad = _split_slow(body(b"35=B|95=5|96=a|b=c|58=t"))
    assert tags == [b"35", b"95", b"96", b"58"]
    assert values == [b"B", b"5", b"a\x01b=c", b"t"]
    assert bad is None


@pytest.mark.parametrize("text", [b"0", b"-5", b"055"])
def test_a_number_that_is_no_tag_number_is_split_and_named(text):
    tags, values, bad = _split_slow(body(b"35=0|34=2|" + text + b"=x|" + text + b"=y"))
    assert tags == [b"35", b"34", text, text] and values == [b"0", b"2", b"x", b"y"]
    assert bad == text      # the first one


@pytest.mark.parametrize("text,reason", [
    (b"35=0|novalue", "field without '='"),
    (b"35=0|58|=x", "field without '='"),
    (b"35=0|4x=1", "tag not a number: b'4x'"),
    (b"35=0|=A", "tag not a number: b''"),
    (b"35=B|95=9|96=ab", "data field 96 does not match its length"),
    (b"35=B|95=1|96=ab|58=t", "data field 96 does not match its length"),
])
def test_a_body_that_cannot_be_split_says_why(text, reason):
    assert _split_slow(body(text)) == reason
