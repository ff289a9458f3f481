"""The relay decodes a stored outbox body to publish it: the bytes on the wire must be the stored ones."""

import pytest
from pydantic import SecretStr

from esap_messages import (
    JobPhaseChanged,
    KillJob,
    Message,
    Phase,
    SubmitJob,
    WorkflowRun,
    decode,
    encode,
    new_id,
    utcnow,
)

MESSAGES: list[Message] = [
    SubmitJob(job_id=new_id(), facility="local", backend="local", parameters={"a": 'é"{}\\'},
              workflow=WorkflowRun(slug="s", command=("sleep", "{a}")), execution_duration=5,
              callback_token=SecretStr("x" * 43)),
    KillJob(job_id=new_id(), facility="local", backend="local"),
    JobPhaseChanged(job_id=new_id(), owner=None, workflow="w", facility="f", backend="local",
                    phase=Phase.QUEUED, previous_phase=None, changed_at=utcnow()),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m.type_name())
def test_outbox_bodies_re_encode_byte_for_byte(message: Message) -> None:
    body = encode(message)
    assert encode(decode(message.type_name(), body)) == body
