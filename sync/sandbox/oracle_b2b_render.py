"""How the Oracle B2B emulator turns canonical people into bodies and shows contacts as
Oracle answers them (emails, phones and the country as links unless expanded)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from sync.sandbox.kit import Refused
from sync.sandbox.oracle_b2b_model import (
    CANONICAL,
    CONTACT_MENUS,
    EMAIL_TYPES,
    EXPANDABLE,
    PHONE_TYPES,
    PREFIX,
    _lookup_name,
)


def body_of(person: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for field, (section, key) in CANONICAL.items():
        if field not in person:
            continue
        value = person[field]
        if section == "":
            body[key] = value
        elif section == "custom":
            menu = field in CONTACT_MENUS and value is not None
            c = body.setdefault("customFields", {"c": {}})["c"]
            c[key] = {"lookupName": value} if menu else value
        elif key in ("country", "stateOrProvince"):
            body.setdefault(section, {})[key] = None if value is None else {"lookupName": value}
        else:
            body.setdefault(section, {})[key] = value
    if "email" in person:
        body["emails"] = {"addressType": {"id": 0}, "address": person["email"]}
    phones = [(k, t) for k, t in (("phone", 0), ("mobile", 1)) if k in person]
    if phones:
        body["phones"] = [{"phoneType": {"id": t}, "number": person[k]} for k, t in phones]
    if person.get("active") is not None:
        body["disabled"] = not person["active"]
    return body


class Rendering:
    """How the emulator shows a contact: links where not expanded (a mixin of its class)."""

    _countries: dict[str, int]
    _provinces: dict[str, int]

    def _href(self, request: Request, *parts: Any) -> str:
        base = request.scope.get("sandbox.base")
        if base is None:  # once per request: a page renders thousands of links
            base = request.scope["sandbox.base"] = str(request.base_url).rstrip("/") + PREFIX
        return f"{base}/" + "/".join(map(str, parts))

    def _render(self, request: Request, c: dict[str, Any], expand: set[str]) -> dict[str, Any]:
        """A contact as Oracle answers it: links where not expanded."""

        def links(*parts: Any) -> dict[str, Any]:
            href = self._href(request, *parts)
            return {"links": [{"rel": "self", "href": href}, {"rel": "canonical", "href": href}]}

        def sub(kind: str, type_key: str, value_key: str, names: dict[int, str]) -> Any:
            if kind not in expand:
                return links("contacts", c["id"], kind)
            items = [
                {
                    value_key: e[value_key],
                    type_key: {"id": e["type"], "lookupName": names[e["type"]]},
                }
                for e in sorted(c[kind], key=lambda e: e["type"])
            ]
            return {"items": items, **links("contacts", c["id"], kind)}

        address = dict(c["address"])
        country = address.pop("country")
        province = address.pop("stateOrProvince")
        if country is None:
            address["country"] = None
        else:
            country_id = self._countries.setdefault(country, len(self._countries) + 1)
            expanded = {"id": country_id, "lookupName": country, "name": country}
            address["country"] = (
                expanded if "address.country" in expand else links("countries", country_id)
            )
        address["stateOrProvince"] = (
            None
            if province is None
            else {
                "id": self._provinces.setdefault(province, len(self._provinces) + 7),
                "lookupName": province,
            }
        )
        custom: dict[str, Any] = {"has_cdl": c["custom"]["has_cdl"]}
        for name, options in CONTACT_MENUS.items():
            value = c["custom"][name]
            custom[name] = None if value is None else {"id": options[value], "lookupName": value}
        return {
            "id": c["id"],
            "lookupName": _lookup_name(c),
            "createdTime": c["createdTime"],
            "updatedTime": c["updatedTime"],
            "address": address,
            "customFields": {"c": custom},
            "disabled": c["disabled"],
            "emails": sub("emails", "addressType", "address", EMAIL_TYPES),
            "name": dict(c["name"]),
            "phones": sub("phones", "phoneType", "number", PHONE_TYPES),
            "title": c["title"],
            **links("contacts", c["id"]),
        }

    @staticmethod
    def _expand(request: Request) -> set[str]:
        names = {n for n in request.query_params.get("expand", "").split(",") if n}
        unknown = names - EXPANDABLE - {"all"}
        if unknown:
            raise Refused(f"cannot expand {', '.join(sorted(unknown))}")
        return EXPANDABLE if "all" in names else names
