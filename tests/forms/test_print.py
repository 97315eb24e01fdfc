"""Printing a form record: A4 PDF (text extracted with pypdf) and the printable HTML page."""

from __future__ import annotations

import io

import pytest
from forms_support import acting
from pypdf import PdfReader
from sqlalchemy import select

from app.extensions import db
from app.forms import services
from app.forms.definition import DefinitionError, load_form
from app.forms.models import FormRecord
from app.staffing.models import Person
from support import login

EVIL = "<script>alert('x')</script>"


@pytest.fixture
def appraisal(app, demo):
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        person = db.session.scalar(select(Person).where(Person.id_number == "350581198203028452"))
        record = services.create_record("annual_appraisal", {"person_id": person.id, "period": "2025", "data": {
            "summary": "全年完成各项任务 " + EVIL, "grade": "优秀"}})
        hire = services.create_record("hire_approval", {"person_id": person.id, "data": {
            "education": "高中", "village": person.org_unit_id, "term_start": "2026-01-01", "term_end": "2028-12-31"}})
        db.session.commit()
        ids = {"annual_appraisal": record.id, "hire_approval": hire.id, "name": person.name,
               "village": person.org_unit.name}
    yield ids
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        db.session.query(FormRecord).delete()
        db.session.commit()


def _pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "".join(page.extract_text() or "" for page in reader.pages)


@pytest.mark.parametrize("code,title", [("annual_appraisal", "年度考核表"), ("hire_approval", "聘用审批表")])
def test_ss9_pdf_has_the_form_title_and_the_persons_name(app, demo, client, appraisal, code, title):
    login(client, "ss_admin")
    resp = client.get(f"/forms/{code}/{appraisal[code]}/print.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert resp.data.startswith(b"%PDF")
    text = _pdf_text(resp.data)
    assert title in text and appraisal["name"] in text
    assert "镇人民政府意见" in text and "市卫健局意见" in text


def test_print_page_shows_person_sections_signatures_and_escapes_values(app, demo, client, appraisal):
    login(client, "ss_admin")
    resp = client.get(f"/forms/annual_appraisal/{appraisal['annual_appraisal']}/print")
    assert resp.status_code == 200
    page = resp.text
    assert '<h1 id="cd-print-title">年度考核表</h1>' in page and "@page { size: A4" in page
    for text in (appraisal["name"], appraisal["village"], "性别", "出生年月", "文化程度", "个人总结", "考核等次",
                 "优秀", "本人签名", "镇人民政府意见", "市卫健局意见"):
        assert text in page, text
    assert EVIL not in page and "&lt;script&gt;" in page
    shown = client.get(f"/forms/annual_appraisal/{appraisal['annual_appraisal']}").text
    assert "/print.pdf" in shown


def test_print_of_another_countys_record_is_not_found(app, demo, client, appraisal):
    login(client, "gl_admin")
    rid = appraisal["annual_appraisal"]
    assert client.get(f"/forms/annual_appraisal/{rid}/print.pdf").status_code == 404
    assert client.get(f"/forms/annual_appraisal/{rid}/print").status_code == 404


def test_print_signatures_are_part_of_the_definition():
    base = {"code": "f", "name": "表", "target": "village",
            "sections": [{"title": "一", "fields": [{"code": "a", "label": "甲", "type": "text"}]}]}
    form = load_form({**base, "print": {"signatures": ["村委会意见", "镇人民政府意见"]}})
    assert form.signatures == ("村委会意见", "镇人民政府意见")
    assert load_form(form.to_dict()) == form
    assert load_form(base).signatures == ()
    with pytest.raises(DefinitionError, match="签字栏"):
        load_form({**base, "print": {"signatures": "村委会意见"}})
    with pytest.raises(DefinitionError, match="print"):
        load_form({**base, "print": {"paper": "A3"}})
