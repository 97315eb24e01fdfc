"""Screens and APIs for positions, people and appointments (declarations only)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _

from app.core.errors import ScopeDenied
from app.core.registry import ViewSpec, declare_view
from app.core.views import TenantModelApi, TenantModelView
from app.forms.custom_fields import CustomFieldsApiMixin, CustomFieldsViewMixin
from app.forms.custom_fields_list import CustomFieldsInterface
from app.formulas.education import education_problem
from app.staffing import pii
from app.staffing.models import Appointment, Person, Position
from app.staffing.rules import POSITION_CHECKS

PERSON_LABELS = {"name": _("姓名"), "id_number": _("身份证号"), "id_number_masked": _("身份证号"),
                 "sex": _("性别"), "birth_date": _("出生日期"),
                 "education": _("学历"), "phone": _("电话"), "phone_shown": _("电话"), "bank_card": _("银行卡号"),
                 "bank_card_shown": _("银行卡号"), "org_unit": _("所在村（社区）"), "appointments": _("聘用记录")}
OUT_OF_SCOPE_EDIT = "该人员不在您的辖区内，不能编辑；请联系其所在镇的录入员或县管理员"
APPOINTMENT_LABELS = {"person": _("人员"), "position_code": _("岗位代码"), "org_unit": _("工作单位"),
                      "start_date": _("聘期开始"), "end_date": _("聘期结束"), "status": _("状态"),
                      "status_label": _("状态")}
POSITION_LABELS = {"code": _("岗位代码"), "name": _("岗位名称"), "org_level": _("配备层级"),
                   "quota_formula": _("定额公式"), "eligibility_formula": _("资格条件公式"),
                   "term_years": _("聘期（年）"), "rehire_ban_years": _("解聘后禁聘（年）")}


PERSON_CHECKS = {"education": education_problem}


def _form_checks(checks: dict[str, Any]) -> dict[str, list[Any]]:
    """Checks as WTForms validators (the screen), the same rules as the API and the loader."""
    from wtforms.validators import ValidationError

    def validator(check: Any) -> Any:
        def validate(form: Any, field: Any) -> None:
            message = check(field.data)
            if message:
                raise ValidationError(message)
        return validate

    return {column: [validator(check)] for column, check in checks.items()}


def _schema_checks(checks: dict[str, Any]) -> dict[str, Any]:
    """Checks as marshmallow validators (the API answers 422 naming the field)."""
    from marshmallow import ValidationError

    def validator(check: Any) -> Any:
        def validate(value: Any) -> None:
            message = check(value)
            if message:
                raise ValidationError(message)
        return validate

    return {column: validator(check) for column, check in checks.items()}


class PositionView(TenantModelView):
    datamodel = SQLAInterface(Position)
    validators_columns = _form_checks(POSITION_CHECKS)
    list_title = show_title = _("岗位")
    list_columns = ["code", "name", "org_level", "quota_formula", "term_years"]
    show_columns = add_columns = edit_columns = [
        "code", "name", "org_level", "quota_formula", "eligibility_formula", "term_years", "rehire_ban_years"]
    label_columns = POSITION_LABELS


class PersonView(CustomFieldsViewMixin, TenantModelView):
    datamodel = CustomFieldsInterface(Person)
    validators_columns = _form_checks(PERSON_CHECKS)
    description_columns = {"education": _("可填：小学、初中、高中、中专、大专、本科、研究生")}
    list_title = show_title = _("人员")
    add_title = _("新增人员")
    edit_title = _("编辑人员")
    # 身份证号 masked on every reading screen and the export; phone and bank card on the show page per person
    # and user (``app.staffing.pii``); the full numbers otherwise only in the edit form, for who may write them
    list_columns = ["name", "id_number_masked", "sex", "birth_date", "education", "org_unit"]
    show_columns = ["name", "id_number_masked", "sex", "birth_date", "education", "phone_shown", "bank_card_shown",
                    "org_unit"]
    add_columns = edit_columns = ["name", "id_number", "education", "phone", "bank_card", "org_unit"]
    search_columns = ["name", "education", "org_unit"]
    label_columns = PERSON_LABELS

    def _edit(self, pk: Any) -> Any:
        """The edit form carries the full numbers: refused outright for a person outside the user's scope."""
        item = self.datamodel.get(pk, self._base_filters)
        if item is not None and not pii.may_see_personal(item):
            raise ScopeDenied(OUT_OF_SCOPE_EDIT)
        return super()._edit(pk)

    def history_rows(self, item: Any) -> list[dict[str, Any]]:
        """The show page's 修改历史 lists old and new phone and bank card values: masked like the page."""
        if pii.may_see_personal(item):
            return super().history_rows(item)
        from app.core.audit import entity_of, history

        events = history(entity_of(item), self.datamodel.get_pk_value(item))
        return self.describe_events([_MaskedEvent(e) for e in reversed(events)])


class _MaskedEvent:
    """An audit event read with its personal values masked (the stored event is never touched)."""

    def __init__(self, event: Any) -> None:
        self._event = event
        self.before = pii.masked_values(event.before) if event.before else event.before
        self.after = pii.masked_values(event.after) if event.after else event.after

    def __getattr__(self, name: str) -> Any:
        return getattr(self._event, name)


class AppointmentView(CustomFieldsViewMixin, TenantModelView):
    datamodel = CustomFieldsInterface(Appointment)
    list_title = show_title = _("聘用记录")
    list_columns = ["person", "position_code", "org_unit", "start_date", "end_date", "status_label"]
    show_columns = add_columns = edit_columns = [
        "person", "position_code", "org_unit", "start_date", "end_date", "status"]
    search_columns = ["person", "position_code", "org_unit", "status", "start_date", "end_date"]
    label_columns = APPOINTMENT_LABELS


class PositionApi(TenantModelApi):
    resource_name = "position"
    datamodel = SQLAInterface(Position)
    list_columns = show_columns = ["id", "code", "name", "org_level", "quota_formula", "eligibility_formula",
                                   "term_years", "rehire_ban_years"]
    add_columns = edit_columns = ["code", "name", "org_level", "quota_formula", "eligibility_formula",
                                  "term_years", "rehire_ban_years"]
    validators_columns = _schema_checks(POSITION_CHECKS)


class PersonApi(CustomFieldsApiMixin, TenantModelApi):
    resource_name = "person"
    datamodel = SQLAInterface(Person)
    validators_columns = _schema_checks(PERSON_CHECKS)
    # reading shows the ID number masked; phone and bank card, and every write's answer, are masked per person
    # and user (``app.staffing.pii``)
    list_columns = ["id", "name", "id_number_masked", "sex", "birth_date", "education", "org_unit.code"]
    show_columns = ["id", "name", "id_number_masked", "sex", "birth_date", "education", "phone", "bank_card",
                    "org_unit.code"]
    add_columns = edit_columns = ["name", "id_number", "education", "phone", "bank_card", "org_unit"]
    search_columns = ["name", "education", "org_unit"]

    def pre_get(self, data: dict[str, Any]) -> None:
        super().pre_get(data)
        if data.get("id") not in pii.visible_person_ids([data.get("id")]):
            data["result"] = pii.masked_values(data["result"])

    def pre_get_list(self, data: dict[str, Any]) -> None:
        super().pre_get_list(data)
        visible = pii.visible_person_ids(data.get("ids") or [])
        data["result"] = [row if pk in visible else pii.masked_values(row)
                          for row, pk in zip(data["result"], data.get("ids") or [], strict=True)]

    def post_headless(self) -> Any:
        return _masked_answer(super().post_headless(), None)

    def put_headless(self, pk: Any) -> Any:
        return _masked_answer(super().put_headless(pk), pk)


def _masked_answer(response: Any, pk: Any) -> Any:
    """A write's answer (the saved person, or both versions of a conflict) masked like a GET of it."""
    body = response.get_json(silent=True)
    if not isinstance(body, dict):
        return response
    pk = body.get("id", pk)
    try:
        person_id = int(pk)
    except (TypeError, ValueError):
        person_id = None
    if person_id is not None and person_id in pii.visible_person_ids([person_id]):
        return response
    masked = {k: pii.masked_values(v) if k in ("result", "theirs", "yours") and isinstance(v, dict) else v
              for k, v in body.items()}
    if masked != body:
        response.set_data(current_app.json.dumps(masked))
    return response


class AppointmentApi(CustomFieldsApiMixin, TenantModelApi):
    resource_name = "appointment"
    datamodel = SQLAInterface(Appointment)
    list_columns = show_columns = ["id", "person.id", "person.name", "position_code", "org_unit.code",
                                   "start_date", "end_date", "status"]
    add_columns = edit_columns = ["person", "position_code", "org_unit", "start_date", "end_date", "status"]
    search_columns = ["position_code", "status", "org_unit", "person"]


STAFF = "Staff"
STAFF_LABEL = _("人员队伍")
WRITERS = pii.PERSON_WRITERS
declare_view(ViewSpec(PositionView, "Positions", _("岗位"), STAFF, STAFF_LABEL, "fa-briefcase",
                      writers=("county_admin",)))
declare_view(ViewSpec(PersonView, "People", _("人员"), STAFF, STAFF_LABEL, "fa-user", writers=WRITERS))
declare_view(ViewSpec(AppointmentView, "Appointments", _("聘用记录"), STAFF, STAFF_LABEL, "fa-id-card",
                      writers=WRITERS))
declare_view(ViewSpec(PositionApi, "PositionApi", menu=False, writers=("county_admin",)))
declare_view(ViewSpec(PersonApi, "PersonApi", menu=False, writers=WRITERS))
declare_view(ViewSpec(AppointmentApi, "AppointmentApi", menu=False, writers=WRITERS))
