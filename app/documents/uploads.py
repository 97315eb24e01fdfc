"""Uploaded files: size limit, type by content (not by name), stored under the tenant's folder.

A file is refused before anything parses it when it is too big or is not of an accepted kind: the
name means nothing (a renamed .exe or an old binary .xls is recognised by its first bytes). Import
files (xlsx/csv) go to ``<uploads>/<tenant_slug>/<uuid>.<ext>`` so a background job of that county,
and only of that county, finds them again. Attachments of form records (PDF, JPG/PNG, docx, xlsx:
documents a county files with a record; nothing a browser would run or render as a page) go to
``<uploads>/<tenant_slug>/<folder>/<uuid>.<ext>`` -- the user's file name is never part of a path.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from flask import current_app, has_app_context

from app.core.encodings import decode_text
from app.core.errors import CountyDeskError, NotFound
from app.tenantio.tables import Table, check_xlsx_archive, load_table

DEFAULT_MAX_UPLOAD_MB = 20
ACCEPTED = "Excel 工作簿（.xlsx）或 CSV（UTF-8 或 GBK 编码）"
ENCODING_CHOICES = (("", "CSV 编码：自动识别（UTF-8，或只含常用汉字的 GBK）"), ("utf-8", "CSV 编码：UTF-8"),
                    ("gbk", "CSV 编码：GBK（含生僻字的 GBK 文件请选此项）"))
"""What an upload form offers for a CSV's encoding."""
CHUNK = 1 << 16
ATTACHMENT_TYPES = {"pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png",
                    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
"""Accepted attachment kinds (by content) and the content type they are served with."""
ATTACHMENT_ACCEPTED = "PDF、JPG/PNG 图片、Word 文档（.docx）或 Excel 工作簿（.xlsx）"
ATTACHMENT_SUFFIXES = ".pdf,.jpg,.jpeg,.png,.docx,.xlsx"
"""For the file input's ``accept`` (a hint to the browser; the content decides)."""
_STORED_KEY = re.compile(r"^(?:[A-Za-z][A-Za-z0-9_]{0,31}/){1,3}[0-9a-f]{32}\.(?:pdf|jpg|png|docx|xlsx)$")


class UploadRefused(CountyDeskError):
    status = 422


class UploadTooLarge(UploadRefused):
    status = 413


@dataclass(frozen=True)
class StoredUpload:
    path: Path
    kind: str
    """``xlsx`` or ``csv``."""
    original_name: str
    size: int

    @property
    def upload_id(self) -> str:
        return self.path.name


def max_upload_bytes() -> int:
    mb = current_app.config.get("COUNTYDESK_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB) if has_app_context() else None
    return int(float(mb or DEFAULT_MAX_UPLOAD_MB) * 1024 * 1024)


def too_large_message(limit: int | None = None) -> str:
    limit = limit if limit is not None else max_upload_bytes()
    return f"上传的文件太大：最大允许 {limit / 1024 / 1024:g} MB，请拆分后分批上传"


def read_limited(stream: IO[bytes], limit: int | None = None) -> bytes:
    """The whole stream, or UploadTooLarge as soon as it passes the limit (never reads far beyond)."""
    limit = limit if limit is not None else max_upload_bytes()
    buffer = io.BytesIO()
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return buffer.getvalue()
        buffer.write(chunk)
        if buffer.tell() > limit:
            raise UploadTooLarge(too_large_message(limit))


def _zip_members(data: bytes, broken: str) -> set[str]:
    """The member names of a zip-based Office file (xlsx, docx); ``broken`` is the refusal if it is not one."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return set(archive.namelist())
    except zipfile.BadZipFile as exc:
        raise UploadRefused(broken) from exc


def detect_kind(data: bytes, name: str = "", encoding: str | None = None) -> str:
    """``xlsx`` or ``csv`` from the bytes themselves; anything else is refused in Chinese.

    ``encoding``: what the user said the CSV is in (``utf-8``/``gbk``); unsaid, UTF-8 or plausible GBK.
    """
    label = f"「{name}」" if name else "上传的文件"
    if not data.strip():
        raise UploadRefused(f"{label}是空文件。只接受 {ACCEPTED}")
    if data[:4] == b"PK\x03\x04":
        names = _zip_members(data, f"{label}是损坏的压缩文件，不是有效的 xlsx。只接受 {ACCEPTED}")
        if "[Content_Types].xml" in names and "xl/workbook.xml" in names:
            try:  # an archive that would inflate past the limits is refused before anything opens it
                check_xlsx_archive(io.BytesIO(data))
            except ValueError as exc:
                raise UploadRefused(f"{label}：{exc}") from None
            return "xlsx"
        raise UploadRefused(f"{label}是压缩包（zip/docx 等），不是 Excel 工作簿。只接受 {ACCEPTED}")
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise UploadRefused(f"{label}是旧版 Excel（.xls）或其他 Office 二进制文件，请在 Excel 中另存为 .xlsx 或 CSV。"
                            f"只接受 {ACCEPTED}")
    if data[:2] == b"MZ" or data[:4] in (b"\x7fELF", b"%PDF") or b"\x00" in data[:8192]:
        raise UploadRefused(f"{label}不是表格文件（看起来是程序、PDF 或其他二进制文件）。只接受 {ACCEPTED}")
    try:
        decode_text(data, encoding)
    except ValueError as exc:
        raise UploadRefused(f"{label}：{exc}") from None
    return "csv"


def detect_attachment_kind(data: bytes, name: str = "") -> str:
    """``pdf``, ``jpg``, ``png``, ``docx`` or ``xlsx`` from the bytes; anything else is refused in Chinese."""
    label = f"「{name}」" if name else "上传的文件"
    if not data:
        raise UploadRefused(f"{label}是空文件，请重新选择文件")
    if data[:5] == b"%PDF-":
        return "pdf"
    if data[:3] == b"\xff\xd8\xff":
        return "jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"PK\x03\x04":
        names = _zip_members(data, f"{label}是损坏的压缩文件。只接受 {ATTACHMENT_ACCEPTED}")
        if "[Content_Types].xml" in names and "word/document.xml" in names:
            return "docx"
        if "[Content_Types].xml" in names and "xl/workbook.xml" in names:
            return "xlsx"
        raise UploadRefused(f"{label}是压缩包，不是 Word 或 Excel 文件。只接受 {ATTACHMENT_ACCEPTED}")
    raise UploadRefused(f"{label}的类型不被接受（按文件内容判断，与扩展名无关）。只接受 {ATTACHMENT_ACCEPTED}")


def new_file_key(folder: str, ext: str) -> str:
    """A fresh stored key ``folder/<uuid>.<ext>``; ``folder`` is built from codes (``forms/<form code>``),
    never from a user's file name."""
    key = f"{folder}/{uuid.uuid4().hex}.{ext}"
    if not _STORED_KEY.match(key):
        raise UploadRefused("附件的存放位置无效")
    return key


def save_tenant_file(key: str, data: bytes) -> Path:
    """Write bytes at a key from ``new_file_key`` under the current tenant's folder."""
    if not _STORED_KEY.match(key):
        raise UploadRefused("附件的存放位置无效")
    path = upload_root() / _tenant_slug() / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def tenant_file_path(key: str) -> Path:
    """The current tenant's stored file of a key from ``save_tenant_file`` (another tenant's never resolves)."""
    if not isinstance(key, str) or not _STORED_KEY.match(key):
        raise NotFound("文件不存在")
    path = upload_root() / _tenant_slug() / key
    if not path.is_file():
        raise NotFound("文件不存在")
    return path


def upload_root() -> Path:
    configured = current_app.config.get("COUNTYDESK_UPLOAD_DIR")
    if configured:
        return Path(configured)
    return Path(current_app.config["UPLOAD_FOLDER"]).parent / "uploads"


def _tenant_slug() -> str:
    from app.core.models import Tenant
    from app.core.tenancy import current_tenant_id
    from app.extensions import db

    tenant_id = current_tenant_id()
    tenant = db.session.get(Tenant, tenant_id) if tenant_id is not None else None
    if tenant is None:
        raise UploadRefused("没有选定县（区），不能上传文件")
    return str(tenant.slug)


def store_upload(stream: IO[bytes], original_name: str = "", encoding: str | None = None) -> StoredUpload:
    """Check size and type, then write the file under the current tenant's upload folder.

    A CSV in a stated encoding is stored as UTF-8: the job that reads it later needs no one's word for it.
    """
    data = read_limited(stream)
    kind = detect_kind(data, original_name, encoding)
    if kind == "csv" and encoding:
        data = decode_text(data, encoding).encode("utf-8")
    folder = upload_root() / _tenant_slug()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.{kind}"
    path.write_bytes(data)
    return StoredUpload(path, kind, original_name, len(data))


def upload_path(upload_id: str, root: str | Path | None = None) -> Path:
    """The stored file of the current tenant by its id (``<uuid>.<ext>``); other tenants' are not found.

    ``root`` is the upload folder of the app that stored the file (a job passes it along, so a
    worker configured differently still finds it); the tenant folder below it is always the job's.
    """
    name = Path(upload_id).name
    stem, _, ext = name.partition(".")
    try:
        valid = name == upload_id and uuid.UUID(hex=stem).hex == stem
    except ValueError:
        valid = False
    if not valid:
        raise NotFound("上传的文件不存在")
    path = Path(root or upload_root()) / _tenant_slug() / name
    if ext not in ("xlsx", "csv") or not path.is_file():
        raise NotFound("上传的文件不存在")
    return path


def read_upload(path: Path, encoding: str | None = None) -> Table:
    """Header and rows (values as strings, with the row number the user sees in Excel)."""
    try:
        return load_table(path, encoding)
    except (OSError, ValueError, KeyError, csv.Error) as exc:
        raise UploadRefused(f"无法读取文件：{exc}") from exc
