"""The gateway's FIX dictionary: what it holds, how the loader treats defects, and QuickFIX loading it."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from router.domain.errors import ConfigError
from router.fix.dictionary import DEFAULT_PATH, load_dictionary, load_dictionary_text

README = Path(DEFAULT_PATH).parent / "README.md"

SESSION_TYPES = {b"A": "Logon", b"0": "Heartbeat", b"1": "TestRequest", b"2": "ResendRequest",
                 b"3": "Reject", b"4": "SequenceReset", b"5": "Logout"}
APP_TYPES = {b"D": "NewOrderSingle", b"F": "OrderCancelRequest", b"G": "OrderCancelReplaceRequest",
             b"H": "OrderStatusRequest", b"q": "OrderMassCancelRequest", b"r": "OrderMassCancelReport",
             b"8": "ExecutionReport", b"9": "OrderCancelReject", b"j": "BusinessMessageReject",
             b"V": "MarketDataRequest", b"W": "MarketDataSnapshotFullRefresh",
             b"X": "MarketDataIncrementalRefresh", b"Y": "MarketDataRequestReject",
             b"x": "SecurityListRequest", b"y": "SecurityList", b"AN": "RequestForPositions",
             b"AP": "PositionReport", b"e": "SecurityStatusRequest", b"f": "SecurityStatus",
             b"AD": "TradeCaptureReportRequest", b"AE": "TradeCaptureReport", b"AQ": "TradeCaptureReportRequestAck"}


@pytest.fixture(scope="module")
def d():
    return load_dictionary()


def test_exactly_the_gateway_messages(d):
    assert {t: m.name for t, m in d.messages.items()} == {**SESSION_TYPES, **APP_TYPES}
    assert all(d.messages[t].is_admin for t in SESSION_TYPES)
    assert not any(d.messages[t].is_admin for t in APP_TYPES)
    msg_type_enum = d.fields[35].values
    assert msg_type_enum == set(d.messages)


def test_header_trailer_and_version(d):
    assert d.begin_string == b"FIX.4.4"
    assert d.header[:3] == (8, 9, 35)
    assert d.header_required == {8, 9, 35, 49, 56, 34, 52}
    assert {43, 97, 122, 115, 128, 369} <= set(d.header)
    assert d.trailer[-1] == 10 and d.trailer_required == {10}


def test_every_defined_field_is_used(d):
    assert d.unused_fields == frozenset()


def test_session_message_contents(d):
    assert d.message(b"A").required == {98, 108}
    assert {141, 789, 553, 554} <= d.message(b"A").allowed
    assert d.message(b"1").required == {112}
    assert d.message(b"2").required == {7, 16}
    assert d.message(b"4").required == {36}
    assert d.message(b"3").required == {45} and {371, 372, 373, 58} <= d.message(b"3").allowed


def test_order_messages(d):
    nos = d.message(b"D")
    assert nos.required == {11, 55, 54, 60, 38, 40}
    assert {44, 59, 1, 7001, 7002, 7003, 7004, 7005, 7007} <= nos.allowed
    assert set(nos.groups) == {453}
    parties = nos.groups[453]
    assert parties.delimiter == 448 and parties.required == {448}
    assert d.message(b"8").required == {37, 17, 150, 39, 55, 54, 151, 14, 6}
    assert {7006, 7008, 7001, 7002} <= d.message(b"8").allowed
    assert {7001, 7005} <= d.message(b"G").allowed
    assert d.message(b"q").required == {11, 530, 60}
    assert d.message(b"r").required == {37, 530, 531}


def test_market_data_and_security_list_groups(d):
    v = d.message(b"V")
    assert set(v.groups) == {267, 146}
    assert v.groups[267].order == (269,)
    assert v.groups[146].delimiter == 55
    assert 7013 in v.allowed
    w = d.message(b"W")
    assert w.groups[268].delimiter == 269 and 7014 in w.groups[268].members
    x = d.message(b"X")
    assert x.groups[268].delimiter == 279 and 55 in x.groups[268].members
    assert x.groups[268].required == {279}  # Instrument inside X is optional, so 55 is too
    y = d.message(b"y")
    sym = y.groups[146]
    assert {15, 231, 969, 561, 562, 7009, 7010, 7011, 7012} <= sym.members
    assert sym.required == {55}


def test_types_and_enumerations(d):
    assert d.fields[44].type == "PRICE" and d.fields[38].type == "QTY"
    assert d.fields[52].type == "UTCTIMESTAMP" and d.fields[34].type == "SEQNUM"
    assert {b"1", b"2", b"3", b"G"} <= d.fields[54].values  # every FIX 4.4 Side; the order flow says which it supports
    assert d.field_named("GoldAllowedVenues").multi_value
    assert not d.fields[7005].values  # venues are checked by the order flow against the catalogue
    assert d.fields[373].values >= {b"%d" % v for v in (0, 1, 2, 3, 4, 5, 6, 9, 10, 11, 13, 14, 15, 16, 99)}
    assert d.tag("GoldRouteExplain") == 7006


def test_custom_tags_are_user_defined_and_documented(d):
    custom = {t: f for t, f in d.fields.items() if t >= 5000}
    assert custom, "gold tags missing"
    assert all(5000 <= t <= 9999 and f.name.startswith("Gold") for t, f in custom.items())
    text = README.read_text(encoding="utf-8")
    rows = {int(m.group(1)): m.group(2) for m in re.finditer(r"^\|\s*(\d{4})\s*\|\s*(\w+)\s*\|", text, re.M)}
    assert rows == {t: f.name for t, f in custom.items()}
    for t, f in custom.items():
        for enum in f.values:
            assert f"`{enum.decode()}`" in text, (t, enum)


def test_readme_states_units_of_quantity_and_price():
    text = README.read_text(encoding="utf-8")
    assert "OrderQty(38)" in text and "Price(44)" in text
    for instrument in ("SGE.AU9999", "SGEI.IAU9999", "HKGX.AU99TAEL", "HKGX.RKG", "HKGX.LLG",
                       "SGE.AUTD", "SGE.MAUTD"):
        assert instrument in text


# --- loader defects -----------------------------------------------------------

MINI = """<fix type="FIX" major="4" minor="4">
<header><field name="BeginString" required="Y"/><field name="BodyLength" required="Y"/>
<field name="MsgType" required="Y"/></header>
<messages>{messages}</messages>
<trailer><field name="CheckSum" required="Y"/></trailer>
<components>{components}</components>
<fields>
<field number="8" name="BeginString" type="STRING"/><field number="9" name="BodyLength" type="LENGTH"/>
<field number="35" name="MsgType" type="STRING"/><field number="10" name="CheckSum" type="STRING"/>
<field number="58" name="Text" type="STRING"/><field number="146" name="NoRelatedSym" type="NUMINGROUP"/>
<field number="55" name="Symbol" type="STRING"/>{fields}
</fields></fix>"""


def mini(messages="", components="", fields=""):
    return MINI.format(messages=messages, components=components, fields=fields)


def test_minimal_dictionary_with_component_and_nested_requiredness():
    d = load_dictionary_text(mini(
        messages='<message name="M" msgtype="U1" msgcat="app"><component name="C" required="N"/>'
                 '<field name="Text" required="Y"/></message>',
        components='<component name="C"><group name="NoRelatedSym" required="Y">'
                   '<field name="Symbol" required="Y"/></group></component>'))
    m = d.message(b"U1")
    assert m.order == (146, 58)
    assert m.required == {58}  # 146 is required only when component C is
    assert m.groups[146].required == {55}


@pytest.mark.parametrize("text, key, problem", [
    (mini(messages='<message name="M" msgtype="U1"><field name="Nope" required="Y"/></message>'),
     "messages/M/Nope", "not defined"),
    (mini(messages='<message name="M" msgtype="U1"><component name="Zed" required="Y"/></message>'),
     "messages/M/Zed", "component that is not defined"),
    (mini(fields='<field number="60" name="T" type="WEIRD"/>'), "fields/T", "unknown type"),
    (mini(fields='<field number="58" name="Text2" type="STRING"/>'), "fields/Text2", "twice"),
    (mini(fields='<field number="x" name="Bad" type="STRING"/>'), "fields/Bad", "not an integer"),
    (mini(messages='<message name="M" msgtype="U1"><group name="Text" required="Y">'
                   '<field name="Symbol" required="Y"/></group></message>'),
     "messages/M/Text", "NUMINGROUP"),
    (mini(messages='<message name="M" msgtype="U1" msgcat="other"/>'), "messages/M", "msgcat"),
    (mini(messages='<message name="M" msgtype="U1"/><message name="N" msgtype="U1"/>'),
     "messages/N", "twice"),
    (mini(messages='<message name="M" msgtype="U1"><field name="Text" required="Y"/>'
                   '<field name="Text" required="N"/></message>'), "messages/M", "twice"),
    (mini(messages='<message name="M" msgtype="U1"><field name="MsgType" required="Y"/></message>'),
     "messages/M", "header"),
    (mini().replace('<messages></messages>', ''), "messages", "missing"),
    ("<fix><header>", "fix", "cannot parse"),
], ids=["field", "component", "type", "duplicate-number", "number", "group-count", "msgcat",
        "duplicate-msgtype", "duplicate-member", "header-in-body", "no-messages", "xml"])
def test_defects_raise_config_error(text, key, problem):
    with pytest.raises(ConfigError) as info:
        load_dictionary_text(text, source="test.xml")
    assert info.value.key == key
    assert problem in info.value.problem
    assert info.value.file == "test.xml"


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_dictionary(tmp_path / "absent.xml")
    assert info.value.file == str(tmp_path / "absent.xml")


# --- a stock QuickFIX engine -------------------------------------------------

@pytest.mark.quickfix
def test_quickfix_loads_the_dictionary(d):
    fix = pytest.importorskip("quickfix")
    qd = fix.DataDictionary(str(DEFAULT_PATH))
    assert qd.getVersion() == "FIX.4.4"
    for msg_type in d.messages:
        assert qd.isMsgType(msg_type.decode())
    for tag in d.fields:
        assert qd.isField(tag)
    assert qd.isGroup("V", 146) and qd.isGroup("V", 267) and qd.isGroup("y", 146)
    assert qd.isGroup("W", 268) and qd.isGroup("X", 268) and qd.isGroup("D", 453)
    for msg_type, m in d.messages.items():
        for tag in m.allowed:
            assert qd.isRequiredField(msg_type.decode(), tag) == (tag in m.required), (msg_type, tag)
