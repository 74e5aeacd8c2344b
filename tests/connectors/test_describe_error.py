"""The vendor's reason in an error body, as each connector reads it for the failure report."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sync.connectors import connector_class
from sync.connectors.base import HttpConnector

LighteningConnector: Any = connector_class("lightening")
OneContactConnector: Any = connector_class("onecontact")
OracleB2BConnector: Any = connector_class("oracle_b2b")
ServiceOpsConnector: Any = connector_class("serviceops")
SuperOfficeConnector: Any = connector_class("superoffice")


def answer(body: Any = None, text: str | None = None) -> httpx.Response:
    if text is not None:
        return httpx.Response(500, text=text)
    return httpx.Response(400, json=body)


class Vendor(HttpConnector):
    error_keys = ("reason", "detail")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"detail": "late", "reason": "first"}, "first"),
        ({"reason": "", "detail": "empty keys are skipped"}, "empty keys are skipped"),
        ({"other": "x"}, None),
        (["reason"], None),
    ],
)
def test_the_first_error_key_holding_something_is_the_reason(body: Any, reason: str) -> None:
    assert Vendor.describe_error(answer(body)) == reason


def test_no_keys_and_no_json_give_no_reason() -> None:
    assert HttpConnector.describe_error(answer({"detail": "x"})) is None
    assert Vendor.describe_error(answer(text="<html>Bad Gateway</html>")) is None


@pytest.mark.parametrize(
    ("connector", "response", "reason"),
    [
        (OracleB2BConnector, answer({"title": "Bad", "detail": "No such field"}), "No such field"),
        (
            OracleB2BConnector,
            answer({"title": "Bad Request", "o:errorCode": "OSC-CREST-00010"}),
            "Bad Request (OSC-CREST-00010)",
        ),
        (OracleB2BConnector, answer({"o:errorCode": "OSC-CREST-00010"}), None),
        (OracleB2BConnector, answer(text="not json"), None),
        (
            ServiceOpsConnector,
            answer({"error": "invalid_grant", "error_description": "Bad credentials"}),
            "Bad credentials",
        ),
        (
            ServiceOpsConnector,
            answer({"userMessage": "Unknown field x", "error": "e"}),
            "Unknown field x",
        ),
        (SuperOfficeConnector, answer({"ErrorType": "SoException", "Message": "No"}), "No"),
        (SuperOfficeConnector, answer({"ErrorType": "SoException"}), "SoException"),
        (SuperOfficeConnector, answer(text="  Service Unavailable \n"), "Service Unavailable"),
        (SuperOfficeConnector, answer(["x"]), None),
        # an Error member is read when it holds text (the independent emulator's shape)
        (
            SuperOfficeConnector,
            answer({"Error": "Name is required", "ErrorType": "BadRequest"}),
            "Name is required",
        ),
        # ASP.NET's ModelState: a body that would not bind (a CountryId that is not a number)
        (
            SuperOfficeConnector,
            answer(
                {
                    "Message": "The request is invalid.",
                    "ModelState": {"newEntity.Country.CountryId": ["Error converting value"]},
                }
            ),
            "newEntity.Country.CountryId: Error converting value",
        ),
        (SuperOfficeConnector, answer({"Error": True, "Message": "No"}), "No"),
        (OneContactConnector, answer({"message": "lower"}), "lower"),
        (OneContactConnector, answer({"Message": "Upper", "message": "lower"}), "Upper"),
        (OneContactConnector, answer({"success": False}), None),
        (
            LighteningConnector,
            answer({"result": False, "errors": {"name": ["required", "short"]}, "msg": "m"}),
            "name: required, short",
        ),
        (LighteningConnector, answer({"result": False, "error": "Nope", "msg": "m"}), "Nope"),
        (LighteningConnector, answer(text="oops"), None),
    ],
)
def test_each_vendor_reason(
    connector: type[HttpConnector], response: httpx.Response, reason: str | None
) -> None:
    assert connector.describe_error(response) == reason
