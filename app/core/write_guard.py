"""The one read/write path of core screens and APIs (FAB's datamodel), made to refuse instead of failing.

Why here: FAB's ``add`` lets an IntegrityError escape (API: 500; screen: the raw database text in a
flash), its ``edit`` answers the API with "Database exception occurred: …" (the raw text again), and a
huge id or page number overflows the database driver (SQLite: OverflowError; PostgreSQL: DataError).
Each becomes a ``CountyDeskError`` with a Chinese message naming the field, raised after a rollback.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask_appbuilder.exceptions import DatabaseException
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from app.core.errors import CountyDeskError, NotFound

INT8_MAX = 2**63 - 1
_GUARDED = "_countydesk_guarded"


class DuplicateValue(CountyDeskError):
    status = 409


class InvalidValue(CountyDeskError):
    status = 422


class PageOutOfRange(NotFound):
    pass


def _cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None and not isinstance(exc, IntegrityError | DataError):
        exc = exc.__cause__
    return exc


def _unique_columns(model: type) -> dict[str, list[str]]:
    """Each unique constraint's (or unique index's) name → its columns other than ``tenant_id``."""
    table: Any = sa.inspect(model).local_table
    found: dict[str, list[str]] = {}
    items = [*(c for c in table.constraints if isinstance(c, sa.UniqueConstraint)),
             *(i for i in table.indexes if i.unique)]
    for item in items:
        names = [c.name for c in item.columns if c.name != "tenant_id"]
        if names:
            found[str(item.name or "_".join(names))] = names
    for column in table.columns:
        if column.unique:
            found.setdefault(f"{table.name}_{column.name}_key", [column.name])
    return found


def refusal_of(exc: BaseException, model: type, labels: dict[str, str]) -> CountyDeskError:
    """The Chinese refusal for a database error: which field repeats, or which value is out of range."""
    cause = _cause(exc)
    text = str(getattr(cause, "orig", cause))
    if isinstance(cause, IntegrityError):
        for name, columns in _unique_columns(model).items():
            listed = re.search(r"UNIQUE constraint failed: ([\w., ]+)", text)
            hit = name in text or (listed and {c.split(".")[-1].strip() for c in listed.group(1).split(",")}
                                   - {"tenant_id"} == set(columns))
            if hit:
                fields = "、".join(f"「{labels.get(c) or labels.get(c.removesuffix('_id'), c)}」" for c in columns)
                return DuplicateValue(f"{fields}与已有记录重复（同一县内不能重复），请核对后重试")
        return InvalidValue("数据不完整，或引用的记录不存在，请检查必填项和所选的单位、人员后重试")
    return InvalidValue("有数值超出允许范围（太大或太长），请检查后重试")


def _out_of_range(pk: Any) -> bool:
    try:
        number = int(pk)
    except (TypeError, ValueError):
        return False
    return not -INT8_MAX <= number <= INT8_MAX


def guard_datamodel(datamodel: Any, labels: Callable[[], dict[str, str]]) -> None:
    """Wrap one view's datamodel instance (idempotent: a datamodel shared by two views is wrapped once)."""
    if getattr(datamodel, _GUARDED, False):
        return
    model = datamodel.obj
    original_get, original_query = datamodel.get, datamodel.query

    def get(pk: Any, *args: Any, **kwargs: Any) -> Any:
        if _out_of_range(pk):
            return None  # FAB then answers 404, as for any id not in the county
        try:
            return original_get(pk, *args, **kwargs)
        except (OverflowError, DataError):
            datamodel.session.rollback()
            return None

    def query(*args: Any, **kwargs: Any) -> Any:
        page, page_size = kwargs.get("page"), kwargs.get("page_size")
        if page is not None and (page < 0 or (page_size or 0) * page >= INT8_MAX):
            raise PageOutOfRange("没有这一页，请回到第一页")
        try:
            return original_query(*args, **kwargs)
        except (OverflowError, DataError) as exc:
            datamodel.session.rollback()
            raise InvalidValue("查询条件中的数字超出范围，请修改后重试") from exc

    def writing(original: Callable[..., Any]) -> Callable[..., Any]:
        def write(item: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return original(item, *args, **kwargs)
            except (SQLAlchemyError, DatabaseException, OverflowError) as exc:
                datamodel.session.rollback()
                if isinstance(exc, OverflowError):
                    raise InvalidValue("有数值超出允许范围（太大），请检查后重试") from exc
                raise refusal_of(exc, model, labels()) from exc
        return write

    datamodel.get, datamodel.query = get, query
    datamodel.add, datamodel.edit, datamodel.delete = (writing(datamodel.add), writing(datamodel.edit),
                                                        writing(datamodel.delete))
    setattr(datamodel, _GUARDED, True)
