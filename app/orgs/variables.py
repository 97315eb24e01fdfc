"""The fields a formula about an org unit may use (quotas: ``MAX(1, CEILING(计生常住人口 / 1500))``)."""

from __future__ import annotations

from app.formulas import FType, Variable
from app.orgs.models import POPULATION_FIELDS, POPULATION_LABELS

ORG_UNIT_VARIABLES: tuple[Variable, ...] = tuple(
    Variable(code, POPULATION_LABELS[code], FType.NUMBER) for code in POPULATION_FIELDS
)
