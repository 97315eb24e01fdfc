"""Loading a tenant folder: the database matches the files, and loading again changes nothing."""

from __future__ import annotations

import shutil
from collections import Counter

import pytest
from sqlalchemy import func, select
from tenantio_support import (
    append_rows,
    db_fingerprint,
    edit_row,
    find_line,
    problem_at,
    read_rows,
    write_rows,
)

from app.core.models import Tenant
from app.core.tenancy import tenant_context
from app.extensions import db
from app.forms.models import FormDefinition
from app.orgs.models import OrgUnit, PopulationFact, subtree_ids
from app.staffing.models import Appointment, Person, Position
from app.tenantio.exporter import export_tenant
from app.tenantio.loader import load_tenant_folder
from app.tenantio.problems import TenantFolderInvalid


def _count(model: type) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def _unit(code: str) -> OrgUnit:
    unit = db.session.scalar(select(OrgUnit).where(OrgUnit.code == code))
    assert unit is not None, code
    return unit


def test_loaded_copy_matches_the_files_and_loading_again_changes_nothing(app, copy_tenant):
    folder = copy_tenant("shishi", "ss_load1")
    orgs, pop, roster = (read_rows(folder / f) for f in ("orgunits.csv", "population.csv", "roster.csv"))
    with app.app_context():
        report = load_tenant_folder(folder)
        assert report.changed
        assert report.inserted["org_unit"] == len(orgs)
        with tenant_context(report.tenant_id):
            assert _count(OrgUnit) == len(orgs)
            levels = Counter(db.session.scalars(select(OrgUnit.level)))
            assert levels == Counter(r["level"] for r in orgs)
            assert levels["village"] == 120
            assert _count(PopulationFact) == len(pop)
            for period in ("2024", "2025"):
                in_db = db.session.scalar(select(func.sum(PopulationFact.resident_pop))
                                          .where(PopulationFact.period == period))
                assert in_db == sum(int(r["resident_pop"]) for r in pop if r["period"] == period)
            assert _count(Person) == len({r["id_number"] for r in roster})
            assert _count(Appointment) == len(roster)
            statuses = Counter(db.session.scalars(select(Appointment.status)))
            assert statuses == Counter(r["status"] for r in roster)
            village = _unit(orgs[2]["code"])
            assert village.path == f"/{orgs[0]['code']}/{orgs[1]['code']}/{orgs[2]['code']}/"
            assert village.parent.code == orgs[1]["code"]
            position = db.session.scalar(select(Position))
            assert position.quota_formula == "MAX(1, CEILING(计生常住人口 / 1500))"
        tenant = db.session.get(Tenant, report.tenant_id)
        assert (tenant.name, tenant.region) == ("石狮市", "福建省/泉州市")
        assert tenant.settings["settings"]["pay"]["basic_share"] == 0.7

        before = db_fingerprint()
        again = load_tenant_folder(folder)
        assert again.changed is False
        assert again.summary() == "ss_load1：无变化"
        assert again.tenant_id == report.tenant_id
        assert db_fingerprint() == before


def test_export_loads_back_to_the_same_state(app, copy_tenant, tmp_path):
    folder = copy_tenant("guanling", "gl_export1")
    with app.app_context():
        load_tenant_folder(folder)
        first = export_tenant("gl_export1", tmp_path / "first")
        # the export holds what the folder held (order and comments aside)
        for name in ("orgunits.csv", "population.csv", "roster.csv"):
            exported = sorted(tuple(r.values()) for r in read_rows(first / name))
            assert exported == sorted(tuple(r.values()) for r in read_rows(folder / name)), name
        # forms (here from the village_standard pack's templates) are written as files of their current version
        exported_forms = sorted(p.name for p in (first / "forms").glob("*.yaml"))
        assert "XS_LH.yaml" in exported_forms and len(exported_forms) == 10  # XS-1 + the nine XS-5 ledgers
        assert "- file: forms/XS_LH.yaml" in (first / "tenant.yaml").read_text(encoding="utf-8")
        assert "参会人数 >= 3" in (first / "forms" / "XS_LH.yaml").read_text(encoding="utf-8")

        before = db_fingerprint()
        assert load_tenant_folder(first).changed is False
        assert db_fingerprint() == before

        second_in = tmp_path / "second_in"
        shutil.copytree(first, second_in)
        cfg = second_in / "tenant.yaml"
        cfg.write_text(cfg.read_text(encoding="utf-8").replace("slug: gl_export1", "slug: gl_export2"),
                       encoding="utf-8")
        report = load_tenant_folder(second_in)
        assert report.inserted["appointment"] == len(read_rows(folder / "roster.csv"))
        second = export_tenant("gl_export2", tmp_path / "second")

        specs = {}
        for slug in ("gl_export1", "gl_export2"):
            tid = db.session.scalar(select(Tenant.id).where(Tenant.slug == slug))
            with tenant_context(tid):
                specs[slug] = {(d.code, d.version): d.spec for d in db.session.scalars(select(FormDefinition))}
        assert specs["gl_export1"] == specs["gl_export2"] and len(specs["gl_export1"]) == 10  # all version 1

    for name in ("orgunits.csv", "population.csv", "roster.csv", *(f"forms/{f}" for f in exported_forms)):
        assert (second / name).read_bytes() == (first / name).read_bytes(), name
    first_yaml = (first / "tenant.yaml").read_text(encoding="utf-8").splitlines()
    second_yaml = (second / "tenant.yaml").read_text(encoding="utf-8").splitlines()
    assert len(first_yaml) == len(second_yaml)
    assert [a for a, b in zip(first_yaml, second_yaml, strict=True) if a != b] == ["slug: gl_export1"]


def test_corrections_update_in_place_and_rows_missing_from_the_folder_are_kept(app, copy_tenant):
    folder = copy_tenant("shishi", "ss_update1")
    with app.app_context():
        first = load_tenant_folder(folder)
        village_line = find_line(folder / "orgunits.csv", level="village")
        village = edit_row(folder / "orgunits.csv", village_line, name="新名村")
        pop_line = find_line(folder / "population.csv", org_code=village["code"], period="2025")
        edit_row(folder / "population.csv", pop_line, resident_pop="12345")
        roster = read_rows(folder / "roster.csv")
        dropped = roster.pop()
        write_rows(folder / "roster.csv", roster)

        report = load_tenant_folder(folder)
        assert report.updated == {"org_unit": 1, "population_fact": 1}
        assert not any(report.inserted.values())
        with tenant_context(first.tenant_id):
            assert _unit(village["code"]).name == "新名村"
            fact = db.session.scalar(select(PopulationFact).join(OrgUnit)
                                     .where(OrgUnit.code == village["code"], PopulationFact.period == "2025"))
            assert fact.resident_pop == 12345
            # the appointment no longer in roster.csv is history, not deleted
            assert _count(Appointment) == len(roster) + 1
            kept = db.session.scalar(select(Person).where(Person.id_number == dropped["id_number"]))
            assert kept is not None


def test_moving_a_village_moves_the_paths_of_its_groups_also_when_not_in_the_folder(app, copy_tenant):
    folder = copy_tenant("shishi", "ss_move1")
    with app.app_context():
        report = load_tenant_folder(folder)
        orgs = read_rows(folder / "orgunits.csv")
        towns = [r["code"] for r in orgs if r["level"] == "town"]
        village = next(r["code"] for r in orgs if r["level"] == "village" and r["parent_code"] == towns[0])
        groups = [r["code"] for r in orgs if r["parent_code"] == village]
        assert groups
        # the next folder moves the village to another town and no longer lists any group
        kept = [dict(r, parent_code=towns[1]) if r["code"] == village else r
                for r in orgs if r["level"] != "group"]
        write_rows(folder / "orgunits.csv", kept)

        moved = load_tenant_folder(folder)
        assert moved.changed
        with tenant_context(report.tenant_id):
            new_path = f"/{orgs[0]['code']}/{towns[1]}/{village}/"
            assert _unit(village).path == new_path
            for code in groups:
                assert _unit(code).path == f"{new_path}{code}/"
            new_town = _unit(towns[1])
            in_new_town = set(subtree_ids(db.session, new_town.path))
            assert {_unit(c).id for c in groups} <= in_new_town
            assert not {_unit(c).id for c in groups} & set(subtree_ids(db.session, _unit(towns[0]).path))
        before = db_fingerprint()
        assert load_tenant_folder(folder).changed is False
        assert db_fingerprint() == before


def test_a_village_made_a_town_takes_its_listed_units_along(app, copy_tenant):
    folder = copy_tenant("shishi", "ss_level1")
    with app.app_context():
        report = load_tenant_folder(folder)
        orgs = read_rows(folder / "orgunits.csv")
        county = orgs[0]["code"]
        village = next(r for r in orgs if r["level"] == "village")
        groups = [r["code"] for r in orgs if r["parent_code"] == village["code"]]
        # 村改居 into a new 街道: the village becomes a town, its groups become communities
        for r in orgs:
            if r["code"] == village["code"]:
                r.update(parent_code=county, level="街道")
            elif r["code"] in groups:
                r.update(level="社区")
        write_rows(folder / "orgunits.csv", orgs)
        changed = load_tenant_folder(folder)
        assert changed.updated["org_unit"] == 1 + len(groups)
        with tenant_context(report.tenant_id):
            town = _unit(village["code"])
            assert (town.level, town.path) == ("town", f"/{county}/{village['code']}/")
            for code in groups:
                unit = _unit(code)
                assert (unit.level, unit.path) == ("village", f"/{county}/{village['code']}/{code}/")


def test_a_level_change_that_would_strand_units_outside_the_folder_is_refused(app, copy_tenant):
    folder = copy_tenant("shishi", "ss_level2")
    with app.app_context():
        load_tenant_folder(folder)
        orgs = read_rows(folder / "orgunits.csv")
        village = next(r for r in orgs if r["level"] == "village")
        kept = [dict(r, parent_code=orgs[0]["code"], level="town") if r["code"] == village["code"] else r
                for r in orgs if r["parent_code"] != village["code"]]
        write_rows(folder / "orgunits.csv", kept)
        line = find_line(folder / "orgunits.csv", code=village["code"])
        before = db_fingerprint()
        with pytest.raises(TenantFolderInvalid) as caught:
            load_tenant_folder(folder)
        problem = problem_at(caught.value, "orgunits.csv", line, "level")
        assert "其下仍有不在本目录中的村（居）民小组" in str(problem)
        assert db_fingerprint() == before


def test_a_person_record_does_not_depend_on_the_order_of_roster_rows(app, copy_tenant, tmp_path):
    folder = copy_tenant("shishi", "ss_order1")
    roster = read_rows(folder / "roster.csv")
    villages = [r["code"] for r in read_rows(folder / "orgunits.csv") if r["level"] == "village"]
    person = roster[0]
    # an earlier, ended appointment of the same person in another village, listed first
    earlier = dict(person, org_code=villages[5], start="2019-01-01", end="2021-12-31", status="ended",
                   phone="13900000000")
    write_rows(folder / "roster.csv", [earlier, *roster])
    with app.app_context():
        report = load_tenant_folder(folder)
        with tenant_context(report.tenant_id):
            record = db.session.scalar(select(Person).where(Person.id_number == person["id_number"]))
            assert record.org_unit.code == person["org_code"]  # where the active appointment is
            assert record.phone == person["phone"]
            assert len(record.appointments) == 2
        exported = export_tenant("ss_order1", tmp_path / "out")
        before = db_fingerprint()
        write_rows(folder / "roster.csv", [*roster, earlier])
        assert load_tenant_folder(folder).changed is False
        assert load_tenant_folder(exported).changed is False
        assert db_fingerprint() == before


def test_new_units_positions_and_staff_are_added_to_an_existing_tenant(app, copy_tenant):
    folder = copy_tenant("shishi", "ss_add1")
    with app.app_context():
        report = load_tenant_folder(folder)
        town = find_line(folder / "orgunits.csv", level="town")
        town_code = read_rows(folder / "orgunits.csv")[town - 2]["code"]
        append_rows(folder / "orgunits.csv", {"code": "NEWV01", "parent_code": town_code, "level": "村",
                                               "name": "新设村"})
        append_rows(folder / "population.csv", {"org_code": "NEWV01", "period": "2025-03",
                                                 "registered_pop": "1,200", "resident_pop": "1500"})
        cfg = folder / "tenant.yaml"
        cfg.write_text(cfg.read_text(encoding="utf-8").replace(
            "packs: {}",
            "  - code: RKZR\n    name: 村级人口主任\n    org_level: 村\n    quota: 1\npacks: {}"),
            encoding="utf-8")
        append_rows(folder / "roster.csv", {"id_number": "350581198001011230", "name": "新同志",
                                             "position_code": "RKZR", "org_code": "NEWV01",
                                             "start": "2025/3/1", "status": ""})
        added = load_tenant_folder(folder)
        assert added.inserted == {"position": 1, "position_rule": 1, "org_unit": 1, "population_fact": 1,
                                  "person": 1, "appointment": 1}
        assert not any(added.updated.values())
        with tenant_context(report.tenant_id):
            unit = _unit("NEWV01")
            assert (unit.level, unit.path) == ("village", f"/350581/{town_code}/NEWV01/")
            fact = db.session.scalar(select(PopulationFact).where(PopulationFact.org_unit_id == unit.id))
            assert (fact.period, fact.registered_pop, fact.floating_pop) == ("2025-03", 1200, None)
            position = db.session.scalar(select(Position).where(Position.code == "RKZR"))
            assert (position.org_level, position.quota_formula) == ("village", "1")
            person = db.session.scalar(select(Person).where(Person.name == "新同志"))
            assert (person.sex, person.birth_date.isoformat()) == ("男", "1980-01-01")
            assert person.appointments[0].status == "active"
            assert person.appointments[0].start_date.isoformat() == "2025-03-01"


def test_fifteen_digit_id_numbers_are_stored_as_eighteen(app, copy_tenant):
    folder = copy_tenant("shishi", "ss_id15")
    roster = read_rows(folder / "roster.csv")
    old = "350581800101123"  # first-generation card: born 1980-01-01
    roster[0]["id_number"] = old
    write_rows(folder / "roster.csv", roster)
    with app.app_context():
        report = load_tenant_folder(folder)
        with tenant_context(report.tenant_id):
            numbers = set(db.session.scalars(select(Person.id_number)))
        assert old not in numbers
        assert any(n.startswith("35058119800101123") and len(n) == 18 for n in numbers)
        assert load_tenant_folder(folder).changed is False


def test_a_reload_that_renames_a_unit_bumps_its_row_version_so_stale_edits_conflict(app, copy_tenant):
    folder = copy_tenant("shishi", "ss_version1")
    with app.app_context():
        report = load_tenant_folder(folder)
        orgs = read_rows(folder / "orgunits.csv")
        village = next(r for r in orgs if r["level"] == "village")
        write_rows(folder / "orgunits.csv",
                   [dict(r, name=r["name"] + "（改）") if r["code"] == village["code"] else r for r in orgs])
        load_tenant_folder(folder)
        with tenant_context(report.tenant_id):
            versions = dict(db.session.execute(select(OrgUnit.code, OrgUnit.row_version)).tuples().all())
    assert versions[village["code"]] == 2
    assert {v for code, v in versions.items() if code != village["code"]} == {1}
