"""``countydesk tenant export`` writes the county's workflows and custom fields, and they load back the same."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import yaml
from sqlalchemy import create_engine, func, select

from app.core.models import Tenant
from app.core.tenancy import tenant_context
from app.extensions import db
from app.forms.custom_fields_models import CustomFieldDefinition
from app.forms.models import FormDefinition
from app.tenantio.exporter import export_tenant
from app.tenantio.loader import load_tenant_folder
from app.workflows.models import WorkflowDefinition

MODELS = (FormDefinition, WorkflowDefinition, CustomFieldDefinition)
SHIPPED = ("shishi", "guanling", "example_city")


def _latest_specs(slug: str) -> dict[str, dict[str, Any]]:
    """Per definition table, each code's latest spec, read through the tenant's scope."""
    tid = db.session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    out: dict[str, dict[str, Any]] = {}
    with tenant_context(tid):
        for model in MODELS:
            rows = db.session.scalars(select(model).order_by(model.code, model.version)).all()
            out[model.__tablename__] = {r.code: r.spec for r in rows}  # later versions overwrite earlier ones
    return out


def test_export_writes_workflows_and_custom_fields_and_loads_back_unchanged(app, copy_tenant, tmp_path):
    folder = copy_tenant("shishi", "ss_expdef1")
    with app.app_context():
        load_tenant_folder(folder)
        out = export_tenant("ss_expdef1", tmp_path / "out")
        config = yaml.safe_load((out / "tenant.yaml").read_text(encoding="utf-8"))
        assert {"file": "workflows/recruitment.yaml"} in config["workflows"]
        assert {"file": "workflows/appraisal.yaml"} in config["workflows"]
        assert [f["code"] for f in config["custom_fields"]["person"]] == ["cert_no", "cert_date"]
        assert config["custom_fields"]["person"][0]["pattern"] == r"SS-\d{6}"
        recruitment = yaml.safe_load((out / "workflows" / "recruitment.yaml").read_text(encoding="utf-8"))
        assert recruitment["name"] == "协管员选聘" and recruitment["rules"]["candidates"]["max"] == "岗位数 + 1"
        assert (out / "forms").is_dir()  # forms are still exported beside them

        before = _latest_specs("ss_expdef1")
        assert load_tenant_folder(out).changed is False  # same specs: no new version of anything
        assert _latest_specs("ss_expdef1") == before

        # the same folder under another slug gives an identical set of definitions, each at version 1
        cfg = out / "tenant.yaml"
        cfg.write_text(cfg.read_text(encoding="utf-8").replace("slug: ss_expdef1", "slug: ss_expdef2"),
                       encoding="utf-8")
        report = load_tenant_folder(out)
        assert report.inserted["workflow_definition"] == 2 and report.inserted["custom_field_definition"] == 1
        assert _latest_specs("ss_expdef2") == before


def test_export_of_a_newer_workflow_version_writes_that_version(app, copy_tenant, tmp_path):
    folder = copy_tenant("guanling", "gl_expdef1")
    with app.app_context():
        report = load_tenant_folder(folder)
        with tenant_context(report.tenant_id):
            row = db.session.scalars(select(WorkflowDefinition).where(WorkflowDefinition.code == "hiring")).one()
            spec = dict(row.spec, name="选聘（修订）")
            db.session.add(WorkflowDefinition(code="hiring", version=2, name=spec["name"], spec=spec))
            db.session.commit()
        out = export_tenant("gl_expdef1", tmp_path / "out")
        written = yaml.safe_load((out / "workflows" / "hiring.yaml").read_text(encoding="utf-8"))
        assert written == spec
        assert load_tenant_folder(out).changed is False
        with tenant_context(report.tenant_id):
            assert db.session.scalar(select(func.max(WorkflowDefinition.version))
                                     .where(WorkflowDefinition.code == "hiring")) == 2


def test_shipped_tenants_round_trip_through_export_into_a_fresh_database(app, copy_tenant, tmp_path):
    """Load each shipped folder, export it, load the exports into a new database: same definitions."""
    exports, expected = [], {}
    with app.app_context():
        for slug in SHIPPED:
            load_tenant_folder(copy_tenant(slug, f"rt_{slug}"))
            exports.append(export_tenant(f"rt_{slug}", tmp_path / "export" / slug))
            expected[f"rt_{slug}"] = _latest_specs(f"rt_{slug}")
    assert expected["rt_shishi"]["workflow_definition"].keys() == {"recruitment", "appraisal"}
    assert expected["rt_guanling"]["workflow_definition"]  # guanling ships workflows too
    assert expected["rt_shishi"]["custom_field_definition"].keys() == {"_person"}

    fresh = tmp_path / "fresh.db"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "COUNTYDESK_TEST_WORKER")}
    env["DATABASE_URL"] = f"sqlite:///{fresh}"
    cli = [sys.executable, "-c", "from app.cli import main; main()"]
    for args in (["setup"], ["tenant", "load", *map(str, exports)]):
        done = subprocess.run([*cli, *args], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr

    engine = create_engine(f"sqlite:///{fresh}")
    try:
        with engine.connect() as conn:
            tenants = dict(conn.execute(select(Tenant.__table__.c.slug, Tenant.__table__.c.id)).all())
            for slug, wanted in expected.items():
                for model in MODELS:
                    t = model.__table__
                    rows = conn.execute(select(t.c.code, t.c.version, t.c.spec)
                                        .where(t.c.tenant_id == tenants[slug])).all()
                    assert {r.code: r.spec for r in rows} == wanted[t.name], (slug, t.name)
                    assert {r.version for r in rows} <= {1}, (slug, t.name)
    finally:
        engine.dispose()



TWO_SECTIONS = {"sections": [
    {"title": "证书", "fields": [{"code": "cert_no", "label": "证书编号", "type": "text", "pattern": r"SS-\d{6}"},
                               {"code": "cert_date", "label": "取证日期", "type": "date"}]},
    {"title": "培训", "fields": [{"code": "trained_hours", "label": "培训学时", "type": "integer", "min": 0}]}],
    "list": ["trained_hours", "cert_no"]}


def test_custom_fields_in_two_sections_are_exported_with_their_sections_and_load_back_the_same(app, copy_tenant,
                                                                                             tmp_path):
    """A designer-made definition with two titled sections (and chosen list columns) survives the round trip."""
    from app.forms import custom_fields as cf

    folder = copy_tenant("shishi", "ss_expsec1")
    with app.app_context():
        report = load_tenant_folder(folder)
        with tenant_context(report.tenant_id):
            form, problems = cf.parse_entity("appointment", TWO_SECTIONS)
            assert form is not None, problems
            cf.save_entity("appointment", form)
            db.session.commit()
        out = export_tenant("ss_expsec1", tmp_path / "out")
        written = yaml.safe_load((out / "tenant.yaml").read_text(encoding="utf-8"))["custom_fields"]
        assert [s["title"] for s in written["appointment"]["sections"]] == ["证书", "培训"]
        assert [f["code"] for f in written["appointment"]["sections"][1]["fields"]] == ["trained_hours"]
        assert written["appointment"]["list"] == ["trained_hours", "cert_no"]
        assert isinstance(written["person"], list)  # one default section stays the plain field list

        before = _latest_specs("ss_expsec1")
        assert load_tenant_folder(out).changed is False
        assert _latest_specs("ss_expsec1") == before

        cfg = out / "tenant.yaml"
        cfg.write_text(cfg.read_text(encoding="utf-8").replace("slug: ss_expsec1", "slug: ss_expsec2"),
                       encoding="utf-8")
        assert load_tenant_folder(out).inserted["custom_field_definition"] == 2
        assert _latest_specs("ss_expsec2") == before
        spec = before["custom_field_definition"]["_appointment"]
        assert [s["title"] for s in spec["sections"]] == ["证书", "培训"]


def test_a_bad_field_in_a_second_section_of_tenant_yaml_is_located_by_its_line(copy_tenant):
    from app.tenantio.config_file import read_config
    from app.tenantio.problems import Problems

    folder = copy_tenant("shishi")
    cfg = folder / "tenant.yaml"
    body = yaml.safe_dump({"appointment": {"sections": [
        {"title": "证书", "fields": [{"code": "cert_no", "label": "证书编号", "type": "text"}]},
        {"title": "培训", "fields": [{"code": "hours", "label": "学时", "type": "numbr"}]}]}},
        allow_unicode=True, sort_keys=False)
    text = cfg.read_text(encoding="utf-8").replace("custom_fields:\n", "custom_fields:\n" + "".join(
        f"  {line}\n" for line in body.splitlines()))
    cfg.write_text(text, encoding="utf-8")
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "numbr" in t)
    problems = Problems()
    read_config(folder, problems)
    found = [p for p in problems.items if "numbr" in str(p)]
    assert found and found[0].line == line, [str(p) for p in problems.items]
