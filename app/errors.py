"""Turns the data layer's refusals into 403/404/422 answers in the user's language."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request

from app.core.errors import CountyDeskError
from app.core.idcard import IdNumberError
from app.extensions import db, get_appbuilder


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

    @app.errorhandler(413)
    def _too_large(exc: Any) -> Any:
        from app.documents.uploads import too_large_message

        return _answer(too_large_message(), 413)
