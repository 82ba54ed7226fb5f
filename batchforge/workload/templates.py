"""``{placeholder}`` templates in task factories.

``{name}`` and ``{name:spec}`` (a Python format spec, e.g. ``{i:04d}``) are placeholders; ``{{`` and
``}}`` are literal braces; ``${VAR}`` is left alone for the shell; any other brace (``awk '{print $1}'``,
JSON) is literal text. Each template is compiled once into a ``str.format`` string, so rendering a
100,000-task sweep is one C-level ``format_map`` call per string.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

_TOKEN = re.compile(r"\{\{|\}\}|\$\{[^}]*\}|\{([A-Za-z_][A-Za-z0-9_]*)(?::([^{}\s]*))?\}")
# Python's format-spec mini-language; width and precision are bounded before anything is formatted
# (``{slice:0999999999d}`` would allocate gigabytes per task).
_SPEC = re.compile(r"^(?:.?[<>=^])?[+\- ]?z?#?0?(?P<width>\d+)?[,_]?(?:\.(?P<precision>\d+))?[bcdeEfFgGnosxX%]?$", re.S)
MAX_FORMAT_WIDTH = 64
MAX_FORMAT_PRECISION = 32


@dataclass(frozen=True)
class Placeholder:
    name: str
    spec: str

    def __str__(self) -> str:
        return f"{{{self.name}:{self.spec}}}" if self.spec else f"{{{self.name}}}"


@dataclass(frozen=True)
class Template:
    """A compiled template: ``text`` as written, ``format_string`` for ``str.format_map``."""

    text: str
    format_string: str
    placeholders: tuple[Placeholder, ...]
    # ``render`` without a Python frame per call: the bound ``str.format_map`` (hot in big sweeps).
    renderer: Callable[[Mapping[str, object]], str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.placeholders:
            renderer = self.format_string.format_map
        else:
            constant = self.format_string.format_map({})
            renderer = lambda _values: constant  # noqa: E731 - a constant needs no formatting
        object.__setattr__(self, "renderer", renderer)

    @property
    def is_constant(self) -> bool:
        return not self.placeholders

    def render(self, values: Mapping[str, object]) -> str:
        return self.renderer(values)

    def row_formatter(self, names: Sequence[str]) -> Callable[..., str]:
        """``str.format`` bound to this template with placeholders as positions in ``names``.

        Called as ``formatter(*row)`` with one value per name: no dict per task, no Python frame.
        """
        if not self.placeholders:
            return self.format_string.format
        position = {name: index for index, name in enumerate(names)}
        return _translate(self.text, lambda name, spec: f"{{{position[name]}:{spec}}}")[0].format


def _escape(literal: str) -> str:
    return literal.replace("{", "{{").replace("}", "}}")


def _translate(text: str, field_text: Callable[[str, str], str]) -> tuple[str, list[Placeholder]]:
    pieces: list[str] = []
    found: list[Placeholder] = []
    position = 0
    for match in _TOKEN.finditer(text):
        pieces.append(_escape(text[position : match.start()]))
        token = match.group(0)
        if token in ("{{", "}}"):
            pieces.append(token)
        elif token.startswith("$"):
            pieces.append(_escape(token))
        else:
            name, spec = match.group(1), match.group(2) or ""
            found.append(Placeholder(name, spec))
            pieces.append(field_text(name, spec))
        position = match.end()
    pieces.append(_escape(text[position:]))
    return "".join(pieces), found


def compile_template(text: str) -> Template:
    format_string, found = _translate(text, lambda name, spec: f"{{{name}:{spec}}}" if spec else f"{{{name}}}")
    return Template(text, format_string, tuple(found))


def literal_template(text: str) -> Template:
    """A template that renders to ``text`` exactly (listed tasks take their strings literally)."""
    return Template(text, _escape(text), ())


def spec_bound_problem(spec: str) -> str | None:
    """Why a format spec's width or precision is out of bounds, or None (other spec errors show when formatting)."""
    match = _SPEC.match(spec)
    if match is None:
        return None
    width = (match.group("width") or "").lstrip("0")
    precision = (match.group("precision") or "").lstrip("0")
    if len(width) > 3 or int(width or 0) > MAX_FORMAT_WIDTH:
        return f"format width {width[:12]} is too wide; at most {MAX_FORMAT_WIDTH}"
    if len(precision) > 3 or int(precision or 0) > MAX_FORMAT_PRECISION:
        return f"format precision {precision[:12]} is too long; at most {MAX_FORMAT_PRECISION}"
    return None


def placeholder_problems(template: Template, samples: Mapping[str, Iterable[object]]) -> list[str]:
    """Messages for unknown placeholders and format specs that fail on a sample of the values.

    ``samples`` maps each known name to the values it may take (a few are enough for ranges).
    """
    messages: list[str] = []
    known = sorted(samples)
    for placeholder in template.placeholders:
        if placeholder.name not in samples:
            close = difflib.get_close_matches(placeholder.name, known, n=1, cutoff=0.6)
            hint = f"; did you mean {{{close[0]}}}?" if close else ""
            listing = ", ".join(f"{{{name}}}" for name in known) or "none"
            messages.append(f"unknown placeholder {placeholder}{hint} (known: {listing})")
            continue
        if not placeholder.spec:
            continue
        bound = spec_bound_problem(placeholder.spec)
        if bound is not None:
            messages.append(f"placeholder {placeholder}: {bound}")
            continue
        for value in samples[placeholder.name]:
            try:
                format(value, placeholder.spec)
            except (ValueError, TypeError) as exc:
                messages.append(f"placeholder {placeholder}: format spec does not fit the value {value!r} ({exc})")
                break
    return list(dict.fromkeys(messages))
