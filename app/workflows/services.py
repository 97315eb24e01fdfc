"""The workflow engine's operations without HTTP, in one import: start, act, bulk_act, inbox, history.

Callers (screens, commands, jobs, plugins) import from here; the work is done in modules named
after what they do, each small enough to read in one sitting:

- ``actors``   — who acts (:class:`Actor`, ``SYSTEM``) and the refusals (``WorkflowError``, ``AlreadyHandled``)
- ``catalog``  — stored definitions, latest or by version, parsed once
- ``starting`` — opening one case, or an annual cycle set-based
- ``acting``   — one action on one case: checks, the conditional UPDATE, N-of-M votes
- ``bulk``     — one action on every waiting case of a subtree, set-based
- ``inbox``    — history, available actions, the inbox and its 督办 (escalation) notices
"""

from __future__ import annotations

from app.workflows.acting import (
    DECISIONS,
    ActResult,
    _check_actor,
    _check_condition,
    _move,
    act,
    get_instance,
    party_for,
    subject_values,
    vote_records,
    votes_of,
)
from app.workflows.actors import SYSTEM, Actor, AlreadyHandled, WorkflowError, _now, actor_for_user
from app.workflows.bulk import BulkReport, bulk_act
from app.workflows.catalog import _functions, definition_version, load_definition
from app.workflows.inbox import Inbox, InboxItem, available_actions, history, inbox, instances_of
from app.workflows.starting import start, start_cycle

__all__ = [
    "DECISIONS", "SYSTEM", "ActResult", "Actor", "AlreadyHandled", "BulkReport", "Inbox", "InboxItem",
    "WorkflowError", "_check_actor", "_check_condition", "_functions", "_move", "_now", "act", "actor_for_user",
    "available_actions", "bulk_act", "definition_version", "get_instance", "history", "inbox", "instances_of",
    "load_definition", "party_for", "start", "start_cycle", "subject_values", "vote_records", "votes_of",
]
