"""Pictures drawn from user data, made safe to inline in a page.

The lineage graph (:meth:`~modelyard.registry.LineageGraph.to_svg`) and the pipeline DAG
(:func:`~modelyard.pipelines.pipeline_svg`) carry user text: run names, step names, dataset
names. :func:`safe_svg` re-emits such a picture keeping only the elements and attributes these
pictures use — no script, no links, no event handlers, no styles — with all text escaped again.

>>> str(safe_svg('<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script><text>a&lt;b</text></svg>'))
'<svg xmlns="http://www.w3.org/2000/svg" role="img"><text>a&lt;b</text></svg>'
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

from markupsafe import Markup

from modelyard.errors import InvalidArgument

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

__all__ = ["safe_svg"]

_SVG_NS = "http://www.w3.org/2000/svg"
_SVG_TAGS = frozenset({"svg", "defs", "marker", "path", "g", "title", "rect", "text"})
_SVG_ATTRIBUTES = frozenset(
    {
        "width", "height", "viewBox", "font-family", "font-size", "font-weight", "class", "id",
        "data-id", "data-step", "data-run-id",
        "x", "y", "rx", "d", "fill", "stroke", "stroke-width", "marker-end",
        "refX", "refY", "markerWidth", "markerHeight", "orient", "text-anchor",
    }
)  # fmt: skip
_LOCAL_REF = re.compile(r"url\(#[A-Za-z][\w-]*\)")
_SVG_ID = re.compile(r"[A-Za-z][\w-]*")


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def _attribute(name: str, value: str) -> str | None:
    """``name="value"`` when the attribute is one the picture needs and harmless, else None."""
    if name not in _SVG_ATTRIBUTES:
        return None
    if name == "marker-end":
        return f'{name}="{value}"' if _LOCAL_REF.fullmatch(value) else None
    if name == "id" and not _SVG_ID.fullmatch(value):
        return None
    if "url(" in value.lower():
        return None
    return f'{name}="{html.escape(value, quote=True)}"'


def _emit(element: Element, out: list[str], label: str | None) -> None:
    tag = _local(element.tag)
    if tag not in _SVG_TAGS:
        return
    attributes = []
    if label is not None:
        attributes.append(f'xmlns="{_SVG_NS}" role="img"')
        if label:
            attributes.append(f'aria-label="{html.escape(label, quote=True)}"')
    for name, value in element.attrib.items():
        kept = _attribute(_local(name), value)
        if kept is not None:
            attributes.append(kept)
    out.append(f"<{tag} {' '.join(attributes)}>" if attributes else f"<{tag}>")
    if element.text:
        out.append(html.escape(element.text, quote=False))
    for child in element:
        _emit(child, out, None)
        if child.tail:
            out.append(html.escape(child.tail, quote=False))
    out.append(f"</{tag}>")


def safe_svg(svg: str, label: str = "") -> Markup:
    """``svg`` re-emitted with only the elements and attributes our pictures use.

    Text is escaped again; ``<script>``, ``<a>``, ``<foreignObject>``, ``style``, ``href`` and
    ``on*`` attributes are dropped, and ``marker-end`` may only name a local ``url(#id)``.
    InvalidArgument when ``svg`` is not an SVG document.
    """
    from xml.etree import ElementTree

    try:
        root = ElementTree.fromstring(svg)
    except ElementTree.ParseError as exc:
        raise InvalidArgument(f"the picture is not valid SVG: {exc}") from exc
    if _local(root.tag) != "svg":
        raise InvalidArgument(f"the picture is a <{_local(root.tag)}>, not an <svg>")
    out: list[str] = []
    _emit(root, out, label)
    return Markup("".join(out))
