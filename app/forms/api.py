"""REST API of the generic forms: ``/api/v1/forms/<code>`` (definition) and ``…/records[/<id>]``.

JWT or browser login, like the model APIs. Validation errors answer 422 with the Chinese
per-field messages, a stale ``row_version`` 409 with both versions, another tenant's id 404.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import request
from flask_appbuilder.api import BaseApi, expose, protect
from flask_appbuilder.security.decorators import permission_name
from marshmallow import Schema, fields

from app.core.errors import CountyDeskError
from app.core.locking import EditConflict
from app.core.registry import ViewSpec, declare_view
from app.extensions import db
from app.forms import attachments, services
from app.forms.models import FormRecord
from app.forms.services import FormValidationError


class FormRecordSchema(Schema):
    """A record of any form: its place, status and the county's fields in ``data``."""

    id = fields.Integer()
    form_code = fields.String()
    form_version = fields.Integer()
    org_unit_id = fields.Integer(allow_none=True)
    person_id = fields.Integer(allow_none=True)
    period = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "draft（草稿）或 submitted（已提交）"})
    row_version = fields.Integer(metadata={"description": "乐观锁版本号，修改时原样带回"})
    data = fields.Dict(metadata={"description": "表单字段：字段代码 → 值（字段见 GET /api/v1/forms/<code>）"})


class FormRecordInputSchema(Schema):
    org_unit_id = fields.Integer(allow_none=True, metadata={"description": "填报单位（按单位填报的表单）"})
    person_id = fields.Integer(allow_none=True, metadata={"description": "人员（按人员填报的表单）"})
    period = fields.String(allow_none=True, metadata={"description": "期间：2025-03 / 2025-Q1 / 2025"})
    row_version = fields.Integer(metadata={"description": "修改（PUT）时必填"})
    data = fields.Dict(required=True)


class FormErrorSchema(Schema):
    message = fields.String()
    errors = fields.Dict(metadata={"description": "字段代码（或 _form）→ 中文错误信息列表"})


def record_json(record: FormRecord) -> dict[str, Any]:
    return {"id": record.id, "form_code": record.form_code, "form_version": record.form_version,
            "org_unit_id": record.org_unit_id, "person_id": record.person_id, "period": record.period,
            "status": record.status, "row_version": record.row_version, "data": attachments.api_data(record)}


def _answered(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """The service's errors as answers, the same for every endpoint: 404, 422 with the per-field messages,
    409 with both versions, otherwise the error's own status; nothing half-written stays in the session.
    The attachment API uses it too, so every form endpoint answers errors alike."""

    @functools.wraps(endpoint)
    def answer(self: BaseApi, *args: Any, **kwargs: Any) -> Any:
        try:
            return endpoint(self, *args, **kwargs)
        except FormValidationError as exc:
            db.session.rollback()
            return self.response(422, message=exc.message, errors=exc.errors)
        except EditConflict as exc:
            db.session.rollback()
            return self.response(409, message=exc.message, current_version=exc.current_version,
                                 submitted_version=exc.submitted_version, theirs=exc.theirs, yours=exc.mine)
        except CountyDeskError as exc:  # NotFound (404), ScopeDenied and PeriodLocked (403), …
            db.session.rollback()
            return self.response(exc.status, message=exc.message)

    return answer


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else None


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise FormValidationError({"_form": ["请求体应为 JSON 对象"]})
    return body


def _required_version(value: Any, how: str) -> Any:
    """A change or delete must name the version it was read at, so it never overwrites a colleague's work."""
    if value in (None, ""):
        raise FormValidationError({"row_version": [f"{how}时必须带上读取时的 row_version"]})
    return value


class FormRecordApi(BaseApi):
    resource_name = "forms"
    allow_browser_login = False  # /api/ is CSRF-exempt: a session cookie must not authenticate it
    openapi_spec_tag = "Forms"
    openapi_spec_component_schemas = (FormRecordSchema, FormRecordInputSchema, FormErrorSchema)

    def _saved(self, status: int, **body: Any) -> Any:
        db.session.commit()
        return self.response(status, **body)

    @expose("/<code>", methods=["GET"])
    @protect()
    @permission_name("get")
    @_answered
    def definition(self, code: str) -> Any:
        """The current definition of a form.
        ---
        get:
          summary: 表单定义（字段、类型、选项、校验规则）
          parameters:
          - {in: path, name: code, required: true, schema: {type: string}}
          responses:
            200: {description: 表单定义}
            404: {description: 本县没有这个表单}
        """
        live = services.get_form(code)
        return self.response(200, version=live.version, result=live.form.to_dict())

    @expose("/<code>/records", methods=["GET"])
    @protect()
    @permission_name("get")
    @_answered
    def get_records(self, code: str) -> Any:
        """A page of records, newest first (keyset: ``after`` = the last id of the previous page).
        ---
        get:
          summary: 表单记录列表
          parameters:
          - {in: path, name: code, required: true, schema: {type: string}}
          - {in: query, name: after, schema: {type: integer}}
          - {in: query, name: org_unit, schema: {type: integer}, description: 单位（含下级）}
          - {in: query, name: period, schema: {type: string}}
          - {in: query, name: status, schema: {type: string}}
          - {in: query, name: page_size, schema: {type: integer, maximum: 500}}
          responses:
            200:
              description: 记录
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      count: {type: string, description: 总数（超过10000时为 "10000+"）}
                      next_after: {type: integer}
                      result: {type: array, items: {$ref: '#/components/schemas/FormRecordSchema'}}
        """
        services.get_form(code)
        page = services.list_records(code, after=_int_arg("after"), org_unit_id=_int_arg("org_unit"),
                                     period=request.args.get("period") or None,
                                     status=request.args.get("status") or None, limit=_int_arg("page_size") or 50)
        return self.response(200, count=page.total_text, next_after=page.next_after,
                             result=[record_json(r) for r in page.records])

    @expose("/<code>/records", methods=["POST"])
    @protect()
    @permission_name("post")
    @_answered
    def post_record(self, code: str) -> Any:
        """Add a record.
        ---
        post:
          summary: 新增表单记录
          parameters:
          - {in: path, name: code, required: true, schema: {type: string}}
          requestBody:
            content:
              application/json:
                schema: {$ref: '#/components/schemas/FormRecordInputSchema'}
          responses:
            201: {description: 已保存}
            403: {description: 无权（辖区以外、只读用户、期间已锁定）}
            422:
              description: 填写有误（逐字段中文说明）
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/FormErrorSchema'}
        """
        record = services.create_record(code, _body())
        return self._saved(201, id=record.id, result=record_json(record))

    @expose("/<code>/records/<int:rid>", methods=["GET"])
    @protect()
    @permission_name("get")
    @_answered
    def get_record(self, code: str, rid: int) -> Any:
        """One record.
        ---
        get:
          summary: 表单记录
          parameters:
          - {in: path, name: code, required: true, schema: {type: string}}
          - {in: path, name: rid, required: true, schema: {type: integer}}
          responses:
            200:
              description: 记录
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      result: {$ref: '#/components/schemas/FormRecordSchema'}
            404: {description: 记录不存在}
        """
        return self.response(200, result=record_json(services.get_record(code, rid)))

    @expose("/<code>/records/<int:rid>", methods=["PUT"])
    @protect()
    @permission_name("put")
    @_answered
    def put_record(self, code: str, rid: int) -> Any:
        """Change a record; ``row_version`` is the version it was read at.
        ---
        put:
          summary: 修改表单记录（只需带修改的字段和 row_version）
          parameters:
          - {in: path, name: code, required: true, schema: {type: string}}
          - {in: path, name: rid, required: true, schema: {type: integer}}
          requestBody:
            content:
              application/json:
                schema: {$ref: '#/components/schemas/FormRecordInputSchema'}
          responses:
            200: {description: 已保存}
            404: {description: 记录不存在}
            409: {description: 保存冲突（他人已修改），带双方内容}
            422: {description: 填写有误}
        """
        body = _body()
        services.get_record(code, rid)
        record = services.update_record(code, rid, body, _required_version(body.get("row_version"), "修改"))
        return self._saved(200, result=record_json(record))

    @expose("/<code>/records/<int:rid>", methods=["DELETE"])
    @protect()
    @permission_name("delete")
    @_answered
    def delete_record(self, code: str, rid: int) -> Any:
        """Delete a record read at ``?row_version=`` (required: a record changed since is kept, 409).
        ---
        delete:
          summary: 删除表单记录（必须带 ?row_version=，即读取时的版本号）
          parameters:
          - {in: path, name: code, required: true, schema: {type: string}}
          - {in: path, name: rid, required: true, schema: {type: integer}}
          - {in: query, name: row_version, required: true, schema: {type: integer}, description: 读取时的记录版本号}
          responses:
            200: {description: 已删除}
            404: {description: 记录不存在}
            409: {description: 删除冲突（读取后已被他人修改），记录未删除，带当前内容}
            422: {description: 缺少 row_version}
        """
        services.get_record(code, rid)
        services.delete_record(code, rid, _required_version(request.args.get("row_version"), "删除"))
        return self._saved(200, message="已删除")


declare_view(ViewSpec(FormRecordApi, "FormRecordApi", menu=False, writers=("county_admin", "town_clerk",
                                                                          "village_worker")))
