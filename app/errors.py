"""Turns the data layer's refusals (and a refused CSRF token) into 400/403/404/422 answers in the user's language."""

from __future__ import annotations

from typing import Any

from flask import Flask, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import Forbidden

from app.core.errors import CountyDeskError
from app.core.idcard import IdNumberError
from app.extensions import db, get_appbuilder

FORBIDDEN = "您没有权限打开这个页面或做这个操作，如需要请联系县管理员"
NOT_FOUND = "页面或记录不存在（或不在本县），请检查地址或回到首页"
CSRF_REFUSED = "页面已过期或来源不明（CSRF 校验失败），请刷新页面后重试"


def _answer(message: str, status: int) -> Any:
    db.session.rollback()
    if request.path.startswith("/api/"):
        return jsonify({"message": message}), status
    if not hasattr(g, "user"):  # refused before FAB's before_request set the user the page's menu reads
        from flask_login import current_user

        g.user = current_user
    return render_template("countydesk/error.html", message=message, status=status,
                           base_template=get_appbuilder().base_template, appbuilder=get_appbuilder()), status


def install_error_handlers(app: Flask) -> None:
    @app.errorhandler(CountyDeskError)
    def _countydesk_error(exc: CountyDeskError) -> Any:
        return _answer(exc.message, exc.status)

    @app.errorhandler(IdNumberError)
    def _id_number_error(exc: IdNumberError) -> Any:
        return _answer(str(exc), 422)

    @app.errorhandler(CSRFError)
    def _csrf_refused(exc: CSRFError) -> Any:
        from flask_login import current_user

        if not hasattr(g, "user"):  # refused before FAB's before_request set the user the page's menu reads
            g.user = current_user
        return _answer(CSRF_REFUSED, 400)

    @app.errorhandler(403)
    def _forbidden(exc: Any) -> Any:
        own = getattr(exc, "description", None)
        return _answer(own if own and own != Forbidden.description else FORBIDDEN, 403)

    @app.errorhandler(404)
    def _not_found(exc: Any) -> Any:
        """A page or record that is not there (or is another county's): said in Chinese, never FAB's English."""
        from werkzeug.exceptions import NotFound

        own = getattr(exc, "description", None)
        return _answer(own if own and own != NotFound.description else NOT_FOUND, 404)

    @app.errorhandler(413)
    def _too_large(exc: Any) -> Any:
        from app.documents.uploads import too_large_message

        return _answer(too_large_message(), 413)
