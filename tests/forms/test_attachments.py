"""Attachment fields store the uploaded file: checks, storage, screens, download, API, scope and isolation."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from forms_support import SS_TOWN, acting, unit, villages
from sqlalchemy import select, text

from app.extensions import db
from app.forms import services
from app.forms.attachments import IncomingFile
from app.forms.definition import load_form
from app.forms.models import FormRecord
from support import PASSWORD, TENANTS, is_postgres, login

SLUG = "att_cty"
CODE = "att_demo"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
EXE = b"MZ\x90\x00" + b"\x00" * 200
FORM = {"code": CODE, "name": "附件测试表", "target": "village", "sections": [{"title": "材料", "fields": [
    {"code": "title", "label": "标题", "type": "text", "required": True},
    {"code": "scan", "label": "扫描件", "type": "attachment", "required": True},
    {"code": "extra", "label": "其他材料", "type": "attachment"}]}]}


@pytest.fixture(scope="module")
def county(app, demo, tmp_path_factory) -> dict[str, Any]:
    """A copy of Shishi with the attachment form, its admin, a town clerk, and villages in and out of the town."""
    from app.security.services import add_user
    from app.tenantio.loader import load_tenant_folder

    folder = tmp_path_factory.mktemp("att") / SLUG
    shutil.copytree(TENANTS / "shishi", folder)
    cfg = folder / "tenant.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("slug: shishi", f"slug: {SLUG}"), encoding="utf-8")
    with app.app_context():
        tenant_id = load_tenant_folder(folder).tenant_id
        with acting(tenant_id):
            services.save_definition(load_form(FORM))
            own = villages(SS_TOWN)
            other_town = next(u for u in unit("350581").children if u.code != SS_TOWN)
            ids = {"own": own[0].id, "own2": own[1].id, "other": villages(other_town.code)[0].id}
            db.session.commit()
        add_user("att_admin", role="county_admin", password=PASSWORD, tenant_slug=SLUG)
        add_user("att_town", role="town_clerk", password=PASSWORD, tenant_slug=SLUG, scope_code=SS_TOWN)
        db.session.remove()
    return {"tenant_id": tenant_id, **ids}


@pytest.fixture
def small_limit(app):
    """COUNTYDESK_MAX_UPLOAD_MB of 1 KB for one test (the request limit stays above it)."""
    old = app.config["COUNTYDESK_MAX_UPLOAD_MB"]
    app.config["COUNTYDESK_MAX_UPLOAD_MB"] = 1 / 1024
    yield 1024
    app.config["COUNTYDESK_MAX_UPLOAD_MB"] = old


def _file(data: bytes, name: str = "扫描件.pdf") -> IncomingFile:
    return IncomingFile(name, io.BytesIO(data))


def _folder(app, slug: str = SLUG) -> Path:
    from app.documents.uploads import upload_root

    with app.test_request_context():
        return upload_root() / slug / "forms" / CODE


def _stored(app) -> set[str]:
    folder = _folder(app)
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def _create(county, village: str = "own", **files: IncomingFile | None) -> FormRecord:
    data: dict[str, Any] = {"title": "材料", "scan": _file(PDF)}
    data.update(files)
    record = services.create_record(CODE, {"org_unit_id": county[village], "data": data})
    db.session.commit()
    return record


# -- the service ----------------------------------------------------------------------------------


def test_an_upload_is_stored_under_the_county_with_a_generated_name_and_the_record_keeps_its_metadata(app, county):
    with app.test_request_context(), acting(county["tenant_id"]):
        record = _create(county, scan=_file(PDF, "../../etc/passwd<b>.pdf"))
        meta = record.data["scan"]
        assert set(meta) == {"name", "size", "sha256", "key", "content_type"}
        assert meta["name"] == "passwd<b>.pdf" and meta["size"] == len(PDF)
        assert meta["content_type"] == "application/pdf"
        assert re.fullmatch(rf"forms/{CODE}/[0-9a-f]{{32}}\.pdf", meta["key"])
        path = _folder(app) / meta["key"].rsplit("/", 1)[1]
        assert path.read_bytes() == PDF
        import hashlib

        assert meta["sha256"] == hashlib.sha256(PDF).hexdigest()
        assert record.data["extra"] is None


def test_the_audit_event_shows_the_metadata_never_the_bytes(app, county):
    from app.core.audit_models import AuditEvent

    with app.test_request_context(), acting(county["tenant_id"]):
        record = _create(county, village="own2")
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.row_id == record.id,
                                                            AuditEvent.entity == f"form:{CODE}")).first()
        scan = event.after["data"]["scan"]
        assert scan["sha256"] == record.data["scan"]["sha256"] and scan["name"] == "扫描件.pdf"
        assert "PDF-1.4" not in repr(event.after)


def test_editing_without_a_file_keeps_it_a_new_file_replaces_it_and_none_clears_an_optional_one(app, county):
    with app.test_request_context(), acting(county["tenant_id"]):
        record = _create(county, extra=_file(PNG, "照片.png"))
        first = record.data["scan"]
        record = services.update_record(CODE, record.id, {"data": {"title": "改了"}}, record.row_version)
        assert record.data["scan"] == first and record.data["extra"]["content_type"] == "image/png"
        record = services.update_record(CODE, record.id, {"data": {"scan": _file(PNG, "新.png"), "extra": None}},
                                        record.row_version)
        assert record.data["scan"]["name"] == "新.png" and record.data["scan"]["key"] != first["key"]
        assert record.data["extra"] is None
        with pytest.raises(services.FormValidationError) as err:
            services.update_record(CODE, record.id, {"data": {"scan": None}}, record.row_version)
        assert err.value.errors["scan"] == ["必填"]
        db.session.rollback()


@pytest.mark.parametrize(("data", "name", "message"), [
    (EXE, "scan.pdf", "类型不被接受"),          # a renamed program: the content decides
    (b"<html><script>alert(1)</script>", "a.html", "类型不被接受"),
    (b"", "empty.pdf", "是空文件"),
    (b"PK\x03\x04not a zip", "a.docx", "损坏的压缩文件"),
])
def test_a_wrong_or_empty_file_is_refused_and_nothing_is_saved(app, county, data, name, message):
    with app.test_request_context(), acting(county["tenant_id"]):
        before, files = db.session.scalar(select(db.func.count()).select_from(FormRecord)), _stored(app)
        with pytest.raises(services.FormValidationError) as err:
            services.create_record(CODE, {"org_unit_id": county["own"],
                                          "data": {"title": "x", "scan": _file(data, name)}})
        assert message in err.value.errors["scan"][0]
        db.session.rollback()
        assert db.session.scalar(select(db.func.count()).select_from(FormRecord)) == before
        assert _stored(app) == files


def test_an_oversized_file_is_refused_in_chinese_and_nothing_is_written(app, county, small_limit):
    with app.test_request_context(), acting(county["tenant_id"]):
        files = _stored(app)
        with pytest.raises(services.FormValidationError) as err:
            services.create_record(CODE, {"org_unit_id": county["own"],
                                          "data": {"title": "x", "scan": _file(PDF + b"0" * 2048)}})
        assert "上传的文件太大" in err.value.errors["scan"][0] and "MB" in err.value.errors["scan"][0]
        db.session.rollback()
        assert _stored(app) == files


def test_a_file_of_a_record_that_fails_its_other_checks_is_not_kept(app, county):
    with app.test_request_context(), acting(county["tenant_id"]):
        files = _stored(app)
        with pytest.raises(services.FormValidationError) as err:
            services.create_record(CODE, {"org_unit_id": county["own"], "data": {"title": "", "scan": _file(PDF)}})
        assert "title" in err.value.errors
        db.session.rollback()
        assert _stored(app) == files


def test_an_attachment_cannot_be_set_by_typing_a_name_or_a_forged_key(app, county):
    with app.test_request_context(), acting(county["tenant_id"]):
        record = _create(county)
        forged = {**record.data["scan"], "key": f"forms/{CODE}/{'0' * 32}.pdf"}
        for value in ("secret.pdf", forged):
            with pytest.raises(services.FormValidationError) as err:
                services.update_record(CODE, record.id, {"data": {"scan": value}}, record.row_version)
            assert "附件只能上传文件" in err.value.errors["scan"][0]
            db.session.rollback()
        with pytest.raises(services.FormValidationError):
            services.create_record(CODE, {"org_unit_id": county["own"], "data": {"title": "x", "scan": "a.pdf"}})
        db.session.rollback()



# -- files follow the transaction ------------------------------------------------------------------------


def _path(app, meta: dict[str, Any], slug: str = SLUG) -> Path:
    return _folder(app, slug) / meta["key"].rsplit("/", 1)[1]


def test_a_replaced_or_cleared_file_is_removed_from_disk_once_the_save_commits(app, county):
    with app.test_request_context(), acting(county["tenant_id"]):
        record = _create(county, extra=_file(PNG, "照片.png"))
        old_scan, old_extra = _path(app, record.data["scan"]), _path(app, record.data["extra"])
        record = services.update_record(CODE, record.id, {"data": {"scan": _file(PNG, "新.png"), "extra": None}},
                                        record.row_version)
        new_scan = _path(app, record.data["scan"])
        assert old_scan.is_file() and old_extra.is_file() and new_scan.is_file()  # not committed yet
        db.session.commit()
        assert not old_scan.exists() and not old_extra.exists()
        assert new_scan.read_bytes() == PNG


def test_deleting_a_record_removes_its_files_after_the_commit(app, county):
    with app.test_request_context(), acting(county["tenant_id"]):
        record = _create(county, extra=_file(PNG, "照片.png"))
        paths = [_path(app, record.data["scan"]), _path(app, record.data["extra"])]
        services.delete_record(CODE, record.id, record.row_version)
        assert all(p.is_file() for p in paths)
        db.session.commit()
        assert not any(p.exists() for p in paths)


def test_a_rolled_back_save_keeps_the_old_file_and_leaves_no_new_one(app, county):
    with app.test_request_context(), acting(county["tenant_id"]):
        record = _create(county)
        rid, old = record.id, _path(app, record.data["scan"])
        files = _stored(app)
        record = services.update_record(CODE, rid, {"data": {"scan": _file(PNG, "新.png")}}, record.row_version)
        assert _path(app, record.data["scan"]).is_file()
        db.session.rollback()
        assert old.read_bytes() == PDF and _stored(app) == files
        services.delete_record(CODE, rid, services.get_record(CODE, rid).row_version)
        db.session.rollback()
        assert old.is_file() and services.get_record(CODE, rid).data["scan"]["key"].endswith(old.name)


def test_a_conflict_found_at_save_keeps_the_old_file_and_the_upload_is_not_left_behind(app, county):
    """A colleague saves between this clerk's read and her save: the compare-and-set refuses it at flush."""
    from app.core.locking import EditConflict

    with app.test_request_context(), acting(county["tenant_id"]):
        record = _create(county)
        rid, old, version = record.id, _path(app, record.data["scan"]), record.row_version
        files = _stored(app)
    with app.test_request_context(), acting(county["tenant_id"]):
        services.get_record(CODE, rid)  # read at this version
        with db.engine.begin() as other:  # the colleague's save
            if is_postgres():
                other.execute(text("SELECT set_config('countydesk.all_tenants', 'on', true)"))
            t = FormRecord.__table__
            other.execute(t.update().where(t.c.id == rid).values(row_version=version + 1))
        with pytest.raises(EditConflict):
            services.update_record(CODE, rid, {"data": {"scan": _file(PNG, "新.png")}}, version)
        assert old.read_bytes() == PDF and _stored(app) == files


def test_a_stale_upload_through_the_api_keeps_the_file_and_stores_nothing(app, county, client):
    login(client, "att_admin")
    rid = int(_add(client, county).headers["Location"].rstrip("/").split("/")[-1])
    record = client.get(f"/api/v1/forms/{CODE}/records/{rid}").json["result"]
    url = f"/api/v1/forms/{CODE}/records/{rid}/attachments/scan"
    fresh = client.put(f"/api/v1/forms/{CODE}/records/{rid}", json={"row_version": record["row_version"],
                                                                      "data": {"title": "别人改了"}})
    assert fresh.status_code == 200
    files = _stored(app)
    stale = client.post(url, data={"file": (io.BytesIO(PNG), "x.png"), "row_version": str(record["row_version"])},
                        content_type="multipart/form-data")
    assert stale.status_code == 409
    assert _stored(app) == files and client.get(url).data == PDF
    replaced = client.post(url, data={"file": (io.BytesIO(PNG), "x.png"),
                                      "row_version": str(fresh.json["result"]["row_version"])},
                           content_type="multipart/form-data")
    assert replaced.status_code == 200
    new_name = replaced.json["result"]["data"]["scan"]["key"].rsplit("/", 1)[1]
    assert _stored(app) == (files - {record["data"]["scan"]["key"].rsplit("/", 1)[1]}) | {new_name}


def test_a_file_another_record_still_names_is_kept(app, county):
    with app.test_request_context(), acting(county["tenant_id"]):
        first = _create(county)
        second = _create(county, village="own2")
        shared = dict(first.data["scan"])
        second.data = {**second.data, "scan": shared}  # e.g. a record copied before keys were per upload
        db.session.commit()
        services.delete_record(CODE, first.id, first.row_version)
        db.session.commit()
        assert _path(app, shared).read_bytes() == PDF


def test_another_countys_files_are_untouched_by_a_delete(app, county):
    with app.test_request_context(), acting(county["tenant_id"]):
        record = _create(county)
        mine = _path(app, record.data["scan"])
        theirs = _path(app, record.data["scan"], slug="guanling")  # the same name in Guanling's folder
        theirs.parent.mkdir(parents=True, exist_ok=True)
        theirs.write_bytes(PNG)
        try:
            services.delete_record(CODE, record.id, record.row_version)
            db.session.commit()
            assert not mine.exists() and theirs.read_bytes() == PNG
        finally:
            theirs.unlink(missing_ok=True)


# -- screens and download -------------------------------------------------------------------------------


def _add(client, county, village: str = "own", **extra: Any):
    data = {"org_unit_id": str(county[village]), "title": "申请材料", "scan": (io.BytesIO(PDF), "聘用 申请<1>.pdf")}
    data.update(extra)
    return client.post(f"/forms/{CODE}/add", data=data, content_type="multipart/form-data")


def test_screen_upload_shows_an_escaped_link_and_the_download_carries_the_utf8_name(app, county, client):
    login(client, "att_admin")
    page = client.get(f"/forms/{CODE}/add").text
    assert 'type="file"' in page and 'accept=".pdf,.jpg,.jpeg,.png,.docx,.xlsx"' in page and "data-max-bytes" in page
    resp = _add(client, county)
    assert resp.status_code == 302, resp.text
    shown = client.get(resp.headers["Location"]).text
    link = re.search(rf'<a class="cd-attachment" href="(/form-attachments/{CODE}/scan/[0-9a-f]{{32}}\.pdf)" download>'
                     r"聘用 申请&lt;1&gt;\.pdf</a>", shown)
    assert link, shown
    assert "<1>" not in shown
    download = client.get(link.group(1))
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Type"] == "application/pdf"
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%E8%81%98%E7%94%A8%20%E7%94%B3%E8%AF%B7%3C1%3E.pdf" in disposition
    assert download.headers["X-Content-Type-Options"] == "nosniff"


def test_screen_oversize_keeps_the_rest_of_the_input_and_saves_nothing(app, county, client, small_limit):
    login(client, "att_admin")
    with app.test_request_context(), acting(county["tenant_id"]):
        before = db.session.scalar(select(db.func.count()).select_from(FormRecord))
    resp = _add(client, county, title="保留的标题", scan=(io.BytesIO(PDF + b"0" * 4096), "大.pdf"))
    assert resp.status_code == 422
    assert "上传的文件太大" in resp.text and 'value="保留的标题"' in resp.text
    with app.test_request_context(), acting(county["tenant_id"]):
        assert db.session.scalar(select(db.func.count()).select_from(FormRecord)) == before


def test_a_request_over_the_server_limit_gets_a_chinese_413_and_saves_nothing(app, county, client):
    login(client, "att_admin")
    with app.test_request_context(), acting(county["tenant_id"]):
        before = db.session.scalar(select(db.func.count()).select_from(FormRecord))
    old = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 4096  # stands for a 50 MB file against the 21 MB request limit
    try:
        resp = _add(client, county, scan=(io.BytesIO(PDF + b"0" * 8192), "大.pdf"))
    finally:
        app.config["MAX_CONTENT_LENGTH"] = old
    assert resp.status_code == 413 and "上传的文件太大" in resp.text
    with app.test_request_context(), acting(county["tenant_id"]):
        assert db.session.scalar(select(db.func.count()).select_from(FormRecord)) == before


def test_edit_screen_keeps_the_file_without_a_new_one_and_the_box_clears_it(app, county, client):
    login(client, "att_admin")
    rid = int(_add(client, county, extra=(io.BytesIO(PNG), "照片.png")).headers["Location"].rstrip("/").split("/")[-1])
    page = client.get(f"/forms/{CODE}/{rid}/edit").text
    assert "当前文件" in page and 'name="extra-clear"' in page and "删除附件" in page
    with app.test_request_context(), acting(county["tenant_id"]):
        record = services.get_record(CODE, rid)
        version, scan = record.row_version, record.data["scan"]
    resp = client.post(f"/forms/{CODE}/{rid}/edit", data={"org_unit_id": str(county["own"]), "title": "改",
                                                          "row_version": str(version), "extra-clear": "y"},
                       content_type="multipart/form-data")
    assert resp.status_code == 302, resp.text
    with app.test_request_context(), acting(county["tenant_id"]):
        record = services.get_record(CODE, rid)
        assert record.data["scan"] == scan and record.data["extra"] is None and record.data["title"] == "改"



def test_edit_page_shown_again_with_an_error_still_shows_the_current_file(app, county, client):
    login(client, "att_admin")
    rid = int(_add(client, county).headers["Location"].rstrip("/").split("/")[-1])
    with app.test_request_context(), acting(county["tenant_id"]):
        record = services.get_record(CODE, rid)
        version, scan, files = record.row_version, dict(record.data["scan"]), _stored(app)
    for posted in ({"title": ""},  # a screen check
                   {"title": "改", "org_unit_id": "99999999", "scan": (io.BytesIO(PNG), "新.png")}):  # the service's
        data = {"org_unit_id": str(county["own"]), "row_version": str(version), **posted}
        resp = client.post(f"/forms/{CODE}/{rid}/edit", data=data, content_type="multipart/form-data")
        assert resp.status_code == 422, resp.text
        current = re.search(r'<div class="cd-attachment-current">当前文件：(.*?)</div>', resp.text, re.S)
        assert current and "聘用 申请&lt;1&gt;.pdf" in current.group(1), resp.text
        assert f"（{len(PDF)} B）" in current.group(1)  # the size, as on the first display
        assert f'href="/form-attachments/{CODE}/scan/{scan["key"].rsplit("/", 1)[1]}"' in current.group(1)
    assert "必填" in client.post(f"/forms/{CODE}/{rid}/edit", data={
        "org_unit_id": str(county["own"]), "row_version": str(version), "title": ""},
        content_type="multipart/form-data").text
    with app.test_request_context(), acting(county["tenant_id"]):
        record = services.get_record(CODE, rid)
        assert (record.row_version, record.data["scan"], record.data["title"]) == (version, scan, "申请材料")
        assert _stored(app) == files
    # and saving from that page without choosing a file keeps it
    resp = client.post(f"/forms/{CODE}/{rid}/edit", data={"org_unit_id": str(county["own"]), "title": "改好了",
                                                          "row_version": str(version)},
                       content_type="multipart/form-data")
    assert resp.status_code == 302, resp.text
    with app.test_request_context(), acting(county["tenant_id"]):
        record = services.get_record(CODE, rid)
        assert record.data["scan"] == scan and record.data["title"] == "改好了"


def test_another_county_cannot_download_and_a_town_clerk_only_her_towns_files(app, county, client):
    login(client, "att_admin")
    own_url = re.search(r'href="(/form-attachments/[^"]+)"', client.get(_add(client, county).headers["Location"]).text)
    other_resp = _add(client, county, village="other")
    other_rid = other_resp.headers["Location"].rstrip("/").split("/")[-1]
    other_url = re.search(r'href="(/form-attachments/[^"]+)"', client.get(other_resp.headers["Location"]).text)
    client.get("/logout/")
    login(client, "gl_admin")
    assert client.get(own_url.group(1)).status_code == 404
    assert client.get(f"/api/v1/forms/{CODE}/records/{other_rid}/attachments/scan").status_code == 404
    client.get("/logout/")
    login(client, "att_town")
    assert client.get(own_url.group(1)).status_code == 200
    assert client.get(other_url.group(1)).status_code == 404
    assert client.get(f"/api/v1/forms/{CODE}/records/{other_rid}/attachments/scan").status_code == 404
    assert client.get(f"/form-attachments/{CODE}/scan/{'0' * 32}.pdf").status_code == 404
    assert client.get(f"/form-attachments/{CODE}/scan/..%2F..%2Fx.pdf").status_code == 404


# -- API ----------------------------------------------------------------------------------------------


def test_api_upload_replace_download_and_clear(app, county, client):
    login(client, "att_admin")
    rid = int(_add(client, county).headers["Location"].rstrip("/").split("/")[-1])
    url = f"/api/v1/forms/{CODE}/records/{rid}/attachments/extra"
    version = client.get(f"/api/v1/forms/{CODE}/records/{rid}").json["result"]["row_version"]
    missing = client.post(url, data={"file": (io.BytesIO(PNG), "p.png")}, content_type="multipart/form-data")
    assert missing.status_code == 422 and "row_version" in missing.json["errors"]
    bad = client.post(url, data={"file": (io.BytesIO(EXE), "p.png"), "row_version": str(version)},
                      content_type="multipart/form-data")
    assert bad.status_code == 422 and "类型不被接受" in bad.json["errors"]["extra"][0]
    resp = client.post(url, data={"file": (io.BytesIO(PNG), "现场照片.png"), "row_version": str(version)},
                       content_type="multipart/form-data")
    assert resp.status_code == 200, resp.json
    extra = resp.json["result"]["data"]["extra"]
    assert extra["name"] == "现场照片.png" and extra["content_type"] == "image/png" and extra["size"] == len(PNG)
    assert extra["download_url"].endswith(url)
    assert client.get(extra["download_url"]).data == PNG
    stale = client.post(url, data={"file": (io.BytesIO(PNG), "x.png"), "row_version": str(version)},
                        content_type="multipart/form-data")
    assert stale.status_code == 409
    assert client.post(f"/api/v1/forms/{CODE}/records/{rid}/attachments/title",
                       data={"file": (io.BytesIO(PNG), "x.png"), "row_version": "9"},
                       content_type="multipart/form-data").status_code == 404
    # a PUT may send the record back as read (download_url included): the files stay
    record = client.get(f"/api/v1/forms/{CODE}/records/{rid}").json["result"]
    cleared = client.delete(f"{url}?row_version={record['row_version']}")
    assert cleared.status_code == 200 and cleared.json["result"]["data"]["extra"] is None
    assert client.get(url).status_code == 404
    required = client.delete(f"/api/v1/forms/{CODE}/records/{rid}/attachments/scan?row_version="
                             f"{cleared.json['result']['row_version']}")
    assert required.status_code == 422 and required.json["errors"]["scan"] == ["必填"]


def test_api_put_with_the_metadata_read_back_keeps_the_file(app, county, client):
    login(client, "att_admin")
    rid = int(_add(client, county).headers["Location"].rstrip("/").split("/")[-1])
    url = f"/api/v1/forms/{CODE}/records/{rid}/attachments/scan"
    with app.test_request_context(), acting(county["tenant_id"]):
        from app.forms.attachments import api_data

        record = services.get_record(CODE, rid)
        data, version = api_data(record), record.row_version
    assert data["scan"]["download_url"].endswith(url)
    resp = client.put(f"/api/v1/forms/{CODE}/records/{rid}", json={"row_version": version,
                                                                     "data": {**data, "title": "新标题"}})
    assert resp.status_code == 200, resp.json
    assert client.get(url).data == PDF


def test_openapi_documents_the_upload_endpoint(app, county, client):
    login(client, "att_admin")
    resp = client.get("/api/v1/_openapi")
    assert resp.status_code == 200, resp.text[:500]
    path = resp.json["paths"]["/api/v1/forms/{code}/records/{rid}/attachments/{field}"]
    assert "multipart/form-data" in path["post"]["requestBody"]["content"]


def test_display_outside_a_request_is_plain_text_and_bare_names_of_old_records_still_show():
    from app.forms.definition import FieldDef
    from app.forms.schemas import display

    f = FieldDef("scan", "扫描件", "attachment")
    meta = {"name": "<b>a.pdf", "size": 2048, "sha256": "0" * 64, "key": f"forms/{CODE}/{'a' * 32}.pdf",
            "content_type": "application/pdf"}
    assert display(f, meta) == "<b>a.pdf（2.0 KB）"
    assert display(f, "old.pdf") == "old.pdf"


def _zip(*names: str) -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in names:
            archive.writestr(name, "<x/>")
    return out.getvalue()


@pytest.mark.parametrize(("data", "kind"), [
    (PDF, "pdf"), (PNG, "png"), (b"\xff\xd8\xff\xe0" + b"\x00" * 32, "jpg"),
    (_zip("[Content_Types].xml", "word/document.xml"), "docx"),
    (_zip("[Content_Types].xml", "xl/workbook.xml"), "xlsx"),
])
def test_the_accepted_kinds_are_recognised_by_content(data, kind):
    from app.documents.uploads import detect_attachment_kind

    assert detect_attachment_kind(data, "任意名字.bin") == kind


@pytest.mark.parametrize("data", [_zip("a.txt"), b"GIF89a" + b"\x00" * 20, b"plain text, a renamed .txt", EXE])
def test_other_kinds_are_refused_whatever_their_name(data):
    from app.documents.uploads import UploadRefused, detect_attachment_kind

    with pytest.raises(UploadRefused, match="只接受 PDF、JPG/PNG 图片、Word 文档"):
        detect_attachment_kind(data, "scan.pdf")
