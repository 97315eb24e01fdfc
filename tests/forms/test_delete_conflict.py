"""Form record deletes are version-checked (screen and API), and the list page built from light rows."""

from __future__ import annotations

import re

import pytest
from forms_support import MONTHLY, SS_TOWN, THIS_MONTH, acting, monthly_data, unit, villages
from sqlalchemy import select

from app.extensions import db
from app.forms import listing, services
from app.forms.models import FormRecord
from app.staffing.models import Person
from support import login


@pytest.fixture
def cleanup(app, demo):
    yield
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        db.session.query(FormRecord).delete()
        db.session.commit()


def _record(app, demo, period: str = THIS_MONTH, **data: int) -> int:
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        own = villages(SS_TOWN)[0].id
        rid = services.create_record(MONTHLY, {"org_unit_id": own, "period": period, "data": monthly_data(**data)}).id
        db.session.commit()
        return rid


def _bump(app, demo, rid: int, **data: int) -> None:
    """A colleague saves the record: its row version moves from 1 to 2."""
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        services.update_record(MONTHLY, rid, {"data": data}, 1)
        db.session.commit()


def _exists(app, demo, rid: int) -> bool:
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        return db.session.get(FormRecord, rid) is not None


def _delete_form_version(html: str) -> str:
    form = re.search(r'<form[^>]*id="cd-record-delete".*?</form>', html, re.S)
    assert form is not None, "no delete form on the page"
    found = re.search(r'name="row_version" value="(\d+)"', form.group(0))
    assert found is not None
    return found.group(1)


def test_show_and_edit_pages_carry_the_version_in_their_delete_form(app, demo, client, cleanup):
    rid = _record(app, demo)
    _bump(app, demo, rid, deaths=5)
    login(client, "ss_admin")
    assert _delete_form_version(client.get(f"/forms/{MONTHLY}/{rid}").text) == "2"
    edit = client.get(f"/forms/{MONTHLY}/{rid}/edit").text
    assert _delete_form_version(edit) == "2"
    assert re.search(r'<form[^>]*id="cd-record-form"[^>]*enctype="multipart/form-data"', edit)
    assert 'id="cd-record-delete"' not in client.get(f"/forms/{MONTHLY}/add").text


def test_a_stale_delete_on_the_screen_keeps_the_record_and_says_why(app, demo, client, cleanup):
    rid = _record(app, demo)
    login(client, "ss_admin")
    seen = _delete_form_version(client.get(f"/forms/{MONTHLY}/{rid}").text)  # the page shows version 1
    _bump(app, demo, rid, deaths=5)  # a colleague saves meanwhile
    resp = client.post(f"/forms/{MONTHLY}/{rid}/delete", data={"row_version": seen}, follow_redirects=True)
    assert resp.status_code == 200
    assert "删除冲突" in resp.text and "当前版本 2" in resp.text and "未删除" in resp.text
    assert _exists(app, demo, rid)
    missing = client.post(f"/forms/{MONTHLY}/{rid}/delete", data={}, follow_redirects=True)
    assert "删除冲突" in missing.text and _exists(app, demo, rid)
    fresh = _delete_form_version(resp.text)
    done = client.post(f"/forms/{MONTHLY}/{rid}/delete", data={"row_version": fresh})
    assert done.status_code == 302 and not _exists(app, demo, rid)


def test_api_delete_requires_the_version_and_answers_409_when_stale(app, demo, client, cleanup):
    rid = _record(app, demo)
    login(client, "ss_admin")
    url = f"/api/v1/forms/{MONTHLY}/records/{rid}"
    missing = client.delete(url)
    assert missing.status_code == 422 and "row_version" in missing.json["errors"]
    _bump(app, demo, rid, deaths=5)
    stale = client.delete(f"{url}?row_version=1")
    assert stale.status_code == 409
    assert stale.json["current_version"] == 2 and stale.json["theirs"]["deaths"] == 5
    assert _exists(app, demo, rid)
    assert client.delete(f"{url}?row_version=2").status_code == 200
    assert not _exists(app, demo, rid)
    assert client.delete(f"{url}?row_version=2").status_code == 404


def test_another_countys_record_is_not_found_before_any_version_check(app, demo, client, cleanup):
    rid = _record(app, demo)
    login(client, "gl_admin")
    assert client.delete(f"/api/v1/forms/{MONTHLY}/records/{rid}").status_code == 404
    assert client.delete(f"/api/v1/forms/{MONTHLY}/records/{rid}?row_version=1").status_code == 404
    assert _exists(app, demo, rid)


def test_list_page_shows_names_labels_links_and_keeps_the_count_past_the_end(app, demo, client, cleanup):
    ids = [_record(app, demo, period=f"2024-{m:02d}", births=m, births_in_policy=m) for m in range(1, 4)]
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        village = villages(SS_TOWN)[0].name
        services.submit_record(MONTHLY, ids[0], 1)
        db.session.commit()
    login(client, "ss_admin")
    page = client.get(f"/forms/{MONTHLY}/").text
    assert "共 3 条" in page and village in page and "2024-03" in page
    assert "已提交" in page and "草稿" in page
    assert f'href="/forms/{MONTHLY}/{ids[0]}"' in page and f'href="/forms/{MONTHLY}/{ids[0]}/edit"' in page
    past = client.get(f"/forms/{MONTHLY}/?after={min(ids)}").text
    assert "没有记录" in past and "共 3 条" in past


def test_list_of_a_person_form_shows_the_persons_name(app, demo, client, cleanup):
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        person = db.session.scalars(select(Person).order_by(Person.id)).first()
        assert person is not None
        name = person.name
        services.create_record("annual_appraisal", {"person_id": person.id, "period": "2024", "data": {
            "kind": "年度考核", "summary": "<b>全年</b>工作总结", "grade": "合格"}})
        db.session.commit()
    login(client, "ss_admin")
    page = client.get("/forms/annual_appraisal/").text
    assert name in page and "合格" in page and "共 1 条" in page


def test_list_page_rows_keyset_and_capped_count_without_http(app, demo, cleanup):
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        own = villages(SS_TOWN)[0].id
        for month in range(1, 8):
            services.create_record(MONTHLY, {"org_unit_id": own, "period": f"2024-{month:02d}", "data": monthly_data()})
        first = listing.list_page(MONTHLY, limit=3)
        second = listing.list_page(MONTHLY, after=first.next_after, limit=3)
        back = listing.list_page(MONTHLY, before=second.prev_before, limit=3)
        oldest = listing.list_page(MONTHLY, sort="id", limit=3)
        assert [r.period for r in first.rows] == ["2024-07", "2024-06", "2024-05"]
        assert [r.period for r in second.rows] == ["2024-04", "2024-03", "2024-02"]
        assert [r.id for r in back.rows] == [r.id for r in first.rows] and back.prev_before is None
        assert [r.period for r in oldest.rows] == ["2024-01", "2024-02", "2024-03"]
        assert first.total == 7 and first.total_text == "7" and first.rows[0].org_name == villages(SS_TOWN)[0].name
        assert listing.list_page(MONTHLY, org_unit_id=unit(SS_TOWN).id).total == 7
        other = next(u for u in unit("350581").children if u.code != SS_TOWN)
        assert listing.list_page(MONTHLY, org_unit_id=other.id).total == 0
        assert listing.list_page(MONTHLY, period="2024-03").total == 1
        cells = listing.table(services.get_form(MONTHLY).form, first.rows[:1], {"draft": "草稿"})[0][1]
        assert cells[0] == villages(SS_TOWN)[0].name and cells[1] == "2024-07" and cells[-1] == "草稿"


def test_list_count_is_capped(app, demo, cleanup, monkeypatch):
    monkeypatch.setattr(listing, "COUNT_CAP", 2)
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        own = villages(SS_TOWN)[0].id
        for month in range(1, 5):
            services.create_record(MONTHLY, {"org_unit_id": own, "period": f"2024-{month:02d}", "data": monthly_data()})
        page = listing.list_page(MONTHLY, limit=2)
        assert page.total_capped and page.total_text == "2+"
