"""Pictograms for reporters who read little: inline SVG, drawn for this project, one file each.

``intake/icons/<name>.svg`` holds one 24×24 icon. They are read and checked once, at start-up
(``Icons.load``): each file may hold only shapes (``path``, ``circle``, ``rect``, ``line``,
``polyline``, ``polygon``, ``g``) with geometry and paint attributes, because every icon goes
into pages inline: no script, event handler, link, style or foreign object can get through, and
a file that tries stops the app from starting with a message naming the file and the problem.
Colours are ``currentColor`` (or ``none``) only, so an icon has the contrast of the text it
stands beside.

A page refers to an icon with ``icon(name)`` (or ``icon_for(question, choice)`` through the
table below), which emits a ``<use>`` and records the name for this request; ``base.html``
ends the page with ``icon_sprite()``, the ``<symbol>`` of exactly the icons the page used. The
icon is ``aria-hidden``: the visible text beside it is its label.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, g
from markupsafe import Markup, escape

ICON_DIR = Path(__file__).resolve().parent / "icons"

#: Which icon goes before which answer: (question name, choice value); choice "" is the
#: question's own legend. The question names and values are those of cases.questionnaire.
CHOICE_ICONS: dict[tuple[str, str], str] = {
    ("danger", ""): "danger",
    ("act_types", "early_warning"): "warning-signs",
    ("act_types", "threats"): "threats",
    ("act_types", "physical_attack"): "attack",
    ("act_types", "arrest_detention"): "detention",
    ("act_types", "disappearance"): "missing",
    ("act_types", "ill_treatment"): "ill-treatment",
    ("act_types", "killing"): "killing",
    ("act_types", "judicial_harassment"): "court",
    ("act_types", "travel_ban"): "travel-ban",
    ("act_types", "surveillance"): "surveillance",
    ("act_types", "smear_campaign"): "smear",
    ("act_types", "online_harassment"): "online",
    ("act_types", "administrative_pressure"): "pressure",
    ("act_types", "family_community"): "family",
    ("act_types", "un_venue"): "un",
    ("act_types", "other"): "other",
    ("situation", "free"): "free",
    ("situation", "detained"): "detention",
    ("situation", "missing"): "missing",
    ("situation", "hiding"): "hiding",
    ("situation", "relocated"): "relocated",
    ("situation", "unknown"): "unknown",
}

#: The status page's timeline (cases.questionnaire.STAGES).
STAGE_ICONS: dict[str, str] = {
    "received": "received",
    "under_review": "review",
    "need_info": "need-info",
    "action_taken": "action",
    "closed": "closed",
}

#: Icons that point along the line of reading: mirrored on right-to-left pages (class ``f``).
DIRECTIONAL = frozenset({"action", "relocated"})

SVG = "{http://www.w3.org/2000/svg}"
#: The house style: a file's root may state it (so that the file looks right when opened on its
#: own) but not change it; on the page ``.i`` in style.css applies the same to every icon.
HOUSE_STYLE = {
    "fill": "none",
    "stroke": "currentColor",
    "stroke-width": "2",
    "stroke-linecap": "round",
    "stroke-linejoin": "round",
}
ROOT_ATTRIBUTES = {"viewBox": "0 0 24 24", **HOUSE_STYLE}
SHAPES: dict[str, frozenset[str]] = {
    "path": frozenset({"d"}),
    "circle": frozenset({"cx", "cy", "r"}),
    "rect": frozenset({"x", "y", "width", "height", "rx", "ry"}),
    "line": frozenset({"x1", "y1", "x2", "y2"}),
    "polyline": frozenset({"points"}),
    "polygon": frozenset({"points"}),
    "g": frozenset(),
}
_NUMBER = r"-?(?:\d+(?:\.\d)?|\.\d)"
_PAINT_VALUES = {
    "fill": re.compile(r"none|currentColor"),
    "stroke": re.compile(r"none|currentColor"),
    "stroke-width": re.compile(_NUMBER),
    "stroke-linecap": re.compile(r"round|butt|square"),
    "stroke-linejoin": re.compile(r"round|miter|bevel"),
    "fill-rule": re.compile(r"nonzero|evenodd"),
}
_GEOMETRY = re.compile(r"[\d.\- ,]*")
_PATH_DATA = re.compile(r"[MmLlHhVvCcSsQqTtAaZz\d.\- ,]*")
_NAME = re.compile(r"[a-z][a-z0-9-]*")
#: Integers or one decimal: the sprite is in every page that shows an icon.
_TOO_PRECISE = re.compile(r"\.\d\d")
MAX_BYTES = 600


class IconError(ValueError):
    """An icon file the loader refuses; the message names the file and says what to change."""


def _allowed_elements() -> str:
    return ", ".join(f"<{tag}>" for tag in SHAPES)


def _check_attribute(where: str, tag: str, name: str, value: str) -> None:
    local = name.rpartition("}")[2]
    if local.lower().startswith("on"):
        raise IconError(f"{where}: <{tag}> has the event handler {local}=: icons may hold no script")
    if local in ("href", "src") or local.endswith("href"):
        raise IconError(f"{where}: <{tag}> links elsewhere ({local}=): icons may not refer to anything")
    if local in ("style", "class"):
        raise IconError(f"{where}: <{tag}> has {local}=: no styles in icons; colours are currentColor")
    if name != local:
        raise IconError(f"{where}: <{tag}> has the attribute {name}: only plain SVG attributes are allowed")
    if name in _PAINT_VALUES:
        if not _PAINT_VALUES[name].fullmatch(value):
            hint = " (colours: currentColor or none)" if name in ("fill", "stroke") else ""
            raise IconError(f"{where}: <{tag}> has {name}={value!r}{hint}")
        return
    geometry = SHAPES.get(tag, frozenset())
    if name not in geometry:
        allowed = ", ".join(sorted(geometry | set(_PAINT_VALUES)))
        raise IconError(f"{where}: <{tag}> may not have {name}= (allowed: {allowed})")
    pattern = _PATH_DATA if name == "d" else _GEOMETRY
    if not pattern.fullmatch(value):
        raise IconError(f"{where}: <{tag}> {name}= must be numbers only, not {value!r}")
    if _TOO_PRECISE.search(value):
        raise IconError(f"{where}: <{tag}> {name}= has more than one decimal: round it")


def _shape(where: str, element: ET.Element) -> str:
    if not element.tag.startswith(SVG):
        raise IconError(f"{where}: {element.tag} is not SVG: only {_allowed_elements()} are allowed")
    tag = element.tag[len(SVG) :]
    if tag not in SHAPES:
        raise IconError(f"{where}: <{tag}> is not allowed: only {_allowed_elements()}")
    if (element.text or "").strip() or (element.tail or "").strip():
        raise IconError(f"{where}: <{tag}> holds text: icons are shapes only, the label is the page's text")
    for name, value in element.attrib.items():
        _check_attribute(where, tag, name, value)
    attributes = "".join(f' {name}="{escape(value)}"' for name, value in element.attrib.items())
    if tag == "g":
        return f"<g{attributes}>{''.join(_shape(where, child) for child in element)}</g>"
    if len(element):
        raise IconError(f"{where}: <{tag}> may not contain other elements")
    return f"<{tag}{attributes}/>"


def parse(where: str, text: str) -> str:
    """The markup inside the icon's ``<symbol>``, rebuilt from what was checked (never copied)."""
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise IconError(f"{where}: {len(text.encode('utf-8'))} bytes; keep an icon under {MAX_BYTES}")
    if "<!" in text.replace("<!--", ""):
        raise IconError(f"{where}: no DOCTYPE, entities or CDATA in icons")
    try:
        root = ET.fromstring(text)  # noqa: S314 - our own files, and no DOCTYPE (so no entity) got here
    except ET.ParseError as error:
        raise IconError(f"{where}: not well-formed XML ({error})") from None
    if root.tag != SVG + "svg":
        raise IconError(f'{where}: the root must be <svg xmlns="http://www.w3.org/2000/svg">, not {root.tag}')
    for name, value in root.attrib.items():
        if ROOT_ATTRIBUTES.get(name) != value:
            if name not in ROOT_ATTRIBUTES:
                _check_attribute(where, "svg", name, value)  # names a hostile attribute as such
            raise IconError(f"{where}: <svg {name}={value!r}>: the root may only state {ROOT_ATTRIBUTES}")
    if root.get("viewBox") != ROOT_ATTRIBUTES["viewBox"]:
        raise IconError(f'{where}: the root needs viewBox="0 0 24 24"')
    if (root.text or "").strip():
        raise IconError(f"{where}: <svg> holds text: icons are shapes only")
    shapes = "".join(_shape(where, child) for child in root)
    if not shapes:
        raise IconError(f"{where}: the icon draws nothing")
    return shapes


@dataclass(frozen=True)
class Icons:
    symbols: dict[str, str]  # name -> the complete <symbol> element

    @classmethod
    def load(cls, folder: Path | None = None) -> Icons:
        folder = folder or ICON_DIR
        symbols = {}
        for path in sorted(folder.glob("*.svg")):
            where = f"intake/icons/{path.name}"
            if not _NAME.fullmatch(path.stem):
                raise IconError(f"{where}: name icons with lower-case letters, digits and hyphens")
            inner = parse(where, path.read_text(encoding="utf-8"))
            symbols[path.stem] = f'<symbol id="i-{path.stem}" viewBox="0 0 24 24">{inner}</symbol>'
        missing = sorted({*CHOICE_ICONS.values(), *STAGE_ICONS.values()} - symbols.keys())
        if missing:
            raise IconError(f"intake/icons/: the table in intake/icons.py names icons with no file: {missing}")
        return cls(symbols)

    def use(self, name: str) -> Markup:
        """The icon's ``<use>``, recorded so that the page's sprite carries its symbol."""
        if name not in self.symbols:
            raise KeyError(f"no icon {name!r} in intake/icons/")
        used: dict[str, None] = g.setdefault("icons_used", {})
        used[name] = None
        # The name is one of the loaded files' ([a-z][a-z0-9-]*), never the request's.
        kind = "i f" if name in DIRECTIONAL else "i"
        return Markup(f'<svg class="{kind}" aria-hidden="true"><use href="#i-{name}"/></svg>')  # noqa: S704

    def sprite(self) -> Markup:
        """The symbols this page used, in one hidden ``<svg>``; nothing if it used none."""
        used: dict[str, None] = g.get("icons_used", {})
        if not used:
            return Markup("")
        symbols = "".join(self.symbols[name] for name in used)  # rebuilt from checked shapes by parse()
        return Markup(f"<svg hidden>{symbols}</svg>")  # noqa: S704


def install(app: Flask) -> Icons:
    """Load and check every icon now (a bad file stops start-up) and give templates ``icon``,
    ``icon_for`` (the table's icon for a question or a choice, or nothing), ``stage_icon``
    and ``icon_sprite``."""
    icons = Icons.load()

    def icon_for(question: str, choice: str = "") -> Markup:
        name = CHOICE_ICONS.get((question, choice))
        return icons.use(name) if name else Markup("")

    def stage_icon(stage: str) -> Markup:
        name = STAGE_ICONS.get(stage)
        return icons.use(name) if name else Markup("")

    app.jinja_env.globals.update(icon=icons.use, icon_for=icon_for, stage_icon=stage_icon, icon_sprite=icons.sprite)
    return icons
