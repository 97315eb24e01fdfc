"""Attachment fields of form records: the uploaded file is stored, the record keeps its description.

Why the record keeps metadata and not the file: records are JSON rows that lists, exports, the
audit trail and the API copy around; a file belongs on disk, under the county's upload folder
(``<uploads>/<tenant slug>/forms/<form code>/<uuid>.<ext>``), named by us. The record's value is
``{name, size, sha256, key, content_type}``: the user's file name (shown, and sent back as the
download's name, never used as a path), the stored key, and enough to check the file.

How a value reaches the service: the screen or the upload endpoint puts an :class:`IncomingFile`
in the payload; ``None`` clears the field; leaving the field out (or sending back the stored value)
keeps the file. Anything else -- a file name typed into the JSON, a forged key -- is refused: an
attachment can only be set by uploading. Files are checked (size, type by content, not empty) with
``app.documents.uploads`` before anything is saved, and written only once the whole record is valid.

Files follow the transaction, not the request: a file replaced or cleared by a save, or belonging
to a deleted record, is removed from disk only once that change is committed (a save rolled back
still points at the old file), and never while another record still holds the same key; a file
written for a save that is then rolled back (a conflict found at flush, a failed commit) is
removed again, so nothing is left that no record names. The audit trail keeps the old file's
name and sha256; only a record's current file is served.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, SessionTransaction

from app.core.errors import CountyDeskError, NotFound
from app.forms.definition import FormDef

META_KEYS = ("name", "size", "sha256", "key", "content_type")
NAME_MAX = 200
_KEY = re.compile(r"^forms/[A-Za-z][A-Za-z0-9_]{0,31}/[0-9a-f]{32}\.(?:pdf|jpg|png|docx|xlsx)$")
_FILE = re.compile(r"^[0-9a-f]{32}\.(?:pdf|jpg|png|docx|xlsx)$")


class AttachmentRefused(CountyDeskError):
    status = 422


@dataclass(frozen=True)
class IncomingFile:
    """A file posted for an attachment field (a screen's file input or the upload endpoint)."""

    filename: str
    stream: IO[bytes]

    @classmethod
    def from_storage(cls, storage: Any) -> IncomingFile:
        """From Werkzeug's ``FileStorage`` (what Flask gives for a multipart part)."""
        return cls(str(storage.filename or ""), storage.stream)


@dataclass
class _Prepared:
    meta: dict[str, Any]
    data: bytes


def is_meta(value: Any) -> bool:
    """Whether a stored value describes an uploaded file (older records may hold a bare file name)."""
    return (isinstance(value, Mapping) and all(k in value for k in META_KEYS)
            and isinstance(value["name"], str) and isinstance(value["key"], str) and bool(_KEY.match(value["key"]))
            and isinstance(value["size"], int) and isinstance(value["sha256"], str))


def clean_meta(value: Any) -> Any:
    """The stored part of a value sent back by a client (an API reply adds ``download_url``)."""
    if isinstance(value, Mapping) and all(k in value for k in META_KEYS):
        return {k: value[k] for k in META_KEYS}
    return value


def safe_name(filename: str) -> str:
    """The file name as shown and offered for download: no folders, no control characters, not too long."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().strip(".")
    if len(name) > NAME_MAX:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:NAME_MAX - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:NAME_MAX]
    return name or "附件"


def _prepare(form: FormDef, incoming: IncomingFile) -> _Prepared:
    from app.documents.uploads import (
        ATTACHMENT_TYPES,
        UploadRefused,
        detect_attachment_kind,
        new_file_key,
        read_limited,
    )

    name = safe_name(incoming.filename)
    try:
        data = read_limited(incoming.stream)
        kind = detect_attachment_kind(data, name)
    except UploadRefused as exc:
        raise AttachmentRefused(exc.message) from None
    meta = {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "key": new_file_key(f"forms/{form.code}", kind), "content_type": ATTACHMENT_TYPES[kind]}
    return _Prepared(meta, data)


def take_uploads(form: FormDef, raw: MutableMapping[str, Any], stored: Mapping[str, Any],
                 errors: dict[str, list[str]]) -> list[_Prepared]:
    """Check the attachment fields of a payload in place: uploads become their metadata (to write later).

    ``raw`` is the payload merged over the stored values; a refused file leaves the stored value
    and puts a Chinese message in ``errors`` (nothing is saved, the rest of the input is checked too).
    """
    install()
    prepared: list[_Prepared] = []
    for f in form.fields:
        if f.type != "attachment" or f.code not in raw:
            continue
        value = raw[f.code]
        if isinstance(value, IncomingFile):
            try:
                item = _prepare(form, value)
            except AttachmentRefused as exc:
                errors.setdefault(f.code, []).append(exc.message)
                raw[f.code] = stored.get(f.code)
                continue
            prepared.append(item)
            raw[f.code] = item.meta
        elif value is not None and clean_meta(value) != stored.get(f.code):
            where = f"POST /api/v1/forms/{form.code}/records/<id>/attachments/{f.code}"
            errors.setdefault(f.code, []).append(f"附件只能上传文件，不能直接填写（上传接口：{where}）")
            raw[f.code] = stored.get(f.code)
        else:
            raw[f.code] = clean_meta(value)
    return prepared


def write_files(prepared: list[_Prepared]) -> list[Path]:
    """Write checked uploads at their keys under the current tenant's folder.

    The files are kept only if the transaction commits (see :func:`install`).
    """
    from app.documents.uploads import save_tenant_file
    from app.extensions import db

    install()
    written = [save_tenant_file(item.meta["key"], item.data) for item in prepared]
    db.session.info.setdefault(WRITTEN_KEY, []).extend(written)
    return written


def remove_files(paths: list[Path]) -> None:
    """Undo ``write_files`` when the record could not be saved after all."""
    for path in paths:
        path.unlink(missing_ok=True)


# -- files follow the transaction -------------------------------------------------------------------

WRITTEN_KEY = "countydesk_attachments_written"
"""Session info: files written in the open transaction (removed unless it commits)."""
DROPPED_KEY = "countydesk_attachments_dropped"
"""Session info: (tenant id, form code, field, key, path) of files no longer named by their record."""
GONE_KEY = "countydesk_attachments_gone"
"""Session info: files to remove once the open transaction commits."""


def _keys(data: Any) -> dict[str, str]:
    """Field code → stored key of every file a record's data names."""
    return {code: str(value["key"]) for code, value in (data or {}).items() if is_meta(value)} \
        if isinstance(data, Mapping) else {}


def _old_data(obj: Any) -> Any:
    hist = inspect(obj).attrs.data.history
    if hist.deleted:
        return hist.deleted[0]
    return hist.unchanged[0] if hist.unchanged else None


def _tenant_folder(session: Session, tenant_id: int | None) -> Path | None:
    from app.core.models import Tenant
    from app.documents.uploads import upload_root

    tenant = session.get(Tenant, tenant_id) if tenant_id is not None else None
    return upload_root() / str(tenant.slug) if tenant is not None else None


def _before_flush(session: Session, flush_context: Any, instances: Any) -> None:
    """Note the files that changed or deleted records stop naming (their old data is gone after the flush)."""
    from app.forms.models import FormRecord

    dropped: list[tuple[int | None, str, str, str, Path]] = session.info.setdefault(DROPPED_KEY, [])
    deleted = [obj for obj in session.deleted if isinstance(obj, FormRecord)]
    with session.no_autoflush:
        for obj in [*deleted, *(o for o in session.dirty if isinstance(o, FormRecord))]:
            if obj in deleted:  # its stored files, and any written for it in this transaction
                gone = {*_keys(_old_data(obj)).items(), *_keys(obj.data).items()}
            elif inspect(obj).attrs.data.history.has_changes():
                new = set(_keys(obj.data).values())
                gone = {(field, key) for field, key in _keys(_old_data(obj)).items() if key not in new}
            else:
                continue
            folder = _tenant_folder(session, obj.tenant_id) if gone else None
            if folder is not None:
                dropped.extend((obj.tenant_id, obj.form_code, field, key, folder / key) for field, key in gone)


def _after_flush(session: Session, flush_context: Any) -> None:
    """Of the noted files, those no record names any more are removed at commit."""
    from app.forms.models import FormRecord

    dropped = session.info.pop(DROPPED_KEY, [])
    if not dropped:
        return
    t = FormRecord.__table__
    gone: list[Path] = session.info.setdefault(GONE_KEY, [])
    for tenant_id, code, field, key, path in dropped:
        still = session.connection().execute(
            select(t.c.id).where(t.c.tenant_id == tenant_id, t.c.form_code == code,
                                 t.c.data[field]["key"].as_string() == key).limit(1)).first()
        if still is None:
            gone.append(path)


def _after_commit(session: Session) -> None:
    session.info.pop(WRITTEN_KEY, None)  # committed: the new files are the records' files now
    remove_files(session.info.pop(GONE_KEY, []))


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    """Not committed (rolled back, or the session closed): the old files stay, the new ones go."""
    if transaction.parent is not None or transaction.nested:
        return
    session.info.pop(DROPPED_KEY, None)
    session.info.pop(GONE_KEY, None)
    remove_files(session.info.pop(WRITTEN_KEY, []))


_LISTENERS = (("before_flush", _before_flush), ("after_flush", _after_flush), ("after_commit", _after_commit),
              ("after_transaction_end", _after_transaction_end))


def install() -> None:
    """Tie attachment files to the transaction of every Session (idempotent; done on first use)."""
    for name, fn in _LISTENERS:
        if not event.contains(Session, name, fn):
            event.listen(Session, name, fn)


# -- serving -----------------------------------------------------------------------------------------


def find_current(code: str, field: str, file_name: str) -> tuple[Any, dict[str, Any]]:
    """The current tenant's record whose ``field`` holds the stored file ``file_name`` (``<uuid>.<ext>``).

    Only a record's current file is found: a replaced one, another tenant's, or a made-up name is not.
    A user with a capture scope (town clerk, village worker) finds only records of their own units.
    """
    from app.extensions import db
    from app.forms.models import FormRecord

    if not _FILE.match(file_name or "") or not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", field or ""):
        raise NotFound("附件不存在")
    key = f"forms/{code}/{file_name}"
    record = db.session.scalars(select(FormRecord).where(
        FormRecord.form_code == code, FormRecord.data[field]["key"].as_string() == key).limit(1)).first()
    meta: Any = (record.data or {}).get(field) if record is not None else None
    if record is None or not is_meta(meta) or meta["key"] != key:
        raise NotFound("附件不存在，或已被替换、删除")
    check_scope(record)
    return record, dict(meta)


def check_scope(record: Any) -> None:
    """Town clerks and village workers download attachments of their own units' records only."""
    from app.core.tenancy import current_scope

    scope = current_scope()
    capture = scope.capture_path if scope else None
    if capture is None:
        return
    path = record.org_unit.path if record.org_unit is not None else None
    if path is None or not path.startswith(capture):
        raise NotFound("附件不存在，或不在您的辖区内")


def file_response(meta: Mapping[str, Any]) -> Any:
    """The stored file as a download named by its original (UTF-8, RFC 5987) name; never shown inline."""
    from flask import send_file

    from app.core.xlsx_export import content_disposition
    from app.documents.uploads import tenant_file_path

    path = tenant_file_path(str(meta["key"]))
    response = send_file(path, mimetype=str(meta.get("content_type") or "application/octet-stream"),
                         as_attachment=True, download_name=str(meta["name"]), etag=str(meta.get("sha256") or True))
    response.headers["Content-Disposition"] = content_disposition(str(meta["name"]))
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def screen_url(field: str, meta: Mapping[str, Any]) -> str | None:
    """Where a screen downloads a stored file (None outside a request, or for an old bare file name)."""
    from flask import has_request_context, url_for

    if not is_meta(meta) or not has_request_context():
        return None
    _, code, file_name = str(meta["key"]).split("/")
    try:
        return url_for("FormAttachmentView.download", code=code, field=field, file_name=file_name)
    except Exception:  # noqa: BLE001  (the download view is not registered in this app)
        return None


def api_data(record: Any) -> dict[str, Any]:
    """A record's ``data`` for the API: each stored file's metadata plus its ``download_url``."""
    from flask import has_request_context, url_for

    out: dict[str, Any] = {}
    for code, value in (record.data or {}).items():
        if is_meta(value) and has_request_context():
            value = {**value, "download_url": url_for("FormAttachmentApi.download", code=record.form_code,
                                                      rid=record.id, field=code)}
        out[code] = value
    return out


def attach(code: str, rid: int, field: str, incoming: IncomingFile | None, row_version: Any) -> Any:
    """Set (or, with ``None``, clear) one attachment of a record: the whole record is checked as on save."""
    from app.forms import services

    live = services.get_form(code)
    f = live.form.field_index.get(field)
    if f is None or f.type != "attachment":
        raise NotFound(f"「{live.form.name}」没有附件字段「{field}」")
    return services.update_record(code, rid, {"data": {field: incoming}}, row_version)


__all__ = ["META_KEYS", "AttachmentRefused", "IncomingFile", "api_data", "attach", "check_scope", "clean_meta",
           "file_response", "find_current", "install", "is_meta", "remove_files", "safe_name", "screen_url",
           "take_uploads", "write_files"]
