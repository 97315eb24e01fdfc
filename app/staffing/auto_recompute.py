"""Recompute quotas by themselves after the data they are computed from changes.

Population facts and position formulas feed the quotas. Whoever changes them (a screen, an
API, ``set_rule``, a tenant folder load) should not have to remember the recompute, and a
request that changes 300 facts must not start 300 jobs. So the ORM flush only *notes* which
(tenant, period) pairs are affected, in ``session.info``; when the transaction commits, one
recompute job per pair is queued. A rollback forgets the notes: a change that failed
validation queues nothing.

- a population fact of ``2025-03`` affects that month; a fact of ``2025`` affects the year and
  every month of 2025 that already has quota rows (months without their own facts read the year's);
- a position's formula or level (or a new rule version) affects every period that has quota rows
  for the tenant, or the current year when there are none yet.

The tenant loader writes with Core (bulk), which no ORM event sees: it calls
``recompute_after_load`` at the end of a load instead.

A formula edited on the position screen or API becomes a new rule version from today (as a
changed formula in tenant.yaml does), after the same type check as ``set_rule``: the versions,
not ``position.quota_formula``, are what a recompute reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.core import clock
from app.core.tenancy import current_scope
from app.orgs.models import PopulationFact
from app.staffing.models import Position
from app.staffing.quota_models import PositionRule, StaffingQuota

PENDING_KEY = "countydesk_recompute"
CONFIG_KEY = "STAFFING_AUTO_RECOMPUTE"
"""App setting; ``False`` turns the automatic recompute off (the CLI and the job stay available)."""
_RULE_ATTRS = {"quota_formula": "quota"}
_AFFECTS_ALL = ("quota_formula", "org_level")


def install() -> None:
    """Attach the flush and commit listeners to every Session (idempotent)."""
    for name, fn in (("before_flush", _version_edited_formulas), ("after_flush", _note_changes),
                     ("after_commit", _enqueue_noted), ("after_soft_rollback", _forget)):
        if not event.contains(Session, name, fn):
            event.listen(Session, name, fn)


def _enabled() -> bool:
    return has_app_context() and bool(current_app.config.get(CONFIG_KEY, True)) and \
        "countydesk_queues" in current_app.extensions


def _pending(session: Session) -> dict[int, set[str]]:
    pending: dict[int, set[str]] = session.info.setdefault(PENDING_KEY, {})
    return pending


def _changed(obj: Any, attrs: Iterable[str]) -> bool:
    state = sa.inspect(obj)
    return any(state.attrs[a].history.has_changes() for a in attrs)


def _version_edited_formulas(session: Session, flush_context: Any, instances: Any) -> None:
    """A quota formula changed on an existing position becomes version n+1, in force from today."""
    from app.formulas import FormulaError
    from app.staffing.rules import RuleError, compile_rule

    for obj in list(session.dirty):
        if not isinstance(obj, Position) or not _changed(obj, _RULE_ATTRS):
            continue
        for attr, kind in _RULE_ATTRS.items():
            text = (getattr(obj, attr) or "").strip()
            if not text or not sa.inspect(obj).attrs[attr].history.has_changes():
                continue
            try:
                compile_rule(kind, text)
            except FormulaError as err:  # refused like any other bad input (422): the flush fails, nothing saved
                raise RuleError(f"岗位「{obj.code}」的定额公式有误：{err}") from err
            with session.no_autoflush:
                latest = session.scalar(select(func.max(PositionRule.version))
                                        .where(PositionRule.position_id == obj.id, PositionRule.kind == kind))
            if latest is None:
                continue  # no version yet: the recompute makes version 1 from the position's formula
            scope = current_scope()
            session.add(PositionRule(tenant_id=obj.tenant_id, position_id=obj.id, kind=kind, formula=text,
                                     effective_from=clock.server_today(), version=latest + 1,
                                     created_by=scope.user_id if scope else None))


def _note_changes(session: Session, flush_context: Any) -> None:
    """After each flush: which (tenant, period) pairs the flushed rows affect."""
    if not _enabled():
        return
    all_periods: set[int] = set()
    years: dict[int, set[str]] = {}
    pending = _pending(session)
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, PopulationFact):
            if obj in session.dirty and not session.is_modified(obj):
                continue
            periods = {obj.period, *sa.inspect(obj).attrs["period"].history.deleted}
            for period in filter(None, periods):
                pending.setdefault(obj.tenant_id, set()).add(period)
                if len(period) == 4:
                    years.setdefault(obj.tenant_id, set()).add(period)
        elif isinstance(obj, Position):
            if obj in session.new or (obj in session.dirty and _changed(obj, _AFFECTS_ALL)):
                all_periods.add(obj.tenant_id)
        elif isinstance(obj, PositionRule) and obj in session.new:
            all_periods.add(obj.tenant_id)
    if all_periods or years:
        conn = session.connection()
        for tenant_id in all_periods:
            pending.setdefault(tenant_id, set()).update(quota_periods(conn, tenant_id) or {_this_year()})
        for tenant_id, wanted in years.items():
            months = quota_periods(conn, tenant_id, months_of=wanted)
            pending.setdefault(tenant_id, set()).update(months)


def quota_periods(conn: sa.Connection, tenant_id: int, months_of: set[str] | None = None) -> set[str]:
    """Periods with quota rows for a tenant (Core: the tenant is named explicitly); or the months of some years."""
    q = StaffingQuota.__table__
    stmt = select(q.c.period).distinct().where(q.c.tenant_id == tenant_id)
    if months_of is not None:
        stmt = stmt.where(func.length(q.c.period) == 7, func.substr(q.c.period, 1, 4).in_(sorted(months_of)))
    return {row.period for row in conn.execute(stmt)}


def _this_year() -> str:
    return str(clock.server_today().year)


def _forget(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # the outermost transaction rolled back
        session.info.pop(PENDING_KEY, None)


def _enqueue_noted(session: Session) -> None:
    pending = session.info.pop(PENDING_KEY, None)
    if pending and _enabled():
        enqueue_recomputes(pending)


def enqueue_recomputes(pending: dict[int, set[str]]) -> list[Any]:
    """One recompute job per (tenant, period), in a stable order; returns the jobs.

    Inline jobs (no Redis) run during ``enqueue``. They run in an app context of their own, so
    the job has its own database session: this may be called from the ``after_commit`` of the
    caller's session, which can no longer run SQL.
    """
    from app.jobs.queue import get_queue
    from app.staffing.tasks import enqueue_recompute

    scope = current_scope()
    user_id = scope.user_id if scope else None
    jobs = []
    inline = not get_queue("long").is_async
    for tenant_id in sorted(pending):
        for period in sorted(pending[tenant_id]):
            if inline:
                with current_app.app_context():
                    jobs.append(enqueue_recompute(period, tenant_id=tenant_id, user_id=user_id))
            else:
                jobs.append(enqueue_recompute(period, tenant_id=tenant_id, user_id=user_id))
    return jobs


def recompute_after_load(tenant_id: int, inserted: dict[str, int], updated: dict[str, int],
                         population_periods: Iterable[str]) -> list[Any]:
    """Called by the tenant loader after its commit: the loader's bulk writes bypass the ORM events.

    Changed facts → the periods of the folder's population rows (and, for a year, its months with
    quota rows); changed positions or rule versions → every period with quota rows (or, when none,
    the folder's periods, or this year);
    changed appointments or org units → every period with quota rows (staffed counts, rollups).
    """
    if not _enabled():
        return []
    from app.extensions import db

    changed = {t for t, n in (*inserted.items(), *updated.items()) if n}
    folder_periods = set(population_periods)
    periods: set[str] = set()
    with db.engine.connect() as conn:
        _act_for(conn, tenant_id)
        if changed & {"position", "position_rule"}:  # a first load computes the folder's periods, not this year
            periods |= quota_periods(conn, tenant_id) or folder_periods or {_this_year()}
        elif changed & {"appointment", "org_unit"}:  # staffed counts and rollups of what is already computed
            periods |= quota_periods(conn, tenant_id)
        if "population_fact" in changed:
            years = {p for p in folder_periods if len(p) == 4}
            periods |= folder_periods | quota_periods(conn, tenant_id, months_of=years)
    return enqueue_recomputes({tenant_id: periods}) if periods else []


def _act_for(conn: sa.Connection, tenant_id: int) -> None:
    """Row-level security on PostgreSQL: this read acts for the tenant (a fresh connection has no scope)."""
    from app.core.tenancy import sync_db_tenant

    sync_db_tenant(conn, tenant_id)
