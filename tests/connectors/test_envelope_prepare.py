"""envelope.prepare: the body a mapped payload is sent as, by a vendor file's write rules."""

from __future__ import annotations

import pytest

from sync.connectors.envelope import prepare
from sync.connectors.vendor import WriteRules
from sync.errors import RecordError

RULES = WriteRules.model_validate(
    {
        "never_send": ["internal"],
        "cleared": [
            {"path": "name.first", "send": "omit"},
            {"path": "properties.*", "send": "", "on": "update"},
            {"path": "Metadata[*].Value", "send": ""},
            {"path": "tags[*]", "send": "omit"},
            {"path": "*", "send": "-", "on": "create"},
        ],
        "empty_as_null": ["lookupName"],
        "single": ["emails"],
        "required": ["email"],
    }
)


def payload() -> dict:
    return {
        "email": "a@example.com",
        "internal": "x",
        "title": None,
        "name": {"first": None, "last": "Lee"},
        "properties": {"city": None, "zip": "80301"},
        "Metadata": [{"Name": "URL", "Value": None}, {"Name": "Web", "Value": "w"}],
        "tags": [None, "a", None, "b"],
        "country": {"lookupName": None},
        "emails": [{"address": "a@example.com"}],
        "empty": {},
    }


def test_cleared_values_are_sent_as_the_first_matching_rule_says() -> None:
    body = prepare(payload(), RULES, create=False, title="Vendor")
    assert body == {
        "email": "a@example.com",
        "title": None,  # the top-level rule is for creates only
        "name": {"last": "Lee"},
        "properties": {"city": "", "zip": "80301"},
        "Metadata": [{"Name": "URL", "Value": ""}, {"Name": "Web", "Value": "w"}],
        "tags": ["a", "b"],
        "country": None,
        "emails": {"address": "a@example.com"},
        "empty": {},
    }
    created = prepare(payload(), RULES, create=True, title="Vendor")
    assert created["title"] == "-"
    assert created["properties"] == {"city": None, "zip": "80301"}  # that rule is for updates


@pytest.mark.parametrize("nulled", [True, False])
def test_the_body_shares_nothing_the_connector_may_change_with_the_payload(nulled: bool) -> None:
    rules = RULES if nulled else RULES.model_copy(update={"empty_as_null": []})
    sent = payload()
    body = prepare(sent, rules, create=False, title="Vendor")
    body["properties"]["zip"] = "changed"
    body["Metadata"][1]["Value"] = "changed"
    body["name"]["last"] = "changed"
    body["emails"]["address"] = "changed"
    assert sent == payload()


def test_a_required_key_without_a_value_refuses_the_record() -> None:
    with pytest.raises(RecordError, match="email is required by Vendor"):
        prepare({**payload(), "email": " "}, RULES, create=True, title="Vendor")
