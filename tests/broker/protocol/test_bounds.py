"""The structural walk that runs before kio decodes a request body."""

from __future__ import annotations

import io
import struct
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kio.serial import entity_writer
from kio.static.primitive import Records
from kio.static.protocol import Entity

from broker.protocol.apis import SUPPORTED, request_class
from broker.protocol.bounds import BoundsError, check_request
from broker.protocol.kio_adapter import DecodeError, decode_request

# kio's phantom type for record batches has no strategy of its own; any bytes will do.
st.register_type_strategy(Records, st.binary(max_size=64).map(Records))

DECODABLE = [
    (int(api.key), version)
    for api in SUPPORTED.values()
    for version in range(api.min_version, api.max_version + 1)
    if api.decodable(version)
]


def _encode(entity: Entity) -> bytes:
    buf = io.BytesIO()
    entity_writer(type(entity))(buf, entity)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("api_key", "version"), DECODABLE, ids=[f"api {k} v{v}" for k, v in DECODABLE]
)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_request_kio_can_encode_walks_to_exactly_its_end(
    api_key: int, version: int, data: st.DataObject
) -> None:
    cls = request_class(api_key, version)
    body = _encode(data.draw(st.from_type(cls)))
    assert check_request(cls, body, 0) == len(body)
    assert check_request(cls, b"\x00\x00" + body, 2) == len(body) + 2


@settings(max_examples=400, deadline=None)
@given(
    key_version=st.sampled_from(DECODABLE),
    body=st.binary(max_size=200),
)
def test_arbitrary_bytes_either_walk_within_the_buffer_or_raise_bounds_error(
    key_version: tuple[int, int], body: bytes
) -> None:
    cls = request_class(*key_version)
    try:
        end = check_request(cls, body, 0)
    except BoundsError:
        return
    assert 0 <= end <= len(body)


# Inputs found by the fuzz test: each made kio 0.6.5's native decoder reserve tens or
# hundreds of GB and abort the process (checked against kio directly: "memory
# allocation of 34359738352 bytes failed"). They run in a subprocess so that a
# regression fails this test instead of killing the test run.
ABORTING_INPUTS = [
    pytest.param(
        2, 7, "ffffffff00ffffffff0f00", id="ListOffsets v7 with a 2**32 topics count"
    ),
    pytest.param(33, 2, "ffffffff0f00", id="AlterConfigs v2 with a 2**32 resources count"),
    pytest.param(
        32, 4, "02020c66757a7a2d746172676574ffffffff0f00000000",
        id="DescribeConfigs v4 with a 2**32 configuration keys count",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("api_key", "version", "body_hex"), ABORTING_INPUTS)
def test_a_huge_array_count_is_refused_without_aborting_the_process(
    api_key: int, version: int, body_hex: str
) -> None:
    code = (
        "from broker.protocol.kio_adapter import DecodeError, decode_request\n"
        f"try:\n    decode_request({api_key}, {version}, bytes.fromhex({body_hex!r}), 0)\n"
        "except DecodeError as exc:\n    print('refused:', exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "refused:" in result.stdout
    assert "cannot fit" in result.stdout


def test_a_null_array_where_the_schema_forbids_null_is_refused() -> None:
    # ListOffsets v1: replica_id int32, then topics: a non-nullable array given count -1.
    body = struct.pack(">ii", -1, -1)
    with pytest.raises(BoundsError, match="array count -1 is not allowed"):
        check_request(request_class(2, 1), body, 0)
    with pytest.raises(DecodeError):
        decode_request(2, 1, body, 0)


def test_a_null_array_where_the_schema_allows_null_is_accepted() -> None:
    # Metadata v1: topics is nullable (null means every topic).
    assert check_request(request_class(3, 1), struct.pack(">i", -1), 0) == 4


def test_a_varint_longer_than_five_bytes_is_refused() -> None:
    # ApiVersions v3: client_software_name is a compact string.
    with pytest.raises(BoundsError, match="longer than 5 bytes"):
        check_request(request_class(18, 3), b"\x80\x80\x80\x80\x80\x01", 0)


def test_a_tagged_field_larger_than_the_body_is_refused() -> None:
    # ApiVersions v3 with both strings empty, then one tagged field claiming 100 bytes.
    body = b"\x01\x01" + b"\x01" + b"\x00\x64" + b"abc"
    with pytest.raises(BoundsError, match="tagged field"):
        check_request(request_class(18, 3), body, 0)


def test_a_string_length_past_the_end_is_refused() -> None:
    # Metadata v1 with one topic whose name claims 300 bytes.
    body = struct.pack(">ih", 1, 300) + b"abc"
    with pytest.raises(BoundsError, match="string of 300 bytes runs past"):
        check_request(request_class(3, 1), body, 0)
