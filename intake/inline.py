"""The CSS and scripts every reporter page carries inline, so that a page is one response.

Nothing may be cached on a reporter's device, so a page that linked its style sheet and scripts
would download them again on every visit: four requests where one will do. At start-up this
module reads ``intake/static`` once, builds the blocks a page inlines and their CSP hashes;
``base.html`` puts them in the page and the app's CSP lists exactly the hashes of the blocks
that response carries (``policy``), never ``'unsafe-inline'``.

A page inlines common.js ("leave quickly", proof-of-work, print: the ``light`` bundle), and the
pages that seal app.js after it (the ``full`` bundle). seal.js and strip.js are not needed to show a page: the form's
first load must fit 15 KB on the wire in every language, and they would add 5 KB. So the ``full``
bundle (report form and status page, which seal on the device) imports them from ``/static/``,
the same files the Node vector tests check, gzipped: seal.js as soon as the reporter first types
or chooses (while they write, long before Send), strip.js when a photo is chosen, voice.js when
Record is first tapped. Their CSP allows
the intake's own origin (``'self'``) besides the inline block's hash. The ``light`` bundle (every
other page: the receipt, the token look-up, "staying safe", errors) never reaches the sealing code.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from markupsafe import Markup

STATIC = Path(__file__).resolve().parent / "static"

_COMMENT_LINE = re.compile(r"^[ \t]*//.*\n", re.MULTILINE)
SEAL_IMPORT = "import { seal, sealFile } from './seal.js';"
STRIP_IMPORT = "import('./strip.js')"
VOICE_IMPORT = "import('./voice.js')"  # the voice recorder, when Record is first tapped
# Loaded once, on the first input (a failed load is tried again at the next use).
LAZY_SEAL = """let sealing;
const loadSeal = () => (sealing ||= import('/static/seal.js').catch(e => { sealing = null; throw e; }));
addEventListener('input', () => loadSeal().catch(() => {}), { once: true, capture: true });
const seal = async (...args) => (await loadSeal()).seal(...args);
const sealFile = async (...args) => (await loadSeal()).sealFile(...args);"""


def csp_hash(text: str) -> str:
    """The CSP source expression allowing an inline block whose content is exactly ``text``."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def drop_comment_lines(source: str) -> str:
    """Remove the lines that are only a ``//`` comment, and every line's indentation: the form
    must fit its byte budget in every language. Safe without parsing because no string in our
    scripts spans lines (checked: a template literal over several lines stops start-up)."""
    if any("\n" in literal for literal in re.findall(r"`[^`]*`", source)):
        raise ValueError("a template literal spans lines: its indentation would change")
    return "".join(line.lstrip(" \t") for line in _COMMENT_LINE.sub("", source).splitlines(keepends=True))


def _replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise ValueError(f"app.js: expected {old!r} exactly once")
    return text.replace(old, new)


def full_bundle(common: str, app: str) -> str:
    """common.js then app.js, one module, for the pages that seal (form, status, details)."""
    main = _replace_once(app, SEAL_IMPORT, LAZY_SEAL)
    main = _replace_once(main, STRIP_IMPORT, "import('/static/strip.js')")
    main = _replace_once(main, VOICE_IMPORT, "import('/static/voice.js')")
    return "\n" + drop_comment_lines(common + "\n" + main)


def light_bundle(common: str) -> str:
    """common.js alone, for every other page: it never reaches the sealing code."""
    return "\n" + drop_comment_lines(common)


@dataclass(frozen=True)
class Block:
    tag: str  # "script" or "style"
    text: str

    @cached_property
    def hash(self) -> str:
        return csp_hash(self.text)

    @cached_property
    def markup(self) -> Markup:
        opening = '<script type="module">' if self.tag == "script" else "<style>"
        # The sources are ours, read from intake/static; a "</" would end the element early.
        if f"</{self.tag}" in self.text.lower():
            raise ValueError(f"an inline {self.tag} may not contain </{self.tag}")
        return Markup(f"{opening}{self.text}</{self.tag}>")  # noqa: S704 - our own static files


@dataclass(frozen=True)
class Inline:
    """The blocks, read once at start-up; a page names the script it needs (``full``/``light``)."""

    style: Block
    scripts: dict[str, Block]

    @classmethod
    def load(cls, static: Path = STATIC) -> Inline:
        def read(name: str) -> str:
            return (static / name).read_text(encoding="utf-8")

        common, app, css = read("common.js"), read("app.js"), read("style.css")
        return cls(
            style=Block("style", "\n" + css),
            scripts={
                "full": Block("script", full_bundle(common, app)),
                "light": Block("script", light_bundle(common)),
            },
        )
