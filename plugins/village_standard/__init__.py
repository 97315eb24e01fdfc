"""村级计生规范化建设 pack: the monthly village work meeting minutes (XS-1) and the nine village ledgers (XS-5).

Why a pack and not one county's config: the standardisation scheme these forms come from was copied
by many towns; a county opts in by naming a template in its tenant.yaml (``- template:
village_standard.meeting_minutes``) instead of re-typing the fields.

The ledgers keep **aggregate counts per village and month** only (DOMAIN §9): the platform stores
no record of an individual woman's pregnancy or contraception, so the "monitoring" and "follow-up"
ledgers count people served rather than list them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from app.hooks.hookspecs import hookimpl

PACK = "village_standard"
TEMPLATES = Path(__file__).with_name("forms.yaml")


@hookimpl
def countydesk_register_form_templates() -> list[dict[str, Any]]:
    forms = yaml.safe_load(TEMPLATES.read_text(encoding="utf-8"))
    return [{**form, "template": f"{PACK}.{form['template']}"} for form in forms]
