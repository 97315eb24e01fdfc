"""Declarations of the app's screens and APIs, and which roles may read or write them.

Views are declared here before FAB starts so that role permissions (FAB_ROLES) can be
derived from the same list the menu is built from: a screen added later is covered by
roles and by the isolation tests without anyone editing a permission table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

READ_PERMISSIONS = ("can_list", "can_show", "can_get", "can_info", "can_download", "menu_access")
WRITE_PERMISSIONS = ("can_add", "can_edit", "can_delete", "can_post", "can_put", "can_muldelete")


@dataclass
class ViewSpec:
    view: type
    name: str
    """Stable menu/permission name (not shown; ``label`` is)."""
    label: Any = None
    category: str | None = None
    category_label: Any = None
    icon: str = "fa-table"
    writers: tuple[str, ...] = ()
    readers: tuple[str, ...] = ("county_admin", "town_clerk", "village_worker", "province_viewer")
    menu: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


VIEW_SPECS: list[ViewSpec] = []


def declare_view(spec: ViewSpec) -> ViewSpec:
    if not any(s.view is spec.view for s in VIEW_SPECS):
        VIEW_SPECS.append(spec)
    return spec
