"""Base classes for tenant-scoped screens and APIs: declarations only, no scoping logic.

Scoping happens in the data layer (``app.core.tenancy``); these bases only set the
defaults every screen shares (page size, Chinese labels, search) and turn the data
layer's refusals into proper answers.
"""

from __future__ import annotations

from flask_appbuilder import ModelRestApi, ModelView


class TenantModelView(ModelView):
    page_size = 50
    base_order = ("id", "asc")


class TenantModelApi(ModelRestApi):
    page_size = 50
    max_page_size = 500
    allow_browser_login = True
