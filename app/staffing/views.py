"""Screens and APIs for positions, people and appointments (declarations only)."""

from __future__ import annotations

from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _

from app.core.registry import ViewSpec, declare_view
from app.core.views import TenantModelApi, TenantModelView
from app.forms.custom_fields import CustomFieldsApiMixin, CustomFieldsViewMixin
from app.forms.custom_fields_list import CustomFieldsInterface
from app.staffing.models import Appointment, Person, Position

PERSON_LABELS = {"name": _("姓名"), "id_number": _("身份证号"), "id_number_masked": _("身份证号"),
                 "sex": _("性别"), "birth_date": _("出生日期"), "education": _("学历"), "phone": _("电话"),
                 "bank_card": _("银行卡号"), "org_unit": _("所在村（社区）"), "appointments": _("聘用记录")}
APPOINTMENT_LABELS = {"person": _("人员"), "position_code": _("岗位代码"), "org_unit": _("工作单位"),
                      "start_date": _("聘期开始"), "end_date": _("聘期结束"), "status": _("状态"),
                      "status_label": _("状态")}
POSITION_LABELS = {"code": _("岗位代码"), "name": _("岗位名称"), "org_level": _("配备层级"),
                   "quota_formula": _("定额公式"), "eligibility_formula": _("资格条件公式"),
                   "term_years": _("聘期（年）"), "rehire_ban_years": _("解聘后禁聘（年）")}


class PositionView(TenantModelView):
    datamodel = SQLAInterface(Position)
    list_title = show_title = _("岗位")
    list_columns = ["code", "name", "org_level", "quota_formula", "term_years"]
    show_columns = add_columns = edit_columns = [
        "code", "name", "org_level", "quota_formula", "eligibility_formula", "term_years", "rehire_ban_years"]
    label_columns = POSITION_LABELS


class PersonView(CustomFieldsViewMixin, TenantModelView):
    datamodel = CustomFieldsInterface(Person)
    list_title = show_title = _("人员")
    add_title = _("新增人员")
    edit_title = _("编辑人员")
    list_columns = ["name", "id_number_masked", "sex", "birth_date", "education", "org_unit"]
    show_columns = ["name", "id_number_masked", "sex", "birth_date", "education", "phone", "bank_card",
                    "org_unit"]
    add_columns = edit_columns = ["name", "id_number", "education", "phone", "bank_card", "org_unit"]
    search_columns = ["name", "education", "org_unit"]
    label_columns = PERSON_LABELS


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


class PersonApi(CustomFieldsApiMixin, TenantModelApi):
    resource_name = "person"
    datamodel = SQLAInterface(Person)
    list_columns = ["id", "name", "id_number_masked", "sex", "birth_date", "education", "org_unit.code"]
    show_columns = ["id", "name", "id_number_masked", "sex", "birth_date", "education", "phone",
                    "org_unit.code"]
    add_columns = edit_columns = ["name", "id_number", "education", "phone", "bank_card", "org_unit"]
    search_columns = ["name", "education", "org_unit"]


class AppointmentApi(CustomFieldsApiMixin, TenantModelApi):
    resource_name = "appointment"
    datamodel = SQLAInterface(Appointment)
    list_columns = show_columns = ["id", "person.id", "person.name", "position_code", "org_unit.code",
                                   "start_date", "end_date", "status"]
    add_columns = edit_columns = ["person", "position_code", "org_unit", "start_date", "end_date", "status"]
    search_columns = ["position_code", "status", "org_unit", "person"]


STAFF = "Staff"
STAFF_LABEL = _("人员队伍")
WRITERS = ("county_admin", "town_clerk")
declare_view(ViewSpec(PositionView, "Positions", _("岗位"), STAFF, STAFF_LABEL, "fa-briefcase",
                      writers=("county_admin",)))
declare_view(ViewSpec(PersonView, "People", _("人员"), STAFF, STAFF_LABEL, "fa-user", writers=WRITERS))
declare_view(ViewSpec(AppointmentView, "Appointments", _("聘用记录"), STAFF, STAFF_LABEL, "fa-id-card",
                      writers=WRITERS))
declare_view(ViewSpec(PositionApi, "PositionApi", menu=False, writers=("county_admin",)))
declare_view(ViewSpec(PersonApi, "PersonApi", menu=False, writers=WRITERS))
declare_view(ViewSpec(AppointmentApi, "AppointmentApi", menu=False, writers=WRITERS))
