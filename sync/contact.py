"""The canonical schema and the normalisation of its values.

A canonical record is a plain dict from field name to value: strings everywhere except
`active` (a bool) and custom fields declared as "bool". Missing and empty are the same: a
field whose value is None or "" is simply absent, so that two systems that spell "nothing"
differently never disagree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from sync.errors import RecordError

Record = dict[str, Any]

STANDARD_FIELDS: dict[str, str] = {
    "email": "email",
    "first_name": "str",
    "last_name": "str",
    "phone": "phone",
    "mobile": "phone",
    "company": "str",
    "department": "str",
    "title": "str",
    "street": "str",
    "city": "str",
    "postal_code": "str",
    "region": "str",
    "country": "country",
    "locale": "str",
    "active": "bool",
}
CUSTOM_TYPES = ("str", "bool")
TRUE_SPELLINGS = {"1", "true", "yes", "y", "on", "t"}
FALSE_SPELLINGS = {"0", "false", "no", "n", "off", "f"}


# A plain ASCII address, which email_validator accepts as it is, is recognised without it:
# the validator costs ~25 us an address, the largest cost of reading 100,000 records.
_PLAIN_EMAIL = re.compile(
    r"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,63})"
)


def normalise_email(value: str) -> str:
    """Trim and lowercase; refuse what is not an email address."""
    try:
        return _email(value.strip().lower())
    except ValueError as exc:  # email_validator's EmailNotValidError
        raise RecordError(f"email {value!r} is not valid: {exc}") from None


# email_validator and phonenumbers are imported on the first address or number read: 45 ms
# of start-up that a no-op run, which normalises nothing, does without


@lru_cache(maxsize=1 << 17)  # each address is read, echoed for each system and answered
def _email(email: str) -> str:
    import email_validator

    plain = _PLAIN_EMAIL.fullmatch(email)
    if (
        plain
        and len(email) <= 254
        and email.index("@") <= 64
        and plain.group(1) not in email_validator.SPECIAL_USE_DOMAIN_NAMES
        and "--" not in email  # IDNA rules on "xx--" labels: the validator decides
    ):
        return email
    email_validator.validate_email(email, check_deliverability=False)  # raises: not cached
    return email


def normalise_phone(value: str, region: str | None) -> str:
    """E.164 when phonenumbers can parse it; otherwise the trimmed text, so nothing is lost."""
    return _phone(value.strip(), region)


@lru_cache(maxsize=1 << 17)  # each number is read from every system and echoed for each
def _phone(text: str, region: str | None) -> str:
    import phonenumbers

    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return text
    if not phonenumbers.is_possible_number(number):
        return text
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    text = str(value).strip().lower()
    if text in TRUE_SPELLINGS:
        return True
    if text in FALSE_SPELLINGS:
        return False
    raise RecordError(f"{value!r} is not a yes/no value")


def normalise_value(kind: str, value: Any, *, phone_region: str | None = None) -> Any:
    """One value to its canonical form; None for empty."""
    if value is None:
        return None
    if kind == "bool":
        if isinstance(value, str) and not value.strip():
            return None
        return parse_bool(value)
    if isinstance(value, bool | int | float):
        value = str(value)
    if not isinstance(value, str):
        raise RecordError(f"expected text, got {type(value).__name__}")
    value = value.strip()
    if not value:
        return None
    if kind == "email":
        return normalise_email(value)
    if kind == "phone":
        return normalise_phone(value, phone_region)
    if kind == "country":
        return value.upper()
    return value


class Schema:
    """The canonical fields: the standard ones plus custom fields declared in mappings/."""

    def __init__(self, custom: Mapping[str, str] | None = None, phone_region: str | None = None):
        self.types: dict[str, str] = dict(STANDARD_FIELDS)
        for name, kind in (custom or {}).items():
            self.types[name] = kind
        self.phone_region = phone_region

    @property
    def fields(self) -> list[str]:
        return list(self.types)

    @property
    def identity(self) -> list[Any]:
        """What normalising depends on: keys of plan and raw-record hashes."""
        return [self.types, self.phone_region]

    def normalise(self, record: Mapping[str, Any]) -> Record:
        """Every known field normalised, empty ones dropped; RecordError names the field."""
        out: Record = {}
        types = self.types
        for name, value in record.items():
            if value is None:
                continue
            kind = types.get(name)
            if kind is None:
                continue
            if kind == "str" and type(value) is str:  # most fields: trimmed text
                value = value.strip()
                if value:
                    out[name] = value
                continue
            try:
                clean = normalise_value(kind, value, phone_region=self.phone_region)
            except RecordError as exc:
                raise RecordError(f"field {name}: {exc}") from None
            if clean is not None:
                out[name] = clean
        return out
