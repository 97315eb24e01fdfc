"""Turns the data layer's refusals (and a refused CSRF token) into 400/403/404/422 answers in the user's language."""

from __future__ import annotations

from typing import Any

from flask import Flask, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError

from app.core.errors import CountyDeskError
from app.core.idcard import IdNumberError
from app.extensions import db, get_appbuilder

CSRF_REFUSED = "页面已过期或来源不明（CSRF 校验失败），请刷新页面后重试"


def _answer(message: str, status: int) -> Any:
    db.session.rollback()
    if request.path.startswith("/api/"):
        return jsonify({"message": message}), status
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

    @app.errorhandler(413)
    def _too_large(exc: Any) -> Any:
        from app.documents.uploads import too_large_message

        return _answer(too_large_message(), 413)
