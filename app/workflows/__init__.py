"""Workflow engine: definitions as data, instances with timers, approvals and an immutable history."""
