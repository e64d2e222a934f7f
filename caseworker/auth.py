"""Caseworker desk: auth (being built)."""

from flask import Blueprint

bp = Blueprint("auth", __name__)
