"""Importing form records (handler, engine, job screen, CLI): dry run, commit, re-run, bad rows, scope."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

import pytest
from forms_support import MONTHLY, SS_TOWN, THIS_MONTH, acting, unit, villages
from openpyxl import load_workbook
from sqlalchemy import func, select

from app.core.audit_models import AuditEvent
from app.core.xlsx_export import write_xlsx
from app.documents.uploads import upload_root
from app.extensions import db
from app.forms.io_import import FormImport, NoNaturalKey, import_file
from app.forms.models import FormRecord
from support import login

HEADER = ["单位代码", "单位名称", "期间", "户籍人口", "计生常住人口", "已婚育龄妇女数", "出生人数",
          "其中政策内出生人数", "死亡人数", "备注"]
INJECTION = "=cmd|' /C calc'!A0"


def _write(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    if path.suffix == ".xlsx":
        path.write_bytes(write_xlsx([(h, i) for i, h in enumerate(header)], rows))
    else:
        out = io.StringIO()
        csv.writer(out).writerows([header, *rows])
        path.write_bytes(out.getvalue().encode("utf-8"))
    return path


def _rows(app, demo, town: str = SS_TOWN, period: str = "2025-03") -> list[list[Any]]:
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        return [[v.code, v.name, period, 3000 + i, 3200 + i, 600, 4, 4, 2, INJECTION if i == 0 else "正常"]
                for i, v in enumerate(villages(town)[:3])]


def _records(code: str = MONTHLY) -> list[FormRecord]:
    return list(db.session.scalars(select(FormRecord).where(FormRecord.form_code == code).order_by(FormRecord.id)))


def _events() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.entity.like("form:%"))) or 0


@pytest.fixture
def cleanup(app, demo):
    yield
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        db.session.query(FormRecord).delete()
        db.session.commit()


def test_dry_run_then_commit_then_rerun_changes_nothing(app, demo, tmp_path, cleanup):
    path = _write(tmp_path / "月报.xlsx", HEADER, _rows(app, demo))
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        dry = import_file(MONTHLY, path, dry_run=True)
        assert dry.ok and dry.counts.new == 3 and not dry.committed, dry.problems
        assert "试导入通过" in dry.message
        assert _records() == []
        events_before = _events()
        done = import_file(MONTHLY, path, dry_run=False)
        assert done.committed and done.counts.new == 3
        stored = _records()
        assert [r.data["registered_pop"] for r in stored] == [3000, 3001, 3002]
        assert stored[0].data["remarks"] == INJECTION  # formula-looking text stored verbatim
        assert all(r.period == "2025-03" and r.status == "draft" for r in stored)
        assert _events() == events_before + 3
        again = import_file(MONTHLY, path, dry_run=False)
        assert again.ok and (again.counts.new, again.counts.changed, again.counts.unchanged) == (0, 0, 3)
        assert _events() == events_before + 3
        assert [(r.id, r.row_version) for r in _records()] == [(r.id, 1) for r in stored]


def test_changed_row_is_updated_with_an_audit_event_and_absent_columns_kept(app, demo, tmp_path, cleanup):
    rows = _rows(app, demo)
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        assert import_file(MONTHLY, _write(tmp_path / "a.csv", HEADER, rows), dry_run=False).committed
        short = [h for h in HEADER if h != "备注"]
        changed = [r[:-1] for r in rows]
        changed[1][HEADER.index("死亡人数")] = 5
        result = import_file(MONTHLY, _write(tmp_path / "b.csv", short, changed), dry_run=False)
        assert (result.counts.new, result.counts.changed, result.counts.unchanged) == (0, 1, 2), result.problems
        second = _records()[1]
        assert second.data["deaths"] == 5 and second.data["remarks"] == "正常" and second.row_version == 2
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.row_id == second.id,
                                                            AuditEvent.entity == f"form:{MONTHLY}")
                                   .order_by(AuditEvent.id.desc())).first()
        assert event is not None and event.action == "update"
        assert event.before["data"] == {"deaths": 2} and event.after["data"] == {"deaths": 5}


def test_header_may_use_field_codes(app, demo, tmp_path, cleanup):
    codes = ["org_code", "period", "registered_pop", "resident_pop", "married_women", "births", "births_in_policy",
             "deaths"]
    rows = [[r[0], r[2], *r[3:9]] for r in _rows(app, demo)]
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        result = import_file(MONTHLY, _write(tmp_path / "codes.xlsx", codes, rows), dry_run=False)
        assert result.committed and result.counts.new == 3, result.problems


def test_bad_rows_are_problems_with_row_column_value_and_why_and_nothing_is_stored(app, demo, tmp_path, cleanup):
    rows = _rows(app, demo)
    rows[0][HEADER.index("户籍人口")] = "三千"          # wrong type
    rows[1][HEADER.index("死亡人数")] = "-3"            # out of range
    rows[2][HEADER.index("其中政策内出生人数")] = "9"    # cross-field rule
    rows.append(["999999999999", "", "2025-13", 1, 1, 0, 0, 0, 0, ""])  # unknown unit, bad period
    rows.append(list(rows[0]))  # no problem of its own apart from the type; checked like the others
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        result = import_file(MONTHLY, _write(tmp_path / "bad.xlsx", HEADER, rows), dry_run=False)
        assert not result.committed and not result.ok and "未写入任何数据" in result.message
        found = {(p.row, p.column, p.value): p.why for p in result.problems}
        assert found[(2, "户籍人口", "三千")] == "应为整数"
        assert found[(3, "死亡人数", "-3")] == "不能小于 0"
        assert found[(4, None, None)] == "其中政策内出生人数不能大于出生人数"
        assert found[(5, "单位代码", "999999999999")] == "本县没有这个单位代码"
        assert "期间无效" in found[(5, "期间", "2025-13")]
        assert _records() == []


def test_unknown_choice_and_unknown_person_are_row_problems(app, demo, tmp_path, cleanup):
    header = ["身份证号", "姓名", "期间", "个人总结", "考核等次"]
    rows = [["350581198203028452", "黄金建", "2025", "全年完成任务", "很好"],
            ["350581198203028452", "别人", "2024", "全年完成任务", "优秀"],
            ["110101199003070000", "", "2025", "x", "合格"]]
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        result = import_file("annual_appraisal", _write(tmp_path / "kh.xlsx", header, rows), dry_run=True)
        found = {(p.row, p.column, p.value): p.why for p in result.problems}
        assert "不是可选项" in found[(2, "考核等次", "很好")]
        assert "姓名与身份证号不符" in found[(3, "姓名", "别人")]
        assert "没有这个身份证号的人员" in found[(4, "身份证号", "110101199003070000")]


def test_person_form_is_imported_by_id_number(app, demo, tmp_path, cleanup):
    header = ["身份证号", "姓名", "期间", "个人总结", "考核等次", "备注"]
    rows = [["350581198203028452", "黄金建", "2025", "<b>全年</b>完成任务", "优秀", INJECTION]]
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        result = import_file("annual_appraisal", _write(tmp_path / "kh.csv", header, rows), dry_run=False)
        assert result.committed, result.problems
        record = _records("annual_appraisal")[0]
        assert record.person is not None and record.person.name == "黄金建"
        assert record.org_unit_id == record.person.org_unit_id
        assert record.data["grade"] == "优秀" and record.data["remarks"] == INJECTION


def test_town_clerk_row_outside_its_town_is_a_row_problem(app, demo, tmp_path, cleanup):
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        other = next(u.code for u in unit("350581").children if u.code != SS_TOWN)
        path = unit(SS_TOWN).path
    rows = _rows(app, demo, period=THIS_MONTH) + _rows(app, demo, town=other, period=THIS_MONTH)[:1]
    with app.app_context(), acting(demo["tenant_ids"]["shishi"], capture_path=path):
        result = import_file(MONTHLY, _write(tmp_path / "t.xlsx", HEADER, rows), dry_run=False)
        assert [(p.row, p.column) for p in result.problems] == [(5, "单位代码")]
        assert "不在您的辖区内" in result.problems[0].why
        assert _records() == []
        ok = import_file(MONTHLY, _write(tmp_path / "t2.xlsx", HEADER, rows[:3]), dry_run=False)
        assert ok.committed and ok.counts.new == 3


def test_duplicate_key_in_the_file_and_missing_columns(app, demo, tmp_path, cleanup):
    rows = _rows(app, demo)
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        dup = import_file(MONTHLY, _write(tmp_path / "d.xlsx", HEADER, [*rows, rows[0]]), dry_run=True)
        assert any(p.row == 5 and "与第 2 行重复" in p.why for p in dup.problems)
        header = import_file(MONTHLY, _write(tmp_path / "h.xlsx", HEADER[:3], [r[:3] for r in rows]), dry_run=True)
        assert header.problems[0].row == 1 and "缺少必填列「户籍人口」" in header.problems[0].why


def test_form_without_a_key_is_refused(app, demo, tmp_path, cleanup):
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        village = villages(SS_TOWN)[0]
        with pytest.raises(NoNaturalKey, match="没有设置唯一键"):
            import_file("work_record", _write(tmp_path / "w.csv", ["单位代码", "日期"], [[village.code, "2025-03-01"]]),
                        dry_run=True)


def test_template_has_chinese_headers_and_a_help_sheet(app, demo):
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        from app.documents.importer import template_xlsx

        book = load_workbook(io.BytesIO(template_xlsx(FormImport(MONTHLY))))
    header = [c.value for c in book["数据"][1]]
    assert header[:4] == ["单位代码", "单位名称", "期间", "户籍人口"] and "其中政策内出生人数" in header
    help_rows = {r[0]: r for r in book["填写说明"].iter_rows(min_row=2, values_only=True)}
    assert help_rows["户籍人口"][1] == "必填" and "最小 0" in help_rows["户籍人口"][2]


def _finished_page(client, location: str) -> str:
    """The job page once the job is done (inline jobs are; a real worker takes a moment)."""
    job_id = location.rstrip("/").split("/")[-1]
    for _ in range(600):
        if client.get(f"/jobs/{job_id}/status.json").get_json()["finished"]:
            break
        time.sleep(0.1)
    return client.get(location).text


def _files(root: Path) -> set[Path]:
    return set(root.rglob("*")) if root.exists() else set()


def test_import_screen_dry_run_job_then_confirm(app, demo, client, tmp_path, cleanup):
    login(client, "ss_admin")
    page = client.get(f"/forms/{MONTHLY}/")
    assert "导出 Excel" in page.text and f"/forms/{MONTHLY}/import" in page.text
    form = client.get(f"/forms/{MONTHLY}/import")
    assert form.status_code == 200 and "试导入" in form.text and "checked" in form.text
    assert client.get(f"/forms/{MONTHLY}/import/template.xlsx").status_code == 200
    data = _write(tmp_path / "m.xlsx", HEADER, _rows(app, demo)).read_bytes()
    resp = client.post(f"/forms/{MONTHLY}/import", data={"file": (io.BytesIO(data), "月报.xlsx"), "dry_run": "1"},
                       content_type="multipart/form-data")
    assert resp.status_code == 302 and "/jobs/" in resp.headers["Location"]
    job_page = _finished_page(client, resp.headers["Location"])
    assert "试导入通过" in job_page and "确认导入" in job_page
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        assert _records() == []
    job_id = resp.headers["Location"].rstrip("/").split("/")[-1]
    committed = client.post(f"/jobs/{job_id}/commit")
    assert committed.status_code == 302
    assert "导入完成" in _finished_page(client, committed.headers["Location"])
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        assert len(_records()) == 3
    client.get("/logout/")
    login(client, "gl_admin")
    assert client.get(resp.headers["Location"]).status_code == 404  # another county's job is not found


def test_import_screen_shows_row_problems(app, demo, client, tmp_path, cleanup):
    login(client, "ss_town")
    rows = _rows(app, demo, period=THIS_MONTH)  # the clerk's job keeps the clerk's period locks
    rows[0][HEADER.index("户籍人口")] = "abc"
    data = _write(tmp_path / "m.csv", HEADER, rows).read_bytes()
    resp = client.post(f"/forms/{MONTHLY}/import", data={"file": (io.BytesIO(data), "月报.csv"), "dry_run": "1"},
                       content_type="multipart/form-data")
    text = _finished_page(client, resp.headers["Location"])
    assert "应为整数" in text and "abc" in text and "确认导入" not in text


def test_village_worker_may_not_import(app, demo, client):
    login(client, "ss_village")
    assert client.get(f"/forms/{MONTHLY}/import").status_code in (302, 403)


def test_50_mb_upload_is_refused_413_in_chinese_and_nothing_stored(app, demo, client):
    login(client, "ss_admin")
    with app.app_context():
        root = upload_root()
    before = _files(root)
    resp = client.post(f"/forms/{MONTHLY}/import", data={"file": (io.BytesIO(b"x" * (50 * 1024 * 1024)), "大.csv"),
                                                         "dry_run": "1"}, content_type="multipart/form-data")
    assert resp.status_code == 413 and "上传的文件太大" in resp.text
    assert _files(root) == before


def test_file_that_is_not_xlsx_or_csv_is_refused_and_nothing_stored(app, demo, client):
    login(client, "ss_admin")
    with app.app_context():
        root = upload_root()
    before = _files(root)
    resp = client.post(f"/forms/{MONTHLY}/import", data={"file": (io.BytesIO(b"%PDF-1.4 binary\x00\x01"), "月报.xlsx"),
                                                         "dry_run": "1"}, content_type="multipart/form-data")
    assert resp.status_code == 422 and "只接受" in resp.text
    assert _files(root) == before


def test_cli_import_prints_summary_and_problems_with_exit_status(app, demo, tmp_path, cleanup):
    from app.cli import _register_commands, cli

    _register_commands()
    runner = app.test_cli_runner()
    good = _write(tmp_path / "good.xlsx", HEADER, _rows(app, demo))
    dry = runner.invoke(cli, ["forms", "import", "--tenant", "shishi", MONTHLY, str(good), "--dry-run"])
    assert dry.exit_code == 0 and "试导入通过" in dry.output, dry.output
    done = runner.invoke(cli, ["forms", "import", "--tenant", "shishi", MONTHLY, str(good)])
    assert done.exit_code == 0 and "新增 3 行" in done.output
    rows = _rows(app, demo)
    rows[0][HEADER.index("出生人数")] = "x"
    bad = runner.invoke(cli, ["forms", "import", "--tenant", "shishi", MONTHLY, str(_write(tmp_path / "bad.csv",
                                                                                            HEADER, rows))])
    assert bad.exit_code == 1 and "行\t列\t值\t原因" in bad.output and "2\t出生人数\tx\t应为整数" in bad.output
    missing = runner.invoke(cli, ["forms", "import", "--tenant", "nowhere", MONTHLY, str(good)])
    assert missing.exit_code == 1 and "不存在" in missing.output


def test_the_form_is_hashed_and_its_formulas_compiled_once_per_import_not_per_row(app, demo, tmp_path, monkeypatch):
    """Checking a row must not rehash the whole definition nor recompile its rules (the import benchmark's cost)."""
    from app.forms import services
    from app.forms.definition import FormDef

    rows = [[v.code, v.name, f"2024-{m:02d}", 3000, 3200, 600, 4, 4, 2, ""]
            for v in _villages_of(app, demo)[:3] for m in range(1, 13)]
    path = _write(tmp_path / "月报.csv", HEADER, rows)
    hashes, compiles = [], []
    original_hash, original_compile = FormDef.__hash__, services.compile_formula
    monkeypatch.setattr(FormDef, "__hash__", lambda self: hashes.append(1) or original_hash(self))
    monkeypatch.setattr(services, "compile_formula", lambda *a, **k: compiles.append(1) or original_compile(*a, **k))
    services.compiled_checks.cache_clear()
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        result = import_file(MONTHLY, path, dry_run=True)
        assert result.ok and result.counts.new == len(rows) == 36, result.problems
        formulas = len(services.get_form(MONTHLY).form.rules)
    assert formulas and len(compiles) == formulas  # once each, for 36 rows
    assert len(hashes) <= 2


def _villages_of(app, demo) -> list[Any]:
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        found = villages(SS_TOWN)
        return [type("V", (), {"code": v.code, "name": v.name}) for v in found]
