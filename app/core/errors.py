"""Errors a user can see, each with an HTTP status and a Chinese message."""

from __future__ import annotations


class CountyDeskError(Exception):
    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ScopeDenied(CountyDeskError):
    """A write outside the user's tenant or org-unit capture scope, or by a read-only user."""

    status = 403


class NotFound(CountyDeskError):
    status = 404
