"""Appraisal results per person and period: SS-7's final grade, GL-5's monthly scores, ranks and bulletin."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import fakeredis
import pytest
from rq import Queue
from sqlalchemy import delete, select, update
from wf_support import as_user, id_number, person_under, wipe_workflow_rows

from app.extensions import db
from app.staffing.models import Person
from app.workflows import appraisal, services
from app.workflows.appraisal import AppraisalConfigError, AppraisalInputError
from app.workflows.appraisal_models import AppraisalResult
from app.workflows.models import WorkflowInstance
from app.workflows.services import WorkflowError
from support import login

ITEMS = ("de", "neng", "qin", "ji", "lian", "satisfaction")

@pytest.fixture
def people(app, wf) -> Iterator[list[int]]:
    made: list[int] = []
    yield made
    with app.app_context():
        wipe_workflow_rows()  # cases first: PostgreSQL enforces their person foreign key
    with app.app_context(), db.engine.begin() as conn:
        r = AppraisalResult.__table__
        conn.execute(delete(r).where(r.c.person_id.in_(made)))
        conn.execute(delete(Person.__table__).where(Person.__table__.c.id.in_(made)))


@pytest.fixture
def inline_jobs(app, monkeypatch):
    conn = fakeredis.FakeRedis()
    monkeypatch.setitem(app.extensions, "countydesk_queues",
                        {n: Queue(n, connection=conn, is_async=False) for n in ("default", "long")})


def _person(made: list[int], admin: str, village: str, name: str) -> int:
    from app.orgs.models import OrgUnit

    with as_user(admin):
        unit = db.session.scalar(select(OrgUnit).where(OrgUnit.code == village))
        person = Person(name=name, id_number=id_number("19900101", region=village[:6]), education="高中",
                        org_unit=unit)
        db.session.add(person)
        db.session.commit()
        made.append(person.id)
        return person.id


def _all(score: float) -> dict[str, float]:
    return dict.fromkeys(ITEMS, score)


def _row(person_id: int, period: str) -> AppraisalResult:
    row = db.session.scalars(select(AppraisalResult).where(AppraisalResult.person_id == person_id,
                                                           AppraisalResult.period == period)).one()
    return row


@pytest.fixture
def march(app, people) -> dict[str, int]:
    """GL-5 worked case, 2025-03: two towns, a tie in the county, one last place."""
    with app.app_context():
        ids = {
            "p1": _person(people, "gl_admin", "520424001001", "韦一"),  # 关索街道
            "p2": _person(people, "gl_admin", "520424001002", "韦二"),  # 关索街道
            "p3": _person(people, "gl_admin", "520424002001", "韦三"),  # 顶云街道
            "p4": _person(people, "gl_admin", "520424002002", "韦四"),  # 顶云街道
        }
        with as_user("gl_admin"):
            appraisal.record_month("2025-03", {
                ids["p1"]: _all(90),
                ids["p2"]: {"德": 80, "能": 80, "勤": 70, "绩": 60, "廉": 100, "群众满意度": 90},
                ids["p3"]: _all(75),
                ids["p4"]: _all(50),
            })
    return ids


def test_gl5_monthly_weighted_total_and_ranks_within_town_and_county(app, march):
    with app.app_context(), as_user("gl_admin"):
        got = {k: _row(pid, "2025-03") for k, pid in march.items()}
        # 德15 能15 勤20 绩30 廉10 满意度10: (80·15 + 80·15 + 70·20 + 60·30 + 100·10 + 90·10) / 100 = 75
        assert [got[k].total for k in ("p1", "p2", "p3", "p4")] == [90, 75, 75, 50]
        assert [got[k].rank_in_county for k in ("p1", "p2", "p3", "p4")] == [1, 2, 2, 4]  # a tie shares a rank
        assert [got[k].rank_in_town for k in ("p1", "p2", "p3", "p4")] == [1, 2, 1, 2]
        assert [got[k].last_place for k in ("p1", "p2", "p3", "p4")] == [False, False, False, True]
        assert got["p2"].scores == {"de": 80, "neng": 80, "qin": 70, "ji": 60, "lian": 100, "satisfaction": 90}
        # scoring again replaces the month's row and re-ranks everyone
        appraisal.record_month("2025-03", {march["p4"]: _all(95)})
        db.session.expire_all()
        again = {k: _row(pid, "2025-03") for k, pid in march.items()}
        assert [again[k].rank_in_county for k in ("p1", "p2", "p3", "p4")] == [2, 3, 3, 1]
        # two share the bottom (stored rank 3 of 4): the 末位 formula counts their rank from the bottom,
        # so "县内名次 = 县内人数" flags both — people tied for last are all last
        assert [again[k].last_place for k in ("p1", "p2", "p3", "p4")] == [False, True, True, False]


def test_gl5_bad_scores_are_refused_with_the_person_and_item(app, march):
    with app.app_context(), as_user("gl_admin"):
        with pytest.raises(AppraisalInputError) as info:
            appraisal.record_month("2025-04", {march["p1"]: {**_all(90), "绩": 120}})
        assert "韦一「绩」的分数 120 应在 0–100 之间" in info.value.message
        with pytest.raises(AppraisalInputError) as info:
            appraisal.record_month("2025-04", {march["p1"]: {"德": 90}})
        assert "韦一缺少考核项目：能、勤、绩、廉、群众满意度" in info.value.message
        with pytest.raises(AppraisalInputError):
            appraisal.record_month("2025-13", {march["p1"]: _all(90)})


def test_gl5_annual_result_derived_from_the_months_by_the_configured_formula(app, march):
    with app.app_context(), as_user("gl_admin"):
        appraisal.record_month("2025-04", {march["p1"]: _all(100), march["p4"]: _all(70)})
        assert appraisal.derive_annual(2025) == 4
        year = {k: _row(pid, "2025") for k, pid in march.items()}
        assert (year["p1"].total, year["p1"].grade) == (95, "优秀")
        assert (year["p2"].total, year["p2"].grade) == (75, "合格")
        assert (year["p4"].total, year["p4"].grade) == (60, "合格")
        assert year["p4"].scores == {"avg": 60.0, "min": 50.0, "max": 70.0, "months": 2, "last_places": 2}
        assert year["p4"].rank_in_county == 4 and year["p4"].last_place is True


def test_cc3_monthly_scheme_is_configuration_and_errors_name_the_place(app):
    with pytest.raises(AppraisalConfigError) as info:
        appraisal.monthly_scheme({"appraisal": {"monthly": {
            "items": [{"code": "de", "label": "德", "weight": -1}], "last_place": "县内名次 =",
            "annual": {"grade": "月均分"}}}})
    text = info.value.message
    assert "items[0].weight" in text and "last_place" in text and "annual.grade" in text
    with pytest.raises(AppraisalConfigError) as info:
        appraisal.monthly_scheme({})
    assert "未配置月度考核" in info.value.message


def test_gl5_bulletin_page_lists_ranks_per_town_and_is_isolated(app, march):
    gl = login(app.test_client(), "gl_admin")
    page = gl.get("/appraisal/bulletin/?period=2025-03").get_data(as_text=True)
    assert "关索街道" in page and "顶云街道" in page
    assert page.index("关索街道") < page.index("韦一") < page.index("韦二") < page.index("顶云街道")
    assert page.count("label-warning") == 1  # one 末位
    ss = login(app.test_client(), "ss_admin")
    assert ss.get("/appraisal/bulletin/?period=2025-03").status_code == 400  # Shishi has no monthly scheme
    assert "韦一" not in ss.get("/appraisal/results/?period=2025-03", follow_redirects=True).get_data(as_text=True)
    march_api = "/api/v1/appraisal_result/?q=(filters:!((col:period,opr:eq,value:'2025-03')),page_size:100)"
    assert ss.get(march_api).get_json()["count"] == 0
    with app.app_context(), as_user("gl_admin"):
        p1_row = _row(march["p1"], "2025-03").id
    assert ss.get(f"/appraisal/results/show/{p1_row}").status_code == 404
    assert ss.get(f"/appraisal/results/print/{p1_row}").status_code == 404
    assert "韦一" in gl.get("/appraisal/results/?period=2025-03", follow_redirects=True).get_data(as_text=True)
    assert {r["person"]["name"] for r in gl.get(march_api).get_json()["result"]} == {"韦一", "韦二", "韦三", "韦四"}
    assert app.test_client().get("/appraisal/bulletin/?period=2025-03").status_code in (302, 401, 403)


def _appraisal_in_recheck(person_id: int) -> int:
    with as_user("ss_admin") as admin:
        inst = services.start("appraisal", actor=admin, person_id=person_id, cycle_year=2025,
                              now=dt.datetime(2025, 1, 5))
        db.session.execute(update(WorkflowInstance).where(WorkflowInstance.id == inst.id).values(
            state="county_recheck", due_at=dt.datetime(2025, 11, 16), last_user_id=None))
        db.session.commit()
        return inst.id


CITY = ("市卫健局", "市人社局", "市计生协会")


def _confirm(inst_id: int, admin, grade: str, score: float, parties=CITY) -> list[bool]:
    return [services.act(inst_id, "confirm", actor=admin, party=party, data={"grade": grade, "score": score},
                         now=dt.datetime(2025, 11, 10)).moved for party in parties]


def test_ss7_annual_recheck_is_the_three_city_departments_joint_sign_off(app, wf, inline_jobs):
    """SS-7 seed §五（四）: 市卫健局、市计生协会和市人社局 finish the recheck — not the health bureau alone."""
    with app.app_context():
        with as_user("ss_admin"):
            person = person_under("350581001001")
        inst_id = _appraisal_in_recheck(person)
        try:
            with as_user("ss_admin") as admin:
                with pytest.raises(WorkflowError) as info:  # a grade outside 优秀/合格/不合格 is refused
                    services.act(inst_id, "confirm", actor=admin, party="市卫健局", data={"grade": "良好", "score": 80},
                                 now=dt.datetime(2025, 11, 10))
                assert "良好" in info.value.message
                with pytest.raises(WorkflowError):  # the score the ranking needs is required
                    services.act(inst_id, "confirm", actor=admin, party="市卫健局", data={"grade": "合格"},
                                 now=dt.datetime(2025, 11, 10))
                assert _confirm(inst_id, admin, "合格", 80, CITY[:2]) == [False, False]
                assert db.session.get(WorkflowInstance, inst_id).state == "county_recheck"
                assert db.session.scalars(select(AppraisalResult).where(
                    AppraisalResult.person_id == person, AppraisalResult.period == "2025")).first() is None
                assert _confirm(inst_id, admin, "合格", 80, CITY[2:]) == [True]
                assert db.session.get(WorkflowInstance, inst_id).state == "final"
            with as_user("ss_admin"):
                row = _row(person, "2025")
                assert (row.scheme, row.grade, row.total, row.source_instance_id) == ("SS7", "合格", 80, inst_id)
        finally:
            with db.engine.begin() as conn:
                r = AppraisalResult.__table__
                conn.execute(delete(r).where(r.c.person_id == person, r.c.period == "2025"))


def test_ss7_last_place_is_the_lowest_confirmed_score_in_the_city_not_the_failing_grade(app, wf, inline_jobs):
    """SS-7 末位淘汰 is a mark of its own: the city's lowest score among the year's confirmed results.

    A 不合格 grade with a better score is not last; a 合格 one with the lowest score is; people tied
    for last are all last; the mark moves as lower results are confirmed.
    """
    villages = ("350581001001", "350581001002", "350581001003", "350581001004")
    with app.app_context():
        with as_user("ss_admin"):
            people = [person_under(v) for v in villages]
        cases = [_appraisal_in_recheck(p) for p in people]
        try:
            with as_user("ss_admin") as admin:
                marks = []
                for inst_id, grade, score in zip(cases, ("优秀", "不合格", "合格", "合格"), (92, 65, 60, 60),
                                                 strict=True):
                    _confirm(inst_id, admin, grade, score)
                    db.session.expire_all()
                    marks.append([bool(r.last_place) for r in db.session.scalars(select(AppraisalResult).where(
                        AppraisalResult.person_id.in_(people), AppraisalResult.period == "2025")
                        .order_by(AppraisalResult.total.desc(), AppraisalResult.id))])
                assert marks == [
                    [False],                       # alone: nobody to be last of
                    [False, True],                 # 92 优秀, 65 不合格 → the 不合格 one is last (lowest score)
                    [False, False, True],          # 60 合格 is now last; 65 不合格 is not
                    [False, False, True, True],    # two at 60: both last
                ]
                failed = _row(people[1], "2025")
                assert (failed.grade, failed.last_place, failed.rank_in_county) == ("不合格", False, 2)
                assert _row(people[3], "2025").rank_in_county == 3  # stored ranks count from the top
        finally:
            with db.engine.begin() as conn:
                r = AppraisalResult.__table__
                conn.execute(delete(r).where(r.c.person_id.in_(people), r.c.period == "2025"))


def test_ss7_final_grade_is_stored_per_person_and_year_and_shown_to_its_county_only(app, wf, inline_jobs):
    with app.app_context():
        with as_user("ss_admin"):
            failing, passing = person_under("350581001001"), person_under("350581001002")
        first, second = _appraisal_in_recheck(failing), _appraisal_in_recheck(passing)
        with as_user("ss_admin") as admin:
            _confirm(first, admin, "不合格", 52)
            _confirm(second, admin, "优秀", 95)
        with as_user("ss_admin"):
            row = _row(failing, "2025")
            assert (row.scheme, row.grade, row.last_place, row.source_instance_id) == ("SS7", "不合格", True, first)
            assert _row(passing, "2025").grade == "优秀" and _row(passing, "2025").last_place is False
    try:  # requests outside the test's app context: each gets its own user and scope
        page = login(app.test_client(), "ss_admin").get("/appraisal/results/?period=2025",
                                                        follow_redirects=True).get_data(as_text=True)
        assert "不合格" in page and "末位" in page
        assert "不合格" not in login(app.test_client(), "gl_admin").get(
            "/appraisal/results/?period=2025", follow_redirects=True).get_data(as_text=True)
    finally:
        with app.app_context():
            with db.engine.begin() as conn:
                r = AppraisalResult.__table__
                conn.execute(delete(r).where(r.c.person_id.in_([failing, passing]), r.c.period == "2025"))


def test_ss7_total_field_must_name_a_number_field():
    from app.workflows.definition import DefinitionInvalid, parse_definition

    spec = {"code": "ss7_total", "name": "考核", "subject": "person",
            "fields": [{"code": "grade", "label": "等次", "type": "text"},
                       {"code": "score", "label": "得分", "type": "number"}],
            "states": [{"code": "open", "label": "考核中"}, {"code": "done", "label": "完成", "final": True}],
            "transitions": [{"action": "confirm", "label": "确定", "from": "open", "to": "done",
                             "who": {"role": "county_admin"}}],
            "rules": {"appraisal": {"scheme": "SS7", "total_field": "grade"}}}
    with pytest.raises(DefinitionInvalid) as info:
        parse_definition(spec)
    assert "rules.appraisal.total_field" in str(info.value) and "score" in str(info.value)
    spec["rules"]["appraisal"]["total_field"] = "score"
    assert parse_definition(spec).rules.appraisal.total_field == "score"


def test_ss7_a_wrong_total_field_rejects_the_county_folder(app, demo, copy_tenant):
    from app.tenantio.loader import load_tenant_folder
    from app.tenantio.problems import TenantFolderInvalid

    folder = copy_tenant("shishi", "ss7_total")
    path = folder / "workflows" / "appraisal.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("total_field: score", "total_field: 得分"),
                    encoding="utf-8")
    with app.app_context(), pytest.raises(TenantFolderInvalid) as info:
        load_tenant_folder(folder)
    assert "total_field" in str(info.value) and "得分" in str(info.value) and "score" in str(info.value)


def test_cc3_example_city_monthly_ranking_and_accountability_from_configuration(app):
    """CC-3 for the third county: its own items and weights, ranks per 街道 and district, 2× last → 不合格."""
    from app.core.tenancy import tenant_context
    from app.orgs.models import OrgUnit
    from app.tenantio.loader import load_tenant_folder
    from support import TENANTS

    made: list[int] = []
    with app.app_context():
        tenant_id = load_tenant_folder(TENANTS / "example_city").tenant_id
        try:
            with tenant_context(tenant_id):
                for village, name in (("999901001001", "城一"), ("999901002001", "城二"), ("999901002002", "城三")):
                    unit = db.session.scalar(select(OrgUnit).where(OrgUnit.code == village))
                    person = Person(name=name, id_number=id_number("19900101"),
                                    education="高中", org_unit=unit)
                    db.session.add(person)
                    db.session.commit()
                    made.append(person.id)
                one, two, three = made
                full = {"服务管理": 90, "信息核查": 90, "宣传倡导": 90, "居民满意度": 90}
                # (70·40 + 60·30 + 100·10 + 80·20) / 100 = 72
                mixed = {"服务管理": 70, "信息核查": 60, "宣传倡导": 100, "居民满意度": 80}
                low = dict.fromkeys(full, 50)
                appraisal.record_month("2025-01", {one: full, two: mixed, three: low})
                appraisal.record_month("2025-02", {one: full, two: low, three: low})  # a tie at the bottom
                appraisal.record_month("2025-03", {one: full, two: mixed, three: low})
                jan = {pid: _row(pid, "2025-01") for pid in made}
                assert [jan[p].total for p in made] == [90, 72, 50]
                assert [jan[p].rank_in_town for p in made] == [1, 1, 2]  # 城二 and 城三 are both in 西城街道
                assert [jan[p].last_place for p in made] == [False, False, True]
                assert appraisal.derive_annual(2025) == 3
                year = {pid: _row(pid, "2025") for pid in made}
                assert (year[one].grade, year[two].grade, year[three].grade) == ("优秀", "合格", "不合格")
                assert year[three].scores["last_places"] == 3 and year[two].total == 64.67
                assert year[two].scores["last_places"] == 1  # February's tie at the bottom: both were last
                assert appraisal.bulletin("2025-01").towns[0][0] == "东城街道"
        finally:
            with db.engine.begin() as conn:
                r = AppraisalResult.__table__
                conn.execute(delete(r).where(r.c.person_id.in_(made)))
                conn.execute(delete(Person.__table__).where(Person.__table__.c.id.in_(made)))


def _serving_rkzr(town: str) -> int:
    from app.orgs.models import OrgUnit
    from app.staffing.models import Appointment

    with as_user("gl_admin"):
        return db.session.scalars(
            select(Appointment.person_id).join(OrgUnit, OrgUnit.id == Appointment.org_unit_id)
            .where(Appointment.position_code == "RKZR", OrgUnit.path.contains(f"/{town}/"),
                   Appointment.start_date <= dt.date(2025, 5, 1), Appointment.end_date >= dt.date(2025, 5, 31))
            .order_by(Appointment.id)).first()


def test_gl5_town_clerk_scores_own_town_only_over_http(app, wf):
    with app.app_context():
        own, other = _serving_rkzr("520424001"), _serving_rkzr("520424002")
        assert own and other
    town = login(app.test_client(), "gl_town")
    sheet = town.get("/appraisal/scores/?period=2025-05").get_data(as_text=True)
    assert f'name="s_{own}_de"' in sheet and f'name="s_{other}_de"' not in sheet
    form = {"period": "2025-05", **{f"s_{own}_{item}": "88" for item in ITEMS}}
    resp = town.post("/appraisal/scores/", data=form)
    assert resp.status_code == 302 and "bulletin" in resp.headers["Location"]
    denied = town.post("/appraisal/scores/", data={"period": "2025-05",
                                                   **{f"s_{other}_{item}": "99" for item in ITEMS}})
    assert denied.status_code == 403
    assert login(app.test_client(), "ss_admin").post("/appraisal/scores/", data=form).status_code in (400, 403, 404)
    try:
        with app.app_context(), as_user("gl_admin"):
            assert _row(own, "2025-05").total == 88
            assert db.session.scalars(select(AppraisalResult).where(
                AppraisalResult.person_id == other, AppraisalResult.period == "2025-05")).first() is None
    finally:
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(delete(AppraisalResult.__table__).where(AppraisalResult.__table__.c.period == "2025-05"))
