"""The domain layers' Kafka error codes are Kafka's: same names, same numbers as kio's."""

from __future__ import annotations

import pytest
from kio.schema.errors import ErrorCode

from broker.error_codes import KafkaError
from broker.server.errors import wire_error


@pytest.mark.parametrize("code", list(KafkaError), ids=lambda c: c.name)
def test_every_domain_error_code_has_kafkas_name_and_number(code: KafkaError) -> None:
    assert ErrorCode[code.wire_name].value == code.value


def test_the_wire_error_is_the_codecs_member_with_the_same_number() -> None:
    assert wire_error(KafkaError.UNKNOWN_MEMBER_ID) is ErrorCode.unknown_member_id
    assert wire_error(KafkaError.NONE) is ErrorCode.none
