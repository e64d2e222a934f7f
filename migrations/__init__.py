"""Alembic migrations; upgrades never drop data (docs/operations in README)."""
