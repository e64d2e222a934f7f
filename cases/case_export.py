"""The JSON export of a case file (format ``rri-case-export/1``).

A part that cannot be opened with the exporter's keys, or is malformed, is null and named in
``unreadable`` with the reason; text that was never written is "".
"""

from __future__ import annotations

from typing import Any

from .casefile import CaseFile
from .clock import today
from .reading import Sealed

FORMAT = "rri-case-export/1"


def _text(sealed: Sealed) -> str | None:
    return (sealed.text or "") if sealed.readable else None


def document(casefile: CaseFile) -> dict[str, Any]:
    case, report = casefile.case, casefile.report
    stored_triage = casefile.stored_triage
    return {
        "format": FORMAT,
        "exported_on": today().isoformat(),
        "case": {
            "id": case.id,
            "status": case.status.value,
            "urgent": case.urgent,
            "received_on": case.received_on.isoformat(),
            "updated_on": case.updated_on.isoformat(),
            "acknowledged_on": case.acknowledged_on.isoformat() if case.acknowledged_on else None,
            "closed_on": case.closed_on.isoformat() if case.closed_on else None,
            "assigned_to": casefile.assignee,
            "sealed_in": case.sealed_in.value,
            "reply_channel_open": casefile.channel_open,
        },
        # The reporter's whole document, unknown keys included: the export hides nothing.
        "report": {"lang": report.lang, "answers": report.raw.get("answers", report.raw)} if report else None,
        # Answers the reporter gave later ("Add details"), merged into "report" above: when each came.
        "added_on": {a.name: a.added_on.isoformat() for g in casefile.groups for a in g.answers if a.added_on},
        "triage": stored_triage.document() if stored_triage else None,
        "timeline": [
            {"status": s.status.value, "on": s.on.isoformat(), "by": s.author, "explanation": _text(s.explanation)}
            for s in casefile.timeline
        ],
        "thread": [
            {"id": m.id, "direction": m.direction.value, "on": m.on.isoformat(), "by": m.author, "text": _text(m.body)}
            for m in casefile.thread
        ],
        "notes": [{"on": n.on.isoformat(), "by": n.author, "text": _text(n.body)} for n in casefile.notes],
        "attachments": [
            {
                "id": f.id,
                "message": f.message_id,
                "complete": f.complete,
                "name": f.name,
                "type": f.type,
                "size": f.size,
            }
            for f in casefile.files
        ],
        "unreadable": casefile.unreadable(),
    }
