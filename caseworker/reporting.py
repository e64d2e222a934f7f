"""Caseworker desk: public statistics (case exports live in ``exports``).

Statistics are computed by staff (who hold the intake keys) and stored suppressed so that
analysts, who hold none, can read them (cases.statistics_snapshot).
"""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, abort, g, render_template
from flask.typing import ResponseReturnValue

from cases import audit, countries, statistics, statistics_snapshot
from cases.models import Role
from cases.questionnaire import QUESTIONS

from . import session as staff_session
from .context import desk

bp = Blueprint("reporting", __name__)

TABLES = {  # dimension: (heading, column)
    "country": ("By country", "Country"),
    "act_type": ("By kind of reprisal", "Kind of reprisal"),
    "un_link": ("By UN mechanism", "UN mechanism"),
    "month": ("By month received", "Month received"),
}


def _record(action: str, case_id: str | None, detail: str) -> None:
    with desk().db.session() as session:
        audit.record(session, action, actor_id=g.user.id, case_id=case_id, detail=detail)


def _download(response: Response, filename: str) -> Response:
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# -- public statistics ---------------------------------------------------------------------------


def _figures() -> statistics_snapshot.Figures:
    """Fresh figures for staff (who hold the intake keys), the stored ones for analysts."""
    context = desk()
    ring = g.keyring if g.user.role in staff_session.STAFF else None
    return statistics_snapshot.current(context.db, ring, context.settings.stats_min_count)


def _labels() -> dict[str, dict[str, str]]:
    return {
        "country": {code: statistics.country_label(code) for code in countries.CODES},
        "act_type": {c.value: c.label for c in QUESTIONS["act_types"].choices},
        "un_link": {c.value: c.label for c in QUESTIONS["un_link"].choices},
    }


@bp.get("/statistics", endpoint="statistics")
@staff_session.require(Role.ADMIN, Role.CASEWORKER, Role.ANALYST)
def statistics_page() -> ResponseReturnValue:
    figures = _figures()
    _record("statistics.export", None, f"page ({figures.source})")
    return render_template(
        "statistics.html",
        aggregate=figures.aggregate,
        source=figures.source,
        unreadable=figures.unreadable,
        labels=_labels(),
        tables=TABLES,
        counted=statistics.COUNTED,
    )


@bp.get("/statistics.csv")
@staff_session.require(Role.ADMIN, Role.CASEWORKER, Role.ANALYST)
def statistics_csv() -> ResponseReturnValue:
    figures = _figures()
    aggregate = figures.aggregate
    if aggregate is None:
        abort(404)
    _record("statistics.export", None, f"csv ({figures.source})")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(statistics.csv_rows(aggregate))
    response = Response(buffer.getvalue(), mimetype="text/csv")
    return _download(response, f"statistics-{aggregate['on']}.csv")
