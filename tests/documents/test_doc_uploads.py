"""Uploads: refused by size before parsing, typed by content not by name, stored under the tenant."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from app.core.errors import NotFound
from app.core.tenancy import tenant_context
from app.core.xlsx_export import write_xlsx
from app.documents.uploads import (
    UploadRefused,
    UploadTooLarge,
    detect_kind,
    read_limited,
    read_upload,
    store_upload,
    upload_path,
    upload_root,
)
from support import login

EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200
OLE2_XLS = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _docx_like() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


def test_type_is_detected_from_content_not_name():
    assert detect_kind(write_xlsx([("姓名", "n")], [{"n": "张三"}]), "a.csv") == "xlsx"
    assert detect_kind("姓名,年龄\n张三,3\n".encode("gbk"), "a.xlsx") == "csv"
    with pytest.raises(UploadRefused) as exe:
        detect_kind(EXE, "名单.xlsx")
    assert "「名单.xlsx」" in exe.value.message and "只接受" in exe.value.message and ".xlsx" in exe.value.message
    with pytest.raises(UploadRefused) as xls:
        detect_kind(OLE2_XLS, "旧表.xlsx")
    assert "旧版 Excel（.xls）" in xls.value.message
    with pytest.raises(UploadRefused) as docx:
        detect_kind(_docx_like(), "x.xlsx")
    assert "不是 Excel 工作簿" in docx.value.message
    with pytest.raises(UploadRefused, match="空文件"):
        detect_kind(b"  \n", "x.csv")


def test_size_limit_stops_reading_past_the_limit():
    stream = io.BytesIO(b"a" * (3 * 1024 * 1024))
    with pytest.raises(UploadTooLarge) as exc:
        read_limited(stream, limit=1024 * 1024)
    assert "太大" in exc.value.message and exc.value.status == 413
    assert stream.tell() < 2 * 1024 * 1024  # gave up soon after the limit, did not read everything


def test_gbk_csv_upload_is_read_with_row_numbers(app, demo):
    text = "单位代码,期间,户籍人口\n350581001001,2026,1200\n\n350581001002,2026,测试\n"
    with app.app_context(), tenant_context(demo["tenant_ids"]["shishi"]):
        stored = store_upload(io.BytesIO(text.encode("gbk")), "人口.csv")
        assert stored.kind == "csv" and stored.path.parent.name == "shishi"
        table = read_upload(stored.path)
        assert table.header == ["单位代码", "期间", "户籍人口"]
        assert table.rows == [(2, {"单位代码": "350581001001", "期间": "2026", "户籍人口": "1200"}),
                              (4, {"单位代码": "350581001002", "期间": "2026", "户籍人口": "测试"})]
        stored.path.unlink()


def test_stored_upload_is_found_only_by_its_own_tenant(app, demo):
    with app.app_context():
        with tenant_context(demo["tenant_ids"]["shishi"]):
            stored = store_upload(io.BytesIO(b"a,b\n1,2\n"), "x.csv")
            assert upload_path(stored.upload_id) == stored.path
            with pytest.raises(NotFound):
                upload_path("../guanling/" + stored.upload_id)
        with tenant_context(demo["tenant_ids"]["guanling"]), pytest.raises(NotFound):
            upload_path(stored.upload_id)
        stored.path.unlink()


def test_upload_of_50_mb_is_refused_413_in_chinese_and_nothing_stored(app, demo, client):
    login(client, "ss_admin")
    with app.app_context():
        root = upload_root()
    before = _files(root)
    big = io.BytesIO(b"x" * (50 * 1024 * 1024))
    resp = client.post("/documents/import/population", data={"file": (big, "大文件.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 413
    page = resp.get_data(as_text=True)
    assert "上传的文件太大" in page and "20 MB" in page
    assert _files(root) == before


def test_renamed_exe_upload_is_refused_in_chinese_and_nothing_stored(app, demo, client):
    login(client, "ss_admin")
    with app.app_context():
        root = upload_root()
    before = _files(root)
    resp = client.post("/documents/import/population", data={"file": (io.BytesIO(EXE), "人口.xlsx")},
                       content_type="multipart/form-data")
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert "不是表格文件" in page and "只接受" in page
    assert _files(root) == before


def test_a_gbk_file_of_rare_characters_is_refused_unless_its_encoding_is_stated(app, demo):
    """垵 and 厝 lie outside GBK's common zone: alone in a file they look like another encoding's bytes."""
    data = "单位代码,名称\n001,垵厝\n".encode("gbk")
    with app.app_context(), tenant_context(demo["tenant_ids"]["shishi"]):
        with pytest.raises(UploadRefused) as refused:
            store_upload(io.BytesIO(data), "村.csv")
        assert "另存为 UTF-8" in refused.value.message and "「村.csv」" in refused.value.message
        stored = store_upload(io.BytesIO(data), "村.csv", encoding="gbk")
        assert read_upload(stored.path).rows == [(2, {"单位代码": "001", "名称": "垵厝"})]
        assert stored.path.read_bytes().decode("utf-8").endswith("垵厝\n")  # stored as UTF-8 for the job
        stored.path.unlink()
        with pytest.raises(UploadRefused, match="不是 utf-8 编码"):
            store_upload(io.BytesIO(data), "村.csv", encoding="utf-8")
        with pytest.raises(UploadRefused, match="不支持的编码"):
            store_upload(io.BytesIO(data), "村.csv", encoding="ebcdic")
