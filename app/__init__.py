"""CountyDesk: one deployment, many counties, each county's rules as data."""

from __future__ import annotations

import warnings
from typing import Any

from flask import Flask


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application; nothing is bound at import time."""
    from app.config import check_secret_key, load_config

    settings = load_config(config)
    check_secret_key(settings)  # before anything is bound: no half-built app with a guessable key
    app = Flask(__name__, instance_relative_config=False)
    app.config.update(settings)
    _bind(app)
    return app


def _import_models() -> None:
    import app.core.audit_models
    import app.core.models
    import app.forms.custom_fields_models
    import app.forms.models
    import app.orgs.models
    import app.security.models
    import app.staffing.models
    import app.staffing.quota_models
    import app.workflows.appraisal_models
    import app.workflows.models  # noqa: F401


def _import_views() -> None:
    import app.core.admin_views
    import app.core.audit_views
    import app.forms.attachment_views
    import app.forms.designer_views
    import app.forms.io_views
    import app.forms.views
    import app.formulas.views
    import app.jobs.views
    import app.orgs.views
    import app.overview.views
    import app.staffing.quota_views
    import app.staffing.views
    import app.workflows.appraisal_views
    import app.workflows.recruitment_views
    import app.workflows.views  # noqa: F401


def _bind(app: Flask) -> None:
    from flask_appbuilder import AppBuilder
    from sqlalchemy.exc import SAWarning

    from app.core import audit, menu_cache, rls_check, tenancy
    from app.core.registry import VIEW_SPECS
    from app.errors import install_error_handlers
    from app.extensions import db, migrate
    from app.home import HomeView, TenantSwitchView
    from app.hooks.manager import get_plugin_manager
    from app.jobs.queue import init_queues
    from app.orgs import tree
    from app.security import context, web_protection
    from app.security.roles import build_fab_roles

    warnings.filterwarnings("ignore", message=".*LegacyAPIWarning.*")
    warnings.filterwarnings("ignore", category=SAWarning, message=".*relationship.*overlaps.*")
    _import_models()
    _import_views()
    tenancy.install()
    tree.install()
    audit.install()
    app.config["FAB_ROLES"] = build_fab_roles()
    app.extensions["countydesk_plugins"] = get_plugin_manager(app.config.get("COUNTYDESK_PLUGINS"))

    web_protection.install(app)  # before FAB's views: its API blueprints are CSRF-exempted as they are made
    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()))
    init_queues(app)
    with app.app_context():
        appbuilder = AppBuilder(indexview=HomeView)
        appbuilder.init_app(app, db.session)
        for spec in VIEW_SPECS:
            if spec.menu:
                appbuilder.add_view(spec.view, spec.name, label=spec.label, icon=spec.icon,
                                    category=spec.category, category_label=spec.category_label)
            else:
                appbuilder.add_api(spec.view) if _is_api(spec.view) else appbuilder.add_view_no_menu(spec.view)
        appbuilder.add_view_no_menu(TenantSwitchView)
    # browsers ask for it on every page; a 404 there is a console error on every screen
    app.add_url_rule("/favicon.ico", "favicon", lambda: app.send_static_file("favicon.ico"))
    context.install(app)
    menu_cache.install(app)
    install_error_handlers(app)
    rls_check.warn_if_rls_bypassed(app)


def _is_api(view: type) -> bool:
    from flask_appbuilder.api import BaseApi

    return issubclass(view, BaseApi)


def _migrations_dir() -> Any:
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"
