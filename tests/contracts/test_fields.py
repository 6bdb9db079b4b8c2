"""The one YAML field reader: every value checked, every error naming the file, the
field path and what is allowed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.fields import (
    ConfigError,
    Fields,
    HostPort,
    parse_flag,
    parse_host_port,
    parse_yaml_documents,
    read_yaml,
    suggest,
)

FILE = "probe.yaml"


def fields(data: object, path: str = "targets[0]", known: frozenset[str] | None = None) -> Fields:
    return Fields(FILE, path, data, known)


@dataclass(frozen=True)
class Refused:
    """The reason a reader gives for refusing a value (in the tables below)."""

    reason: str


def refusal(read: Callable[[], object]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        read()
    return caught.value


# -- the error ---------------------------------------------------------------------------
def test_an_error_is_one_line_naming_the_file_the_field_and_the_reason() -> None:
    error = ConfigError("probe.yaml", "targets[0].sla.end_to_end", "must be longer than zero")
    assert str(error) == "probe.yaml: targets[0].sla.end_to_end: must be longer than zero"
    assert (error.file, error.field, error.reason) == (
        "probe.yaml",
        "targets[0].sla.end_to_end",
        "must be longer than zero",
    )


def test_an_error_about_the_whole_document_says_so() -> None:
    assert str(ConfigError("a.yaml", "", "cannot read: No such file")) == (
        "a.yaml: <document>: cannot read: No such file"
    )


def test_an_error_about_a_flag_names_the_flag_without_a_file() -> None:
    assert (
        str(ConfigError("", "--listen", "'x' is not HOST:PORT")) == "--listen: 'x' is not HOST:PORT"
    )


def test_a_config_error_is_a_value_error_so_one_type_catches_every_reader() -> None:
    assert issubclass(ConfigError, ValueError)


# -- keys and paths ----------------------------------------------------------------------
def test_an_unknown_key_is_refused_with_a_suggestion_and_the_allowed_keys() -> None:
    error = refusal(lambda: fields({"intervall": "1s"}, known=frozenset({"interval", "name"})))
    assert error.field == "targets[0].intervall"
    assert (
        error.reason
        == 'unknown field "intervall" (did you mean "interval"?); allowed: interval, name'
    )


def test_an_unknown_key_far_from_every_known_one_gets_no_suggestion() -> None:
    error = refusal(lambda: fields({"zzz": 1}, "", frozenset({"interval"})))
    assert str(error) == 'probe.yaml: zzz: unknown field "zzz"; allowed: interval'


def test_paths_nest_through_mappings_and_lists() -> None:
    top = Fields(FILE, "", {"targets": [{"sla": {"end_to_end": "soon"}}]})
    ((path, item),) = top.items("targets")
    sla = Fields(FILE, path, item).mapping("sla")
    assert refusal(lambda: sla.duration("end_to_end")).field == "targets[0].sla.end_to_end"
    assert sla.at(3) == "targets[0].sla[3]"


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    assert (
        str(refusal(lambda: Fields(FILE, "", ["a"])))
        == "probe.yaml: <document>: must be a mapping, not a list"
    )


def test_suggest_finds_a_close_word_only() -> None:
    assert suggest("listne", ["listen", "http"]) == ' (did you mean "listen"?)'
    assert suggest("qqq", ["listen"]) == ""


# -- every reader: what it returns and how it refuses ------------------------------------
READS: list[Any] = [
    # (id, data, read, the value read or why it is refused)
    ("a text", {"k": "x"}, lambda f: f.text("k"), "x"),
    ("a missing text with a default", {}, lambda f: f.text("k", "d"), "d"),
    ("a missing required text", {}, lambda f: f.text("k"), Refused("is required")),
    ("a null counts as missing", {"k": None}, lambda f: f.text("k", "d"), "d"),
    (
        "a number for a text",
        {"k": 5},
        lambda f: f.text("k"),
        Refused("must be a non-empty string, not 5"),
    ),
    (
        "a blank text",
        {"k": " "},
        lambda f: f.text("k"),
        Refused("must be a non-empty string, not ' '"),
    ),
    (
        "a text off its pattern",
        {"k": "a b"},
        lambda f: f.text("k", pattern=r"\w+"),
        Refused(r"'a b' must match \w+"),
    ),
    ("an absent optional text", {}, lambda f: f.optional_text("k"), None),
    ("a choice", {"k": "all"}, lambda f: f.choice("k", ("0", "1", "all")), "all"),
    (
        "a number for a choice is its spelling",
        {"k": 1},
        lambda f: f.choice("k", ("0", "1", "all")),
        "1",
    ),
    ("a missing choice", {}, lambda f: f.choice("k", ("a", "b"), "b"), "b"),
    (
        "a choice outside",
        {"k": "lates"},
        lambda f: f.choice("k", ("earliest", "latest")),
        Refused('"lates" is not allowed (did you mean "latest"?); allowed: earliest, latest'),
    ),
    (
        "a list for a choice",
        {"k": []},
        lambda f: f.choice("k", ("a", "b")),
        Refused("must be one of a, b, not a list"),
    ),
    ("a number", {"k": 2}, lambda f: f.number("k"), 2.0),
    (
        "a boolean for a number",
        {"k": True},
        lambda f: f.number("k"),
        Refused("must be a number, not true"),
    ),
    ("an integer", {"k": 7}, lambda f: f.integer("k", 1, minimum=0), 7),
    (
        "an integer below its minimum",
        {"k": -1},
        lambda f: f.integer("k", 1, minimum=0),
        Refused("must be at least 0, not -1"),
    ),
    (
        "an integer above its maximum",
        {"k": 9},
        lambda f: f.integer("k", 1, maximum=8),
        Refused("must be at most 8, not 9"),
    ),
    (
        "a word for an integer",
        {"k": "two"},
        lambda f: f.integer("k", 1),
        Refused("must be a whole number, not 'two'"),
    ),
    (
        "a decimal for an integer",
        {"k": 1.5},
        lambda f: f.integer("k", 1),
        Refused("must be a whole number, not 1.5"),
    ),
    ("a flag", {"k": False}, lambda f: f.flag("k", True), False),
    (
        "a word for a flag",
        {"k": "yes please"},
        lambda f: f.flag("k", True),
        Refused("must be true or false, not 'yes please'"),
    ),
    ("a duration", {"k": "250ms"}, lambda f: f.duration("k"), 0.25),
    ("a number of seconds", {"k": 2}, lambda f: f.duration("k"), 2.0),
    (
        "a number where only strings are allowed",
        {"k": 2},
        lambda f: f.duration("k", bare_numbers=False),
        Refused("2 is not a duration like 250ms, 1.5s, 1m30s or 2h"),
    ),
    ("a missing duration", {}, lambda f: f.duration("k", 1.0), 1.0),
    (
        "a zero duration",
        {"k": 0},
        lambda f: f.duration("k"),
        Refused("0 must be longer than zero"),
    ),
    ("a zero duration where allowed", {"k": 0}, lambda f: f.duration("k", allow_zero=True), 0.0),
    ("whole seconds", {"k": "30d"}, lambda f: f.whole_seconds("k"), 2_592_000),
    ("missing whole seconds", {}, lambda f: f.whole_seconds("k", 60), 60),
    (
        "a fraction of a second for whole seconds",
        {"k": "1500ms"},
        lambda f: f.whole_seconds("k"),
        Refused("'1500ms' is not a whole number of seconds (this field counts whole seconds)"),
    ),
    ("an address", {"k": "[::1]:9092"}, lambda f: f.host_port("k"), HostPort("::1", 9092)),
    ("a missing address", {}, lambda f: f.host_port("k", HostPort("h", 1)), HostPort("h", 1)),
    (
        "an address turned off where it cannot be",
        {"k": "off"},
        lambda f: f.host_port("k"),
        Refused("'off' is not HOST:PORT (for example 127.0.0.1:9092)"),
    ),
    (
        "an address turned off",
        {"k": "off"},
        lambda f: f.host_port_or_off("k", HostPort("h", 1)),
        None,
    ),
    (
        "an address turned off by false",
        {"k": False},
        lambda f: f.host_port_or_off("k", HostPort("h", 1)),
        None,
    ),
    (
        "an absent address that may be off",
        {},
        lambda f: f.host_port_or_off("k", HostPort("h", 1)),
        HostPort("h", 1),
    ),
    (
        "a number for an address",
        {"k": 5},
        lambda f: f.host_port_or_off("k", None),
        Refused("must be HOST:PORT or off, not 5"),
    ),
    (
        "an address without a port",
        {"k": "kafka"},
        lambda f: f.host_port("k"),
        Refused("'kafka' is not HOST:PORT (for example 127.0.0.1:9092)"),
    ),
    (
        "labels sorted, booleans as YAML spells them",
        {"k": {"b": True, "a": 1}},
        lambda f: f.labels("k"),
        (("a", "1"), ("b", "true")),
    ),
    ("absent labels", {}, lambda f: f.labels("k"), ()),
    (
        "a list for labels",
        {"k": [1]},
        lambda f: f.labels("k"),
        Refused("must be a mapping of names to values, not a list"),
    ),
    (
        "a string map",
        {"k": {"retention.ms": 5}},
        lambda f: f.string_map("k"),
        {"retention.ms": "5"},
    ),
    ("strings from a list", {"k": ["a", " b"]}, lambda f: f.strings("k"), ("a", "b")),
    ("strings from commas", {"k": "a, b,"}, lambda f: f.strings("k"), ("a", "b")),
    ("absent strings", {}, lambda f: f.strings("k", ("d",)), ("d",)),
    (
        "numbers for strings",
        {"k": [1]},
        lambda f: f.strings("k"),
        Refused("must be a list of strings, not a list"),
    ),
    ("a parsed text", {"k": "12"}, lambda f: f.parse("k", int, "digits"), 12),
    (
        "a text its parser refuses",
        {"k": "x"},
        lambda f: f.parse("k", int, "digits"),
        Refused("invalid literal for int() with base 10: 'x' (expected digits)"),
    ),
]


@pytest.mark.parametrize(
    ("data", "read", "expected"), [pytest.param(*r[1:], id=r[0]) for r in READS]
)
def test_each_reader_returns_the_checked_value_or_names_what_is_allowed(
    data: dict[str, Any], read: Callable[[Fields], object], expected: object
) -> None:
    f = fields(data)
    if isinstance(expected, Refused):
        error = refusal(lambda: read(f))
        assert (error.file, error.field, error.reason) == (FILE, "targets[0].k", expected.reason)
    else:
        assert read(f) == expected


def test_a_nested_mapping_is_required_unless_said_otherwise() -> None:
    f = fields({})
    assert refusal(lambda: f.mapping("sla")).reason == "is required"
    optional = f.mapping("sla", frozenset({"ack"}), required=False)
    assert (optional.path, dict(optional.data)) == ("targets[0].sla", {})


def test_a_required_list_must_be_present_and_non_empty() -> None:
    assert (
        refusal(lambda: list(fields({}).items("k"))).reason
        == "is required and must be a non-empty list"
    )
    assert (
        refusal(lambda: list(fields({"k": []}).items("k"))).reason
        == "must be a non-empty list, not a list"
    )
    assert (
        refusal(lambda: list(fields({"k": "x"}).items("k"))).reason
        == "must be a non-empty list, not 'x'"
    )


def test_an_optional_list_may_be_absent_or_empty() -> None:
    assert list(fields({}).items("k", required=False)) == []
    assert list(fields({"k": []}).items("k", required=False)) == []
    assert list(fields({"k": ["a"]}).items("k", required=False)) == [("targets[0].k[0]", "a")]


def test_a_tagged_union_needs_exactly_one_of_its_keys() -> None:
    kinds = frozenset({"events", "latency"})
    assert fields({"events": {}}).one_of(kinds) == "events"
    error = refusal(lambda: fields({"events": {}, "latency": {}}).one_of(kinds))
    assert (error.field, error.reason) == (
        "targets[0]",
        "needs exactly one of events, latency (found events, latency)",
    )
    assert refusal(lambda: fields({}).one_of(kinds)).reason.endswith("(found none)")


def test_an_element_of_a_string_map_that_is_not_a_scalar_is_named() -> None:
    error = refusal(lambda: fields({"k": {"a": [1]}}).string_map("k"))
    assert (error.field, error.reason) == ("targets[0].k.a", "must be a string or number")


# -- addresses and flags -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "address"),
    [
        pytest.param("127.0.0.1:9092", HostPort("127.0.0.1", 9092), id="an IPv4 address"),
        pytest.param("kafka.example:0", HostPort("kafka.example", 0), id="a name and port zero"),
        pytest.param("[::1]:9092", HostPort("::1", 9092), id="an IPv6 address in brackets"),
        pytest.param(" localhost:65535 ", HostPort("localhost", 65535), id="the highest port"),
    ],
)
def test_an_address_reads_as_host_and_port(text: str, address: HostPort) -> None:
    assert parse_host_port(text) == address


@pytest.mark.parametrize(
    "text", ["kafka", ":9092", "kafka:", "kafka:port", "kafka:65536", "kafka:-1"]
)
def test_an_address_without_a_valid_port_is_refused_with_an_example(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not HOST:PORT \(for example 127\.0\.0\.1:9092\)"):
        parse_host_port(text)


def test_an_address_is_a_pair_that_prints_as_it_is_written() -> None:
    host, port = HostPort("127.0.0.1", 9092)
    assert (host, port) == ("127.0.0.1", 9092)
    assert str(HostPort("127.0.0.1", 9092)) == "127.0.0.1:9092"
    assert str(HostPort("::1", 9092)) == "[::1]:9092"


_HOSTS = st.one_of(
    st.ip_addresses().map(str),
    st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,20}){0,3}", fullmatch=True),
)


@given(_HOSTS, st.integers(min_value=0, max_value=65535))
def test_an_address_survives_a_round_trip_through_its_text(host: str, port: int) -> None:
    assert parse_host_port(str(HostPort(host, port))) == HostPort(host, port)


def test_a_flag_value_that_does_not_parse_names_the_flag() -> None:
    assert parse_flag("--listen", "127.0.0.1:1", parse_host_port) == HostPort("127.0.0.1", 1)
    error = refusal(lambda: parse_flag("--listen", "nonsense", parse_host_port))
    assert str(error) == "--listen: 'nonsense' is not HOST:PORT (for example 127.0.0.1:9092)"


# -- files -------------------------------------------------------------------------------
def test_a_missing_file_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert str(refusal(lambda: read_yaml(path))).startswith(f"{path}: <document>: cannot read: ")


def test_broken_yaml_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("a: 1\nb: [unclosed\n")
    error = refusal(lambda: read_yaml(path))
    assert (error.file, error.field) == (str(path), "line 3")
    assert error.reason.startswith("not valid YAML: ")
    assert "\n" not in str(error)


def test_an_empty_file_reads_as_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert read_yaml(path) is None


def test_several_documents_read_in_order_without_the_empty_ones() -> None:
    assert parse_yaml_documents("a: 1\n---\n---\nb: 2\n", "x.yaml") == [{"a": 1}, {"b": 2}]
