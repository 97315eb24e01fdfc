"""The routes both designers (forms, workflows) share: a definition's versions, a diff, one version.

Each designer module offers ``versions(code)``, ``diff(code, a, b)``, ``spec_of(code, version)`` and
``to_yaml(spec)``; a designer view names its module and says what its pages add (a diagram, field
type labels, a custom-field entity's title). The handlers were written twice before, alike but for
those extras.
"""

from __future__ import annotations

from typing import Any

from flask import abort
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access, permission_name

from app.core.designer_base import diff_args


class DesignerVersionsView(BaseView):
    """Base of a designer screen: ``/<code>/versions``, ``/<code>/diff``, ``/<code>/v/<version>``."""

    designer_module: Any = None
    """The designer module (``app.forms.designer`` / ``app.workflows.designer``)."""

    def _render(self, template: str, **kw: Any) -> Any:
        raise NotImplementedError

    def _title(self, code: str, name: str | None) -> Any:
        """The page title for a definition whose latest name is ``name`` (None: none stored)."""
        return name or code

    def _has_no_versions_yet(self, code: str) -> bool:
        """True when ``code`` exists although nothing is stored for it yet (its versions page is empty)."""
        return False

    def _page_extras(self, page: str, code: str, row: Any = None,
                     version: int | None = None) -> dict[str, Any]:
        """What a page adds for this designer (``page``: versions / diff / version)."""
        return {}

    @expose("/<code>/versions")
    @has_access
    def show(self, code: str) -> Any:
        versions = self.designer_module.versions(code)
        if not versions and not self._has_no_versions_yet(code):
            abort(404)
        return self._render("designer_versions.html", code=code, versions=versions,
                            title=self._title(code, versions[0].name if versions else None),
                            **self._page_extras("versions", code))

    @expose("/<code>/diff")
    @has_access
    @permission_name("show")
    def diff(self, code: str) -> Any:
        a, b = diff_args()
        result = self.designer_module.diff(code, a, b)
        if result is None:
            abort(404)
        row = self.designer_module.spec_of(code)
        return self._render("designer_diff.html", code=code, a=a, b=b, diff=result,
                            title=self._title(code, row.name if row else None), **self._page_extras("diff", code, row))

    @expose("/<code>/v/<int:version>")
    @has_access
    @permission_name("show")
    def version(self, code: str, version: int) -> Any:
        row = self.designer_module.spec_of(code, version)
        if row is None:
            abort(404)
        return self._render("designer_version.html", code=code, row=row,
                            yaml_text=self.designer_module.to_yaml(row.spec),
                            **self._page_extras("version", code, row, version))
