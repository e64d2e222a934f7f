"""One case on the desk: read it, download its files, triage, assign, refer, answer, note.

Everything a reporter wrote is hostile: the templates only ever print it escaped, and files are
only ever handed out as opaque downloads. The views parse a request, call one function of
``cases`` and turn its refusals into pages (``case_blueprint.refusal``).
"""

from __future__ import annotations

from . import case_actions, case_page, downloads, exports
from .case_blueprint import bp

__all__ = ["bp", "case_actions", "case_page", "downloads", "exports"]
