"""Who sees a person's full 身份证号, bank card and phone: the one rule every screen, API and export asks.

Reading the roster is open to the whole county (village workers, other towns' clerks, provincial
viewers), because names, posts and villages are what they coordinate on. The three identifying
numbers are not needed for that and are what makes a leaked roster harmful, so they are shown in
full only to the people who keep them up to date: a user whose role writes people, for a person whose
village lies inside the user's capture scope (county admin: the whole county; town clerk: the town),
and the platform admin. Everyone else gets them masked. The stored values never change.

The system acting without a user (CLI, scheduled jobs) sees everything, as it may write everything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select

from app.core.idcard import mask_id_number
from app.core.tenancy import PLATFORM_ADMIN, Scope, current_scope
from app.extensions import db
from app.orgs.models import OrgUnit

PERSON_WRITERS = ("county_admin", "town_clerk")
"""Roles that write people (and so keep their numbers); the people screens declare these as writers."""
PERSONAL_FIELDS = ("id_number", "bank_card", "phone")

_NOT_DIGIT = re.compile(r"\D")


def mask_bank_card(value: str | None) -> str:
    """``**** **** **** 1234``: the last four identify the card to its owner; the length stays hidden."""
    digits = _NOT_DIGIT.sub("", value or "")
    if not digits:
        return ""
    return "**** **** **** " + digits[-4:] if len(digits) > 8 else "*" * len(digits)


def mask_phone(value: str | None) -> str:
    """``138****5678``: carrier prefix and last four, enough to tell two numbers apart on a call list."""
    text = re.sub(r"\s+", "", value or "")
    if not text:
        return ""
    return text[:3] + "****" + text[-4:] if len(text) >= 8 else "*" * len(text)


MASKS = {"id_number": mask_id_number, "bank_card": mask_bank_card, "phone": mask_phone}


def _writes_people(scope: Scope) -> bool:
    if scope.read_only or scope.tenant_id is None:
        return False
    if not scope.roles:  # the system (CLI, jobs) acting for the county
        return scope.capture_path is None
    return PLATFORM_ADMIN in scope.roles or any(r in PERSON_WRITERS for r in scope.roles)


def _path_allowed(scope: Scope, path: str | None) -> bool:
    if scope.capture_path is None:
        return True
    return path is not None and path.startswith(scope.capture_path)


def may_see_personal(person: Any) -> bool:
    """True when the current user may see (because it may write) this person's full numbers."""
    scope = current_scope()
    if scope is None or not _writes_people(scope):
        return False
    if scope.capture_path is None:
        return True
    unit = db.session.get(OrgUnit, person.org_unit_id) if person.org_unit_id is not None else None
    return _path_allowed(scope, unit.path if unit is not None else None)


def visible_person_ids(person_ids: Iterable[Any]) -> set[Any]:
    """Of these people, the ones whose full numbers the current user may see (one query for a page)."""
    from app.staffing.models import Person

    ids = [pk for pk in person_ids if pk is not None]
    scope = current_scope()
    if not ids or scope is None or not _writes_people(scope):
        return set()
    if scope.capture_path is None:
        return set(ids)
    rows = db.session.execute(select(Person.id, OrgUnit.path).outerjoin(OrgUnit, Person.org_unit_id == OrgUnit.id)
                              .where(Person.id.in_(ids)))
    return {pk for pk, path in rows if _path_allowed(scope, path)}


def shown(person: Any, field: str) -> str | None:
    """The value of a personal field as the current user may see it."""
    value = getattr(person, field)
    if value in (None, "") or may_see_personal(person):
        return value  # type: ignore[no-any-return]
    return MASKS[field](value)


def masked_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a serialized person (API body, audit snapshot) with its personal fields masked."""
    out = dict(values)
    for key in PERSONAL_FIELDS:
        if isinstance(out.get(key), str) and out[key]:
            out[key] = MASKS[key](out[key])
    return out
