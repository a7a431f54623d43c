"""The CLI edge turns every error a user can meet into one line; a bug says it is one."""

from __future__ import annotations

import botocore.exceptions
import pydantic
import pytest

from loadtests.launcher import LocustRunError
from loadtests.model.gates import GateError
from stack.cli import edge
from stack.embedded.gateway.discovery import DefinitionError
from stack.embedded.gateway.process import GatewayStartError
from stack.errors import HookstackError


@pytest.mark.parametrize("error_type", [DefinitionError, GatewayStartError, LocustRunError, GateError])
def test_the_errors_a_user_meets_share_the_one_root(error_type):
    assert issubclass(error_type, HookstackError)
    assert edge.error_line(error_type("what went wrong")) == "what went wrong"


def test_library_errors_are_translated():
    assert edge.error_line(FileNotFoundError(2, "No such file or directory", "/x.json")) == (
        "/x.json: No such file or directory"
    )
    refused = botocore.exceptions.ClientError(
        {"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "PutParameter"
    )
    assert edge.error_line(refused) == "PutParameter: AccessDenied: not allowed"
    assert "credentials" in edge.error_line(botocore.exceptions.NoCredentialsError())
    gone = botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:1/")
    assert "http://127.0.0.1:1/" in edge.error_line(gone) and "hookstack up" in edge.error_line(gone)


def test_a_validation_error_names_the_field():
    class Model(pydantic.BaseModel):
        rate: int

    with pytest.raises(pydantic.ValidationError) as caught:
        Model(rate="fast")
    assert edge.error_line(caught.value).startswith("rate: ")


def test_anything_else_is_a_bug_and_says_so(monkeypatch):
    assert edge.error_line(KeyError("x")) is None
    line = edge.bug_line(KeyError("x"))
    assert line.startswith("unexpected KeyError") and edge.DEBUG_VARIABLE in line
    monkeypatch.setenv(edge.DEBUG_VARIABLE, "1")
    assert edge.debugging()
