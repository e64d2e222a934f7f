"""Caseworker desk: casework (being built)."""

from flask import Blueprint

bp = Blueprint("casework", __name__)
