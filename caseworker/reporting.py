"""Caseworker desk: reporting (being built)."""

from flask import Blueprint

bp = Blueprint("reporting", __name__)
