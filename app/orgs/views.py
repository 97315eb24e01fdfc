"""Screens and APIs for org units and population facts (declarations only)."""

from __future__ import annotations

from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _
from marshmallow import validate
from wtforms.validators import NumberRange, Optional

from app.core.registry import ViewSpec, declare_view
from app.core.views import TenantModelApi, TenantModelView
from app.forms.custom_fields import CustomFieldsApiMixin, CustomFieldsViewMixin
from app.forms.custom_fields_list import CustomFieldsInterface
from app.orgs.models import POPULATION_FIELDS, POPULATION_LABELS, OrgUnit, PopulationFact

ORG_LABELS = {"code": _("代码"), "name": _("名称"), "level": _("层级"), "level_label": _("层级"),
              "parent": _("上级单位"), "path": _("路径"), "children": _("下级单位")}
POP_FORM_VALIDATORS = {f: [Optional(), NumberRange(min=0, message=_("人口数不能为负数"))] for f in POPULATION_FIELDS}
POP_API_VALIDATORS = {f: validate.Range(min=0, error="人口数不能为负数") for f in POPULATION_FIELDS}
POP_LABELS = {"org_unit": _("组织机构"), "period": _("期间"), **{k: _(v) for k, v in POPULATION_LABELS.items()}}


class OrgUnitView(CustomFieldsViewMixin, TenantModelView):
    datamodel = CustomFieldsInterface(OrgUnit)
    list_title = _("组织机构")
    show_title = _("组织机构")
    add_title = _("新增组织机构")
    edit_title = _("编辑组织机构")
    list_columns = ["code", "name", "level_label", "parent"]
    show_columns = ["code", "name", "level_label", "parent", "path"]
    add_columns = ["code", "name", "level", "parent"]
    edit_columns = ["code", "name", "level", "parent"]
    search_columns = ["code", "name", "level", "parent"]
    label_columns = ORG_LABELS


class PopulationFactView(TenantModelView):
    datamodel = SQLAInterface(PopulationFact)
    list_title = _("人口数据")
    show_title = _("人口数据")
    add_title = _("新增人口数据")
    edit_title = _("编辑人口数据")
    list_columns = ["org_unit", "period", *POPULATION_FIELDS]
    add_columns = edit_columns = show_columns = ["org_unit", "period", *POPULATION_FIELDS]
    search_columns = ["org_unit", "period"]
    label_columns = POP_LABELS
    validators_columns = POP_FORM_VALIDATORS
    base_order = ("period", "desc")


class OrgUnitApi(CustomFieldsApiMixin, TenantModelApi):
    resource_name = "org_unit"
    datamodel = SQLAInterface(OrgUnit)
    list_columns = ["id", "code", "name", "level", "parent.id", "parent.code", "path"]
    show_columns = list_columns
    add_columns = edit_columns = ["code", "name", "level", "parent"]
    search_columns = ["code", "name", "level", "path"]


class PopulationFactApi(TenantModelApi):
    resource_name = "population_fact"
    datamodel = SQLAInterface(PopulationFact)
    list_columns = ["id", "org_unit.id", "org_unit.code", "period", *POPULATION_FIELDS]
    show_columns = list_columns
    add_columns = edit_columns = ["org_unit", "period", *POPULATION_FIELDS]
    search_columns = ["period", "org_unit"]
    validators_columns = POP_API_VALIDATORS


ORG_CATEGORY = "Orgs"
declare_view(ViewSpec(OrgUnitView, "OrgUnits", _("组织机构"), ORG_CATEGORY, _("组织与人口"), "fa-sitemap",
                      writers=("county_admin", "town_clerk")))
declare_view(ViewSpec(PopulationFactView, "PopulationFacts", _("人口数据"), ORG_CATEGORY, _("组织与人口"),
                      "fa-users", writers=("county_admin", "town_clerk", "village_worker")))
declare_view(ViewSpec(OrgUnitApi, "OrgUnitApi", menu=False, writers=("county_admin", "town_clerk")))
declare_view(ViewSpec(PopulationFactApi, "PopulationFactApi", menu=False,
                      writers=("county_admin", "town_clerk", "village_worker")))
