"""What the form designer and the workflow designer share: refusal, check outcome, versions, diffs.

Why one place: both designers store a definition as numbered versions of one code, refuse a save
with every reason in Chinese, refuse saving over a version someone else saved meanwhile, and show
the same version list and diff pages.  Keeping these rules here means the two screens cannot
drift apart (a message changed in one but not the other, a rollback forgotten in one).
The rules of *what* a definition may contain stay with each designer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import yaml
from flask import abort, request
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.core.errors import CountyDeskError
from app.core.users import usernames
from app.extensions import db

T = TypeVar("T")


class DesignerProblems(CountyDeskError):
    """Nothing was saved; ``problems`` lists every reason in Chinese.

    ``subject`` names what was refused (``表单定义``, ``流程定义``) in the message.
    """

    status = 422
    subject = "定义"

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(f"{self.subject}有误，未保存：" + "；".join(problems))


@dataclass
class CheckedBase(Generic[T]):
    """What the admin typed, parsed: the definition (None if any problem), every problem, and warnings."""

    raw: Any
    parsed: T | None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.parsed is not None and not self.problems


# -- saving ---------------------------------------------------------------------------------------


MAX_VERSION = 2**31 - 1
"""Version numbers are 32-bit integers in every database; a larger one names no version."""
MAX_CODE = 64


def plausible_key(code: Any, version: Any = None) -> bool:
    """Whether a code (and version) from a URL or a form can name a stored definition at all.

    Why: a URL may carry anything; a NUL byte or a 20-digit number is not a lookup the database
    refuses politely (PostgreSQL rejects NUL in text, SQLite overflows), so it is "not found" here.
    """
    if not isinstance(code, str) or not code or len(code) > MAX_CODE or any(ord(c) < 32 for c in code):
        return False
    return version is None or (isinstance(version, int) and 0 < version <= MAX_VERSION)


def latest_version(model: Any, code: str) -> int | None:
    """The highest stored version of ``code`` in ``model`` (None: never saved)."""
    if not plausible_key(code):
        return None
    return db.session.scalar(select(func.max(model.version)).where(model.code == code))


def is_stale(latest: int | None, base_version: int | None) -> bool:
    """Whether someone saved a newer version than the one the admin opened (then the save is refused)."""
    return base_version is not None and latest is not None and latest != base_version


@contextmanager
def committing(error: type[DesignerProblems], concurrent: str) -> Iterator[None]:
    """Commit what the block stored, or roll it all back.

    A unique-key clash means another save of the same code won the race: refused with
    ``concurrent`` rather than shown as a server error.
    """
    try:
        yield
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise error([concurrent]) from None
    except Exception:
        db.session.rollback()
        raise


# -- versions and diffs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionInfo:
    """One line of a version history; ``source`` is where a form version came from (``designer`` / ``yaml``)."""

    version: int
    name: str
    created_at: Any
    user: str
    source: str = ""


def version_list(model: Any, code: str, unsigned: Callable[[Any], str]) -> list[VersionInfo]:
    """Every version of ``code``, newest first, with who saved it (``unsigned(row)`` when nobody did) and when."""
    if not plausible_key(code):
        return []
    rows = db.session.scalars(select(model).where(model.code == code).order_by(model.version.desc())).all()
    ids = {r.created_by for r in rows if r.created_by}
    users = usernames(ids)
    return [VersionInfo(r.version, r.name, r.created_at,
                        users.get(r.created_by, "—") if r.created_by else unsigned(r), getattr(r, "source", ""))
            for r in rows]


def stored_version(model: Any, code: str, version: int | None = None) -> Any:
    """A stored version (latest when None) of the current county's ``code``, or None."""
    if not plausible_key(code, version or None):
        return None
    stmt = select(model).where(model.code == code)
    stmt = stmt.where(model.version == version) if version else stmt.order_by(model.version.desc())
    return db.session.scalars(stmt.limit(1)).first()


def diff_versions(spec_of: Callable[[str, int], Any], diff_specs: Callable[[Any, Any], T],
                  code: str, a: int, b: int) -> T | None:
    """The diff of two stored versions, or None when either does not exist."""
    old, new = spec_of(code, a), spec_of(code, b)
    if old is None or new is None:
        return None
    return diff_specs(old.spec, new.spec)


def to_yaml(spec: Any) -> str:
    """A definition as the YAML the tenant folder uses (keys in their order, Chinese unescaped)."""
    if spec is None:
        return ""
    return yaml.safe_dump(spec, allow_unicode=True, sort_keys=False, default_flow_style=None, width=120)


# -- view glue ------------------------------------------------------------------------------------


def posted_action() -> tuple[str, int | None]:
    """The editor's button (``check`` / ``preview`` / ``save``) and the version the admin opened.

    The CSRF token was already checked for every POST (``app.security.web_protection``).
    """
    posted = request.form.get("base_version", "")
    number = int(posted) if posted.isascii() and posted.isdigit() and len(posted) < 11 else None
    return request.form.get("action", "check"), number


def diff_args() -> tuple[int, int]:
    """The two version numbers of a diff request (400 unless both are numbers)."""
    a, b = request.args.get("a", ""), request.args.get("b", "")
    if not (a.isascii() and a.isdigit() and b.isascii() and b.isdigit()):
        abort(400)
    if not (0 < int(a) <= MAX_VERSION and 0 < int(b) <= MAX_VERSION):
        abort(404)
    return int(a), int(b)
