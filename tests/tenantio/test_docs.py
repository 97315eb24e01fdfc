"""docs/admin/tenant-folder.md: its example county loads as the page says, and it covers every key and column."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select
from tenantio_support import db_fingerprint

from app.core.tenancy import tenant_context
from app.extensions import db
from app.staffing.models import APPOINTMENT_STATUSES, EDUCATION_CHOICES, Person
from app.tenantio.config_file import PositionSchema, TenantConfigSchema
from app.tenantio.folder import ORG_COLUMNS, POP_COLUMNS, ROSTER_COLUMNS
from app.tenantio.levels import LEVEL_ALIASES
from app.tenantio.loader import load_tenant_folder

DOC = Path(__file__).resolve().parents[2] / "docs" / "admin" / "tenant-folder.md"
FILE_BLOCK = re.compile(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", re.S)


def test_the_example_county_loads_as_documented(app, tmp_path):
    text = DOC.read_text(encoding="utf-8")
    files = dict(FILE_BLOCK.findall(text))
    assert set(files) == {"tenant.yaml", "orgunits.csv", "population.csv", "roster.csv"}
    for name, content in files.items():
        (tmp_path / name).write_text(content.replace("slug: shili", "slug: docs_shili"), encoding="utf-8")
    documented = re.search(r"导入结果：\n\n```\n(shili：.*)\n```", text)
    assert documented is not None
    with app.app_context():
        report = load_tenant_folder(tmp_path)
        assert report.summary() == documented.group(1).replace("shili：", "docs_shili：")
        with tenant_context(report.tenant_id):
            wu = db.session.scalar(select(Person).where(Person.name == "吴明"))
            assert wu.org_unit.name == "青山村"  # the active appointment, not the ended one
            assert {a.status for a in wu.appointments} == {"active", "ended"}
        before = db_fingerprint()
        assert load_tenant_folder(tmp_path).changed is False
        assert db_fingerprint() == before


def test_every_key_column_and_value_is_documented():
    text = DOC.read_text(encoding="utf-8")
    names = [*TenantConfigSchema().fields, *PositionSchema().fields, *ORG_COLUMNS, *POP_COLUMNS,
             *ROSTER_COLUMNS, *APPOINTMENT_STATUSES]
    missing = [n for n in names if f"`{n}`" not in text]
    assert not missing
    assert all(f"`{alias}`" in text for alias in LEVEL_ALIASES)
    assert all(f"`{e}`" in text for e in EDUCATION_CHOICES)
