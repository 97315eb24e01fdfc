"""Generic form screens: one view serves every county's forms at ``/forms/<code>/…`` (declarations + glue).

The definition is read from the database per request, so a form added or changed by a county
appears without a restart. Logic lives in ``app.forms.services`` (the list's rows in
``app.forms.listing``); scoping in the data layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import lazy_gettext as _
from flask_wtf import FlaskForm
from sqlalchemy import ColumnElement, select

from app.core.errors import CountyDeskError, NotFound
from app.core.locking import EditConflict
from app.core.registry import ViewSpec, declare_view
from app.core.tenancy import current_scope, current_tenant_id
from app.extensions import db
from app.forms import listing, services
from app.forms.definition import FormDef
from app.forms.models import RECORD_STATUS_LABELS, FormRecord
from app.forms.schemas import LIST_SORT_LABELS, display
from app.forms.services import FormValidationError, LiveForm
from app.forms.wtforms_gen import form_class, payload_from, record_to_formdata, sections_of, show_stored_files
from app.orgs.models import OrgUnit
from app.staffing.models import Person

WRITERS = ("county_admin", "town_clerk", "village_worker")
T = "countydesk/forms/"


def _live(code: str) -> LiveForm:
    try:
        return services.get_form(code)
    except NotFound:
        abort(404)


def _record(code: str, rid: int) -> FormRecord:
    try:
        return services.get_record(code, rid)
    except NotFound:
        abort(404)


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else None


def _capture_path() -> str | None:
    scope = current_scope()
    return scope.capture_path if scope else None


def _unit_choices(level: str) -> list[tuple[str, str]]:
    stmt = select(OrgUnit.id, OrgUnit.name, OrgUnit.code).order_by(OrgUnit.path)
    stmt = stmt.where(OrgUnit.level == level) if level else stmt
    path = _capture_path()
    if path:
        stmt = stmt.where(OrgUnit.path.startswith(path))
    return [("", "—"), *[(str(r.id), f"{r.name}（{r.code}）") for r in db.session.execute(stmt)]]


def _filter_units(selected: int | None) -> list[tuple[str, str]]:
    """The list filter's units: every unit above village level, plus the selected unit's own children.

    A county has thousands of villages; listing them all made every list page slow to render, and a
    town's subtree is one pick away (choose the town, then its villages appear).
    """
    stmt = select(OrgUnit.id, OrgUnit.name, OrgUnit.code).order_by(OrgUnit.path)
    near: ColumnElement[bool] = OrgUnit.level.in_(("county", "town"))
    if selected:
        near = near | (OrgUnit.id == selected) | (OrgUnit.parent_id == selected)
    stmt = stmt.where(near)
    path = _capture_path()
    if path:
        stmt = stmt.where(OrgUnit.path.startswith(path))
    return [("", "—"), *[(str(r.id), f"{r.name}（{r.code}）") for r in db.session.execute(stmt)]]


_SENTINEL_ID = 987654321


def _record_urls(code: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """(head, tail) of the show and edit links around the record id: one ``url_for`` each per page.

    A list page of 50 rows built 100 links through the URL map, a good part of the page's time.
    """
    show = url_for(".show", code=code, rid=_SENTINEL_ID).rpartition(str(_SENTINEL_ID))
    edit = url_for(".edit", code=code, rid=_SENTINEL_ID).rpartition(str(_SENTINEL_ID))
    return (show[0], show[2]), (edit[0], edit[2])


def _person_choices() -> list[tuple[str, str]]:
    stmt = select(Person.id, Person.name).order_by(Person.name)
    path = _capture_path()
    if path:
        stmt = stmt.join(OrgUnit, OrgUnit.id == Person.org_unit_id).where(OrgUnit.path.startswith(path))
    return [("", "—"), *[(str(r.id), r.name) for r in db.session.execute(stmt)]]


def _prepare(form: FormDef, wtf: FlaskForm) -> None:
    """Fill the per-tenant choices (org units, people) of a form instance."""
    if "org_unit_id" in wtf:
        wtf["org_unit_id"].choices = _unit_choices(form.target)
    if "person_id" in wtf:
        wtf["person_id"].choices = _person_choices()
    for f in form.fields:
        if f.type == "org_unit":
            wtf[f.code].choices = _unit_choices("")
        elif f.type == "person":
            wtf[f.code].choices = _person_choices()


def _put_errors(wtf: FlaskForm, errors: dict[str, list[str]]) -> list[str]:
    """Service messages onto the form's fields; returns those that belong to no field."""
    general = []
    for key, messages in errors.items():
        if key in wtf and key != "row_version":
            wtf[key].errors = [*(wtf[key].errors or []), *messages]
        else:
            general.extend(messages)
    return general


class FormsView(BaseView):
    """表单填报: the index of the tenant's forms and each form's list, show, add, edit, delete, submit."""

    route_base = "/forms"
    default_view = "list"

    def _render(self, template: str, **kw: Any) -> Any:
        return self.render_template(T + template, statuses=RECORD_STATUS_LABELS, **kw)

    @expose("/")
    @has_access
    def list(self) -> Any:
        """The index of the tenant's forms (``list``: the landing page links every readable view's list)."""
        return self._render("index.html", forms=services.current_forms())

    @expose("/<code>/")
    @has_access
    @permission_name("list")
    def records(self, code: str) -> Any:
        live = _live(code)
        org_id, period, status = _int_arg("org_unit"), request.args.get("period") or None, request.args.get("status")
        sort = request.args.get("sort", "-id")
        page = listing.list_page(code, after=_int_arg("after"), before=_int_arg("before"), org_unit_id=org_id,
                                 period=period, status=status if status in RECORD_STATUS_LABELS else None,
                                 sort=sort if sort in LIST_SORT_LABELS else "-id")
        args = {k: v for k, v in {"org_unit": org_id, "period": period, "status": status, "sort": sort}.items() if v}
        statuses = {k: str(_(v)) for k, v in RECORD_STATUS_LABELS.items()}  # translated once, not per row
        show, edit = _record_urls(code)
        rows = listing.table_html(listing.table(live.form, page.rows, statuses), show, edit,
                                  str(_("查看")), str(_("修改")))
        return self.render_template(T + "list.html", statuses=statuses, form=live.form, page=page,
                                    columns=listing.columns_of(live.form)[0], rows=rows, args=args,
                                    units=_filter_units(org_id), sorts=LIST_SORT_LABELS)

    @expose("/<code>/<int:rid>")
    @has_access
    def show(self, code: str, rid: int) -> Any:
        live, record = _live(code), _record(code, rid)
        shown = live.form if record.form_version == live.version else services.get_form(code, record.form_version).form
        try:
            from app.core.audit import history

            events = history(record.audit_entity, record.id)
        except ImportError:  # audit trail not installed: no history to show
            events = []
        return self._render("show.html", live=live, form=shown, record=record, display=display, events=events,
                            locked=services.is_locked(shown, record.period), action_form=FlaskForm(),
                            label=services.record_label(record))

    @expose("/<code>/add", methods=["GET", "POST"])
    @has_access
    def add(self, code: str) -> Any:
        live = _live(code)
        wtf = form_class(live.form, current_tenant_id(), live.version)()
        _prepare(live.form, wtf)
        if request.method == "GET":  # ?org_unit=&period= from the completeness screen's link to a missing report
            if "org_unit_id" in wtf and _int_arg("org_unit"):
                wtf["org_unit_id"].data = str(_int_arg("org_unit"))
            if "period" in wtf and request.args.get("period"):
                wtf["period"].data = request.args["period"][:7]
        return self._entry(live, wtf, None, lambda: services.create_record(code, payload_from(live.form, wtf)))

    @expose("/<code>/<int:rid>/edit", methods=["GET", "POST"])
    @has_access
    def edit(self, code: str, rid: int) -> Any:
        live, record = _live(code), _record(code, rid)
        cls = form_class(live.form, current_tenant_id(), live.version)
        wtf = cls() if request.method == "POST" else cls(data=record_to_formdata(live.form, record))
        if request.method == "POST":
            show_stored_files(live.form, wtf, record)
        _prepare(live.form, wtf)
        return self._entry(live, wtf, record, lambda: services.update_record(
            code, rid, payload_from(live.form, wtf), wtf["row_version"].data))

    def _entry(self, live: LiveForm, wtf: FlaskForm, record: FormRecord | None,
               save: Callable[[], FormRecord]) -> Any:
        """Add and edit once the form is built: a valid POST is saved and opens the record; otherwise the entry
        page again with why (field and rule errors 422, scope or period lock 403), or, when a colleague saved
        the record first, the conflict page with both versions (409)."""
        general: list[str] = []
        status = 422 if request.method == "POST" else 200
        if request.method == "POST" and wtf.validate():
            try:
                saved = save()
                db.session.commit()
                flash(str(_("已保存")), "success")
                return redirect(url_for(".show", code=live.form.code, rid=saved.id))
            except EditConflict as exc:
                db.session.rollback()
                if record is None:
                    raise
                rows = [{"label": f.label, "theirs": display(f, exc.theirs.get(f.code)),
                         "mine": display(f, exc.mine.get(f.code))} for f in live.form.fields]
                return self._render("conflict.html", live=live, record=_record(live.form.code, record.id),
                                    conflict=exc, rows=rows), 409
            except FormValidationError as exc:
                db.session.rollback()
                general = _put_errors(wtf, exc.errors)
            except CountyDeskError as exc:
                db.session.rollback()
                general, status = [exc.message], exc.status
        return self._render("edit.html", live=live, form=live.form, wtf=wtf, sections=sections_of(live.form),
                            general=general, record=record, action_form=FlaskForm()), status

    @expose("/<code>/<int:rid>/delete", methods=["POST"])
    @has_access
    def delete(self, code: str, rid: int) -> Any:
        """Delete the record at the version the page showed: a record changed since is kept, and the show
        page says so (a missing version counts as stale)."""
        return self._action(code, rid, lambda: services.delete_record(code, rid, request.form.get("row_version", "")),
                            str(_("已删除")), url_for(".records", code=code), conflict=_delete_conflict)

    @expose("/<code>/<int:rid>/submit", methods=["POST"])
    @has_access
    @permission_name("edit")
    def submit(self, code: str, rid: int) -> Any:
        return self._action(code, rid, lambda: services.submit_record(code, rid, request.form.get("row_version")),
                            str(_("已提交")), url_for(".show", code=code, rid=rid))

    def _action(self, code: str, rid: int, act: Callable[[], Any], done: str, target: str,
                conflict: Callable[[EditConflict], str] | None = None) -> Any:
        _live(code)
        _record(code, rid)
        if not FlaskForm().validate_on_submit():
            abort(400)
        try:
            act()
            db.session.commit()
            flash(done, "success")
            return redirect(target)
        except CountyDeskError as exc:
            db.session.rollback()
            flash(conflict(exc) if conflict is not None and isinstance(exc, EditConflict) else exc.message, "danger")
            return redirect(url_for(".show", code=code, rid=rid))


def _delete_conflict(exc: EditConflict) -> str:
    """The lock's message speaks of an unsaved edit; a refused delete needs its own words."""
    return (f"删除冲突：这条记录在您打开后已被他人修改（当前版本 {exc.current_version}，您看到的是版本 "
            f"{exc.submitted_version or '未知'}），未删除。请查看最新内容后再决定是否删除。")


declare_view(ViewSpec(FormsView, "Forms", _("表单列表"), "FormsMenu", _("表单填报"), "fa-wpforms",
                      writers=WRITERS))

from app.forms import api as _api  # noqa: E402,F401  (declares the REST API)
from app.forms import completeness_views as _completeness_views  # noqa: E402,F401  (上报情况)
