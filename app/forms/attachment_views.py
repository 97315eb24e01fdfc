"""Downloading and uploading the files of attachment fields (declarations + glue).

Screens link a stored file at ``/form-attachments/<form code>/<field>/<uuid>.<ext>`` (what
``schemas.display`` builds from the value alone); the API serves the same file by record at
``/api/v1/forms/<code>/records/<id>/attachments/<field>`` and takes a new one there as multipart.
Both find the record through the tenant-scoped data layer (another county's: 404) and let town
clerks and village workers fetch files of their own units' records only. Logic lives in
``app.forms.attachments`` and ``app.forms.services``.
"""

from __future__ import annotations

from typing import Any

from flask import abort, request
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import BaseApi, protect
from flask_appbuilder.api import expose as api_expose
from flask_appbuilder.security.decorators import has_access, permission_name

from app.core.errors import NotFound
from app.core.registry import ViewSpec, declare_view
from app.extensions import db
from app.forms import attachments, services
from app.forms.api import _answered, record_json
from app.forms.attachments import IncomingFile
from app.forms.services import FormValidationError


class FormAttachmentView(BaseView):
    """The download behind an attachment link on the form screens."""

    route_base = "/form-attachments"
    default_view = "download"

    @expose("/<code>/<field>/<file_name>")
    @has_access
    def download(self, code: str, field: str, file_name: str) -> Any:
        try:
            _, meta = attachments.find_current(code, field, file_name)
            return attachments.file_response(meta)
        except NotFound:
            abort(404)


class FormAttachmentApi(BaseApi):
    """Errors and records answer exactly as on the record API (``api._answered``, ``api.record_json``),
    so a client handles both the same way."""

    resource_name = "forms"
    allow_browser_login = False  # /api/ is CSRF-exempt: a session cookie must not authenticate it
    openapi_spec_tag = "Forms"

    @staticmethod
    def _row_version(value: Any) -> Any:
        if value in (None, ""):
            raise FormValidationError({"row_version": ["必须带上读取记录时的 row_version"]})
        return value

    def _saved(self, record: Any) -> Any:
        db.session.commit()
        return self.response(200, result=record_json(record))

    @api_expose("/<code>/records/<int:rid>/attachments/<field>", methods=["GET"])
    @protect()
    @permission_name("get")
    @_answered
    def download(self, code: str, rid: int, field: str) -> Any:
        """The record's current file of an attachment field.
        ---
        get:
          summary: 下载表单记录的附件（文件名为上传时的原名）
          parameters:
          - {in: path, name: code, required: true, schema: {type: string}}
          - {in: path, name: rid, required: true, schema: {type: integer}}
          - {in: path, name: field, required: true, schema: {type: string}, description: 附件字段代码}
          responses:
            200:
              description: 文件
              content:
                application/octet-stream:
                  schema: {type: string, format: binary}
            404: {description: 记录或附件不存在，或不在您的辖区内}
        """
        record = services.get_record(code, rid)
        meta: Any = (record.data or {}).get(field)
        if not attachments.is_meta(meta):
            raise NotFound("这条记录的该字段没有附件")
        attachments.check_scope(record)
        return attachments.file_response(meta)

    @api_expose("/<code>/records/<int:rid>/attachments/<field>", methods=["POST"])
    @protect()
    @permission_name("post")
    @_answered
    def upload(self, code: str, rid: int, field: str) -> Any:
        """Upload (or replace) the file of an attachment field; the record is checked as on any save.
        ---
        post:
          summary: 上传或替换表单记录的附件
          description: >-
            只接受 PDF、JPG/PNG、Word（.docx）、Excel（.xlsx），按文件内容判断；
            大小上限为 COUNTYDESK_MAX_UPLOAD_MB。
          parameters:
          - {in: path, name: code, required: true, schema: {type: string}}
          - {in: path, name: rid, required: true, schema: {type: integer}}
          - {in: path, name: field, required: true, schema: {type: string}, description: 附件字段代码}
          requestBody:
            required: true
            content:
              multipart/form-data:
                schema:
                  type: object
                  required: [file, row_version]
                  properties:
                    file: {type: string, format: binary}
                    row_version: {type: integer, description: 读取记录时的 row_version}
          responses:
            200: {description: "已保存；data 中附件为 name、size、sha256、key、content_type、download_url"}
            404: {description: 记录不存在，或表单没有这个附件字段}
            409: {description: 保存冲突（他人已修改）}
            413: {description: 文件太大}
            422: {description: 文件类型不被接受、空文件，或记录其他内容有误}
        """
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise FormValidationError({field: ["请选择要上传的文件（multipart 字段 file）"]})
        return self._saved(attachments.attach(code, rid, field, IncomingFile.from_storage(upload),
                                              self._row_version(request.form.get("row_version"))))

    @api_expose("/<code>/records/<int:rid>/attachments/<field>", methods=["DELETE"])
    @protect()
    @permission_name("delete")
    @_answered
    def remove(self, code: str, rid: int, field: str) -> Any:
        """Clear an attachment field (refused when the field is required).
        ---
        delete:
          summary: 删除表单记录的附件
          parameters:
          - {in: path, name: code, required: true, schema: {type: string}}
          - {in: path, name: rid, required: true, schema: {type: integer}}
          - {in: path, name: field, required: true, schema: {type: string}}
          - {in: query, name: row_version, required: true, schema: {type: integer}}
          responses:
            200: {description: 已删除附件}
            404: {description: 记录不存在}
            409: {description: 保存冲突（他人已修改）}
            422: {description: 必填的附件不能删除}
        """
        row_version = self._row_version(request.args.get("row_version"))
        return self._saved(attachments.attach(code, rid, field, None, row_version))


declare_view(ViewSpec(FormAttachmentView, "FormAttachmentView", menu=False))
declare_view(ViewSpec(FormAttachmentApi, "FormAttachmentApi", menu=False,
                      writers=("county_admin", "town_clerk", "village_worker")))
