"""Reusable rule packs, registered through pluggy entry points (group ``countydesk.plugins``)."""
