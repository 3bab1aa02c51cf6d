"""Load the gateway's FIX data dictionary (QuickFIX XML layout) into plain lookup tables.

Job: read ``fix_specs/FIX44-goldrouter.xml`` (or another file in the same layout),
expand components, and expose per-field types and enumerations, the header (with its
repeating groups, such as the stock FIX44.xml's NoHops(627)) and trailer, and per-message
required/allowed tags and repeating groups. QuickFIX's stock dictionaries load as they ship. Problems in
the file raise ``ConfigError`` naming the file and the element.

Not its job: checking messages (``router.fix.validate`` compiles these tables into
its fast checks), framing, or anything session-related. The tables are read-only
after loading.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from router.domain.errors import ConfigError

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "fix_specs" / "FIX44-goldrouter.xml"

# QuickFIX's type names, grouped by the format check they need.
INT_TYPES = frozenset({"INT", "DAYOFMONTH"})
UNSIGNED_TYPES = frozenset({"SEQNUM", "LENGTH", "NUMINGROUP"})
DECIMAL_TYPES = frozenset({"PRICE", "QTY", "AMT", "FLOAT", "PRICEOFFSET", "PERCENTAGE"})
TEXT_TYPES = frozenset({"STRING", "MULTIPLEVALUESTRING", "MULTIPLESTRINGVALUE", "MULTIPLECHARVALUE",
                        "EXCHANGE", "CURRENCY", "COUNTRY", "LANGUAGE", "DATA", "XMLDATA"})
CHAR_TYPES = frozenset({"CHAR", "BOOLEAN"})
TIME_TYPES = frozenset({"UTCTIMESTAMP", "UTCDATEONLY", "UTCDATE", "LOCALMKTDATE", "UTCTIMEONLY",
                        "MONTHYEAR", "TZTIMEONLY", "TZTIMESTAMP"})
KNOWN_TYPES = INT_TYPES | UNSIGNED_TYPES | DECIMAL_TYPES | TEXT_TYPES | CHAR_TYPES | TIME_TYPES
MULTI_VALUE_TYPES = frozenset({"MULTIPLEVALUESTRING", "MULTIPLESTRINGVALUE", "MULTIPLECHARVALUE"})


@dataclass(frozen=True, slots=True)
class FieldDef:
    tag: int
    name: str
    type: str
    # Allowed values (empty: any value of the type); raw bytes as on the wire.
    values: frozenset[bytes] = frozenset()
    value_names: Mapping[bytes, str] = field(default_factory=dict)

    @property
    def multi_value(self) -> bool:
        """Space-separated list of values (each checked against ``values``)."""
        return self.type in MULTI_VALUE_TYPES


@dataclass(frozen=True, slots=True)
class GroupDef:
    count_tag: int              # the NumInGroup field that opens the group
    delimiter: int              # first field of every instance
    order: tuple[int, ...]      # member tags (nested count tags included) in dictionary order
    required: frozenset[int]    # members every instance must carry
    groups: Mapping[int, "GroupDef"]  # nested groups by count tag

    @property
    def members(self) -> frozenset[int]:
        return frozenset(self.order)


@dataclass(frozen=True, slots=True)
class MessageDef:
    msg_type: bytes
    name: str
    category: str               # "admin" or "app"
    order: tuple[int, ...]      # body tags outside groups (group count tags included), dictionary order
    required: frozenset[int]    # required body tags outside groups
    groups: Mapping[int, GroupDef]

    @property
    def allowed(self) -> frozenset[int]:
        return frozenset(self.order)

    @property
    def is_admin(self) -> bool:
        return self.category == "admin"


@dataclass(frozen=True, slots=True, repr=False, eq=False)  # identity: usable as a dict key
class Dictionary:
    begin_string: bytes
    fields: Mapping[int, FieldDef]
    names: Mapping[str, int]
    header: tuple[int, ...]
    header_required: frozenset[int]
    trailer: tuple[int, ...]
    trailer_required: frozenset[int]
    messages: Mapping[bytes, MessageDef]
    source: str
    unused_fields: frozenset[int]
    header_groups: Mapping[int, GroupDef] = field(default_factory=dict)   # e.g. NoHops(627)
    # Scratch space for compiled validation tables (owned by router.fix.validate).
    cache: dict = field(default_factory=dict, compare=False, repr=False)

    def __repr__(self) -> str:
        return f"Dictionary({self.source!r}, {len(self.messages)} messages, {len(self.fields)} fields)"

    def message(self, msg_type: bytes) -> MessageDef | None:
        return self.messages.get(msg_type)

    def tag(self, name: str) -> int:
        return self.names[name]

    def field_named(self, name: str) -> FieldDef:
        return self.fields[self.names[name]]


class _Loader:
    def __init__(self, root: ET.Element, source: str) -> None:
        self.root = root
        self.source = source
        self.fields: dict[int, FieldDef] = {}
        self.names: dict[str, int] = {}
        self.components: dict[str, ET.Element] = {}
        self.used: set[int] = set()

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(key, problem, self.source)

    def section(self, name: str, required: bool = True) -> ET.Element | None:
        node = self.root.find(name)
        if node is None and required:
            raise self.fail(name, "section missing")
        return node

    def load_fields(self) -> None:
        for node in self.section("fields"):  # type: ignore[union-attr]
            if node.tag != "field":
                continue
            key = f"fields/{node.get('name')}"
            try:
                tag = int(node.get("number", ""))
            except ValueError:
                raise self.fail(key, f"number {node.get('number')!r} is not an integer") from None
            name = node.get("name") or ""
            ftype = (node.get("type") or "").upper()
            if not name:
                raise self.fail(f"fields/{tag}", "field without a name")
            if ftype not in KNOWN_TYPES:
                raise self.fail(key, f"unknown type {ftype!r}")
            if tag in self.fields or name in self.names:
                raise self.fail(key, "defined twice")
            names = {}
            for value in node.findall("value"):
                enum = (value.get("enum") or "").encode()
                if not enum or b"\x01" in enum or (b" " in enum and ftype in MULTI_VALUE_TYPES):
                    raise self.fail(key, f"bad enum value {enum!r}")
                names[enum] = value.get("description", "")
            self.fields[tag] = FieldDef(tag, name, ftype, frozenset(names), MappingProxyType(names))
            self.names[name] = tag

    def load_components(self) -> None:
        node = self.section("components", required=False)
        for comp in node if node is not None else ():
            name = comp.get("name") or ""
            if comp.tag != "component" or not name:
                raise self.fail("components", "entry without a component name")
            self.components[name] = comp

    def tag_of(self, node: ET.Element, where: str) -> int:
        name = node.get("name") or ""
        tag = self.names.get(name)
        if tag is None:
            raise self.fail(f"{where}/{name}", "refers to a field that is not defined")
        self.used.add(tag)
        return tag

    def members(self, node: ET.Element, where: str, required: bool, depth: int = 0
                ) -> tuple[list[int], set[int], dict[int, GroupDef]]:
        """Flatten a message/group/component body: order, required tags, groups."""
        if depth > 20:
            raise self.fail(where, "components nest too deeply (a cycle?)")
        order: list[int] = []
        req: set[int] = set()
        groups: dict[int, GroupDef] = {}
        for child in node:
            is_required = required and child.get("required", "N").upper() == "Y"
            if child.tag == "field":
                tag = self.tag_of(child, where)
                order.append(tag)
                if is_required:
                    req.add(tag)
            elif child.tag == "group":
                tag = self.tag_of(child, where)
                if self.fields[tag].type != "NUMINGROUP":
                    raise self.fail(f"{where}/{child.get('name')}", "group count field is not NUMINGROUP")
                inner_order, inner_req, inner_groups = self.members(
                    child, f"{where}/{child.get('name')}", True, depth + 1)
                if not inner_order:
                    raise self.fail(f"{where}/{child.get('name')}", "empty group")
                groups[tag] = GroupDef(tag, inner_order[0], tuple(inner_order),
                                       frozenset(inner_req), MappingProxyType(inner_groups))
                order.append(tag)
                if is_required:
                    req.add(tag)
            elif child.tag == "component":
                name = child.get("name") or ""
                comp = self.components.get(name)
                if comp is None:
                    raise self.fail(f"{where}/{name}", "refers to a component that is not defined")
                inner_order, inner_req, inner_groups = self.members(
                    comp, f"{where}/{name}", is_required, depth + 1)
                order += inner_order
                req |= inner_req
                groups.update(inner_groups)
            else:
                raise self.fail(where, f"unexpected element <{child.tag}>")
        if len(set(order)) != len(order):
            raise self.fail(where, "a field is listed twice")
        return order, req, groups

    def load(self) -> Dictionary:
        root = self.root
        if root.tag != "fix":
            raise self.fail("fix", "root element must be <fix>")
        begin = f"{root.get('type', 'FIX')}.{root.get('major', '')}.{root.get('minor', '')}"
        self.load_fields()
        self.load_components()
        header, header_req, header_groups = self.members(self.section("header"), "header", True)
        trailer, trailer_req, trailer_groups = self.members(self.section("trailer"), "trailer", True)
        if trailer_groups:
            raise self.fail("trailer", "repeating groups in the trailer are not supported")
        if header[:3] != [8, 9, 35] or trailer[-1:] != [10]:
            raise self.fail("header", "header must start 8, 9, 35 and the trailer end with 10")
        messages: dict[bytes, MessageDef] = {}
        for node in self.section("messages"):  # type: ignore[union-attr]
            msg_type = (node.get("msgtype") or "").encode()
            name = node.get("name") or ""
            where = f"messages/{name}" if name else f"messages/{msg_type.decode()}"
            if node.tag != "message" or not msg_type or not name:
                raise self.fail(where, "message needs name and msgtype")
            category = node.get("msgcat", "app")
            if category not in ("admin", "app"):
                raise self.fail(where, f"msgcat must be admin or app, not {category!r}")
            if msg_type in messages:
                raise self.fail(where, "msgtype defined twice")
            order, req, groups = self.members(node, where, True)
            clash = (set(header) | set(trailer) | _all_members(header_groups)) & set(order)
            if clash:
                raise self.fail(where, f"body repeats header/trailer tags {sorted(clash)}")
            messages[msg_type] = MessageDef(msg_type, name, category, tuple(order),
                                            frozenset(req), MappingProxyType(groups))
        return Dictionary(
            begin_string=begin.encode(),
            fields=MappingProxyType(self.fields),
            names=MappingProxyType(self.names),
            header=tuple(header),
            header_required=frozenset(header_req),
            trailer=tuple(trailer),
            trailer_required=frozenset(trailer_req),
            messages=MappingProxyType(messages),
            source=self.source,
            unused_fields=frozenset(set(self.fields) - self.used),
            header_groups=MappingProxyType(header_groups),
        )


def _all_members(groups: Mapping[int, GroupDef]) -> set[int]:
    out: set[int] = set()
    for g in groups.values():
        out |= set(g.order) | _all_members(g.groups)
    return out


def load_dictionary(path: str | Path | None = None) -> Dictionary:
    """Parse a QuickFIX-layout XML dictionary; raises ConfigError on any defect."""
    path = Path(path) if path is not None else DEFAULT_PATH
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ConfigError("fix", f"cannot read dictionary: {exc}", str(path)) from None
    return _Loader(root, str(path)).load()


def load_dictionary_text(text: str, source: str = "<text>") -> Dictionary:
    """Same as load_dictionary, from a string (tests, tools)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ConfigError("fix", f"cannot parse dictionary: {exc}", source) from None
    return _Loader(root, source).load()
