"""Workflow screens: the inbox (待办), a case with its timeline and actions, and the definitions drawn.

Declarations only: every decision (who may act, scope, conditions, concurrency) is in
``services``; a refusal arrives here as a ``CountyDeskError`` and is answered 403/404/409/400.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext
from flask_babel import lazy_gettext as _
from markupsafe import Markup
from sqlalchemy import select

from app.core.errors import NotFound
from app.core.registry import ViewSpec, declare_view
from app.extensions import db
from app.orgs.models import OrgUnit
from app.workflows import services
from app.workflows.diagram import to_svg
from app.workflows.inbox_count import inbox_menu_label
from app.workflows.models import WorkflowDefinition, WorkflowInstance

ACTORS = ("county_admin", "town_clerk", "village_worker")


def _actor() -> services.Actor:
    return services.actor_for_user(g.user)


def _user_names(ids: set[int | None]) -> dict[int, str]:
    from app.security.models import CountyUser

    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return dict(db.session.execute(select(CountyUser.id, CountyUser.username).where(CountyUser.id.in_(wanted))).all())


def _subject_name(inst: WorkflowInstance) -> str:
    if inst.person is not None:
        return inst.person.name
    unit = db.session.get(OrgUnit, inst.subject_org_id) if inst.subject_org_id else None
    return unit.name if unit else "—"


class WorkflowInboxView(BaseView):
    """``/workflows/``: what waits for me, counts per process and stage, and each case's page."""

    route_base = "/workflows"
    default_view = "list"

    @expose("/")
    @has_access
    def list(self) -> Any:
        actor = _actor()
        box = services.inbox(actor)
        codes = db.session.execute(select(WorkflowDefinition.code, WorkflowDefinition.name).distinct()
                                   .order_by(WorkflowDefinition.code)).all()
        return self.render_template("countydesk/workflows/inbox.html", box=box, subject_name=_subject_name,
                                    definitions=codes, can_act=bool(actor.roles))

    @expose("/case/<int:instance_id>")
    @has_access
    def show(self, instance_id: int) -> Any:
        inst = services.get_instance(instance_id)
        actor = _actor()
        definition = services.load_definition(inst.definition_code, inst.definition_version)
        steps = services.history(instance_id)
        opinions = services.vote_records(instance_id)
        names = _user_names({s.user_id for s in steps} | {v.user_id for v in opinions})
        actions = services.available_actions(inst, actor) if actor.roles else []
        failed = [(s, n, t) for s in steps for n, t in (s.tasks or {}).items() if t.get("status") == "failed"]
        return self.render_template(
            "countydesk/workflows/case.html", inst=inst, definition=definition, state=definition.state(inst.state),
            steps=steps, names=names, actions=actions, votes=services.votes_of(inst), subject=_subject_name(inst),
            failed=failed if "county_admin" in actor.roles else [], labels=_state_labels(definition),
            opinions=opinions, my_party=actor.party)

    @expose("/case/<int:instance_id>/act", methods=["POST"])
    @has_access
    def post(self, instance_id: int) -> Any:
        form = request.form
        data = {k[5:]: v for k, v in form.items() if k.startswith("data_") and v != ""}
        result = services.act(instance_id, form.get("action", ""), actor=_actor(),
                              comment=form.get("comment") or None, data=data,
                              expected_row_version=form.get("row_version", type=int),
                              party=form.get("party") or None, decision=form.get("decision") or "approve")
        flash(gettext("已办理") if result.moved else gettext("意见已记录，等待其他单位表态"), "success")
        return redirect(url_for("WorkflowInboxView.show", instance_id=instance_id))

    @expose("/start", methods=["POST"])
    @has_access
    def add(self) -> Any:
        """Open a case for a person (by 身份证号) or an org unit (by code)."""
        from app.staffing.models import Person

        form = request.form
        person_id = org_id = None
        if form.get("id_number"):
            person_id = db.session.scalar(select(Person.id).where(Person.id_number == form["id_number"].strip()))
            if person_id is None:
                raise NotFound(gettext("本县没有这个身份证号的人员"))
        elif form.get("org_code"):
            org_id = db.session.scalar(select(OrgUnit.id).where(OrgUnit.code == form["org_code"].strip()))
            if org_id is None:
                raise NotFound(gettext("本县没有这个组织机构代码"))
        data = {k[5:]: v for k, v in form.items() if k.startswith("data_") and v != ""}
        inst = services.start(form.get("code", ""), actor=_actor(), person_id=person_id, org_unit_id=org_id,
                              data=data)
        flash(gettext("已发起"), "success")
        return redirect(url_for("WorkflowInboxView.show", instance_id=inst.id))

    @expose("/bulk", methods=["POST"])
    @has_access
    def put(self) -> Any:
        """Bulk action: every case of a process waiting for it under an org unit."""
        form = request.form
        org_id = db.session.scalar(select(OrgUnit.id).where(OrgUnit.code == form.get("org_code", "").strip()))
        if org_id is None:
            raise NotFound(gettext("本县没有这个组织机构代码"))
        report = services.bulk_act(form.get("code", ""), org_id, form.get("action", ""), actor=_actor(),
                                   comment=form.get("comment") or None, party=form.get("party") or None,
                                   decision=form.get("decision") or "approve")
        flash(report.summary(), "success")
        return redirect(url_for("WorkflowInboxView.list"))


def _state_labels(definition: Any) -> dict[str, str]:
    return {s.code: s.label for s in definition.states}


class WorkflowDefinitionView(BaseView):
    """``/workflow_definitions/``: each process of the county, its versions and its diagram."""

    route_base = "/workflow_definitions"
    default_view = "list"

    @expose("/")
    @has_access
    def list(self) -> Any:
        rows = db.session.scalars(select(WorkflowDefinition)
                                  .order_by(WorkflowDefinition.code, WorkflowDefinition.version.desc())).all()
        latest: dict[str, WorkflowDefinition] = {}
        versions: dict[str, list[int]] = {}
        for r in rows:
            latest.setdefault(r.code, r)
            versions.setdefault(r.code, []).append(r.version)
        return self.render_template("countydesk/workflows/definitions.html", latest=latest, versions=versions)

    @expose("/<code>")
    @expose("/<code>/v<int:version>")
    @has_access
    def show(self, code: str, version: int | None = None) -> Any:
        from app.core.designer_base import plausible_key

        if not plausible_key(code, version):  # a NUL byte or a 20-digit version names nothing
            abort(404)
        try:
            definition = services.load_definition(code, version)
        except NotFound:
            abort(404)
        stored = db.session.scalars(select(WorkflowDefinition).where(WorkflowDefinition.code == code)
                                    .order_by(WorkflowDefinition.version.desc())).all()
        shown = version or stored[0].version
        return self.render_template("countydesk/workflows/definition.html", definition=definition,
                                    svg=Markup(to_svg(definition)), version=shown,
                                    versions=[r.version for r in stored], labels=_state_labels(definition))


# The label carries the number of cases waiting for the user, counted when the menu is drawn.
declare_view(ViewSpec(WorkflowInboxView, "WorkflowInbox", inbox_menu_label, "Workflows", _("流程办理"), "fa-inbox",
                      writers=ACTORS, readers=ACTORS))
declare_view(ViewSpec(WorkflowDefinitionView, "WorkflowDefinitions", _("流程定义"), "Workflows", _("流程办理"),
                      "fa-sitemap", readers=("county_admin",)))

# The designer is declared with the other workflow screens (after them, so it follows them in the menu).
import app.workflows.designer_views  # noqa: E402, F401
