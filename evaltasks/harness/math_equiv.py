r"""Rule-based equivalence of two final answers to a math problem (MATH, MATH-500,
AIME): one module, so every benchmark that compares LaTeX answers compares them
the same way. Both sides get the same normalisation:
 1. ``\boxed{}`` unwrapped; ``$``, ``\$``, ``\(``, ``\)``, ``\[``, ``\]`` dropped.
 2. ``\dfrac``/``\tfrac``/``\cfrac`` → ``\frac``; ``\left``, ``\right``, ``\big``-style
    sizes, ``\displaystyle`` and the spacing commands ``\! \, \; \: ~`` dropped.
 3. Degrees (``^\circ``, ``^{\circ}``, ``°``) and percent signs dropped.
 4. Units dropped: a ``\text{}``/``\mbox{}``/``\mathrm{}`` holding a known unit word
    (cm, inches, degrees, cents, dollars, ...), a trailing ``\text{ ...}`` starting
    with a space, or a known unit word after a number and a space; with ``^2``/``^3``.
 5. ``\text{ and }`` → ``,``; ``\text{}``, ``\textbf{}``, ``\mbox{}``, ``\mathrm{}`` and
    friends unwrapped.
 6. All whitespace and trailing periods removed; ``{,}`` removed; commas dropped from
    a lone number written with thousands separators ("1,000", "32,\!348").
 7. A leading ``x=`` or ``x\in`` (one letter or a Greek command, optional subscript)
    removed when it is the only ``=``.
 8. ``\frac12``/``\frac1{2}``/``\frac{1}2`` → ``\frac{1}{2}``; ``\sqrt2`` → ``\sqrt{2}``;
    ``^{2}`` → ``^2`` and ``_{5}`` → ``_5``; ``(C)`` → ``C``; a lone word lower-cased.
Two normalised answers match when the strings are equal; or both are numbers
(integers, decimals, ``a/b``, ``\frac{a}{b}``, mixed ``1\frac{4}{5}``) with the same
exact rational value; or, element by element: ``pmatrix`` entries, ``\cup`` pieces,
tuples and intervals (same brackets, same order), and sets ``\{..\}`` and bare comma
lists in any order. Nothing symbolic: ``\frac{1}{\sqrt3}`` does not match ``\frac{\sqrt3}{3}``.
"""

import re
from fractions import Fraction

_UNIT = (
    r"(?:(?:square|sq\.?|cubic)\s*)?(?:cm|mm|km|m|in|inch(?:es)?|ft|feet|foot|yd|yards?|miles?|"
    r"meters?|metres?|centimeters?|kilometers?|units?|degrees?|radians?|seconds?|sec|minutes?|"
    r"min|hours?|hrs?|days?|weeks?|months?|years?|cents?|dollars?|mph|pounds?|lbs?|ounces?|oz|"
    r"grams?|kg|liters?|litres?|ml|gallons?|cups?|people|students?|ways?|points?)"
)
_POWER = r"(?:\^\{?[23]\}?)?"
_TEXT_UNIT = re.compile(rf"(?<=\S)\s*\\(?:text|textrm|mbox|mathrm)\{{\s*{_UNIT}\.?\s*\}}{_POWER}")
_TEXT_TAIL = re.compile(rf"(?<=\S)\s*\\(?:text|textrm|mbox)\{{\s[^{{}}]*\}}{_POWER}\s*$")
_BARE_UNIT = re.compile(rf"(?<=[\d}}])\s+{_UNIT}{_POWER}\.?\s*$")
_WRAPPER = re.compile(r"\\(?:text|textrm|textbf|textit|textnormal|mbox|mathrm|mathbf|mathit)\s*\{([^{}]*)\}")
_LHS = re.compile(r"^(?:[a-zA-Z]|\\[a-zA-Z]+)(?:_\{?\w+\}?)?(?:=|\\in(?![a-zA-Z]))")
_MATRIX = re.compile(r"\\begin\{([pbv]?matrix)\}(.*)\\end\{\1\}")
_NUM = r"-?(?:\d+(?:\.\d*)?|\.\d+)"

_DROP = ("\\$", "$", "\\(", "\\)", "\\[", "\\]", "\\displaystyle", "\\!", "\\,", "\\;", "\\:",
         "~", "\\%", "%", "°")


def last_boxed(text):
    r"""The content of the last ``\boxed{..}`` (or ``\fbox``, or ``\boxed 5``); None
    when there is none or its braces never close (a truncated reply)."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = start + (6 if text.startswith("\\boxed", start) else 5)
    while i < len(text) and text[i] == " ":
        i += 1
    if i < len(text) and text[i] == "{":
        depth = 0
        for j in range(i, len(text)):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                return text[i + 1:j]
        return None
    match = re.match(r"[^\s$]+", text[i:])
    return match.group(0) if match else None


def normalize(answer):
    """The canonical string for ``answer`` (rules in the module docstring)."""
    s = str(answer)
    boxed = last_boxed(s)
    s = (boxed if boxed is not None else s).replace("\n", " ")
    s = re.sub(r"(?<!\\)\\ ", " ", s)            # "\ " is a space; "\\ " is a matrix row break
    for token in _DROP:
        s = s.replace(token, "")
    s = re.sub(r"\\[dtc]frac", r"\\frac", s)
    s = re.sub(r"\\(?:left|right|[bB]igg?[lr]?)(?![a-zA-Z])", "", s)
    s = re.sub(r"\^\s*\{?\s*\\circ\s*\}?", "", s).replace("\\circ", "")
    s = _TEXT_UNIT.sub("", s)
    s = _TEXT_TAIL.sub("", s)
    s = _BARE_UNIT.sub("", s)
    s = re.sub(r"\\(?:text|mbox)\{\s*and\s*\}", ",", s)
    while True:
        unwrapped = _WRAPPER.sub(r"\1", s)
        if unwrapped == s:
            break
        s = unwrapped
    s = re.sub(r"\s+", "", s).replace("{,}", "").rstrip(".")
    lhs = _LHS.match(s)
    if lhs and s.count("=") <= 1 and lhs.end() < len(s):
        s = s[lhs.end():]
    # Unbraced LaTeX arguments are one token each: \frac123 is \frac{1}{2}3.
    s = re.sub(r"\\frac(\w)(\w)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac(\w)\{", r"\\frac{\1}{", s)
    s = re.sub(r"\\frac(\{[^{}]*\})(\w)", r"\\frac\1{\2}", s)
    s = re.sub(r"\\sqrt(\w)", r"\\sqrt{\1}", s)
    s = re.sub(r"([\^_])\{(\w)\}", r"\1\2", s)
    if re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?", s):
        s = s.replace(",", "")
    choice = re.fullmatch(r"\(([A-Za-z])\)", s)
    if choice:
        s = choice.group(1)
    if re.fullmatch(r"[A-Za-z]{2,}", s):
        s = s.lower()
    return s


def number(s):
    """The exact value of a normalised numeric answer, or None."""
    try:
        if re.fullmatch(_NUM, s):
            return Fraction(s)
        m = re.fullmatch(rf"({_NUM})/({_NUM})", s)
        if m:
            return Fraction(m.group(1)) / Fraction(m.group(2))
        m = re.fullmatch(rf"(-?)\\frac\{{({_NUM})\}}\{{({_NUM})\}}", s)
        if m:
            return (-1 if m.group(1) else 1) * Fraction(m.group(2)) / Fraction(m.group(3))
        m = re.fullmatch(r"(-?)(\d+)\\frac\{(\d+)\}\{(\d+)\}", s)     # mixed number
        if m:
            return (-1 if m.group(1) else 1) * (int(m.group(2)) + Fraction(int(m.group(3)), int(m.group(4))))
    except ZeroDivisionError:
        return None
    return None


def is_equiv(a, b):
    if a is None or b is None:
        return False
    return _equiv(normalize(a), normalize(b))


def _equiv(x, y):
    if x == y:
        return bool(x)
    if not x or not y:
        return False
    nx, ny = number(x), number(y)
    if nx is not None or ny is not None:
        return nx == ny
    px, py = _parts(x), _parts(y)
    if px is None or py is None or px[0] != py[0] or len(px[1]) != len(py[1]):
        return False
    kind, xs, ys = px[0], [normalize(e) for e in px[1]], [normalize(e) for e in py[1]]
    if kind not in ("list", "set"):
        return all(_equiv(a, b) for a, b in zip(xs, ys))
    unused = list(ys)
    for a in xs:
        match = next((i for i, b in enumerate(unused) if _equiv(a, b)), None)
        if match is None:
            return False
        unused.pop(match)
    return True


def _parts(s):
    """(kind, elements) for a compound answer, None for a single one."""
    m = _MATRIX.fullmatch(s)
    if m:
        rows = [row.split("&") for row in m.group(2).split("\\\\") if row]
        return ("matrix", tuple(len(r) for r in rows)), [cell for r in rows for cell in r]
    pieces = _split_top(s, "\\cup")
    if len(pieces) > 1:
        return "cup", pieces
    pieces = _split_top(s, ",")
    if len(pieces) > 1:
        return "list", pieces
    if s.startswith("\\{") and s.endswith("\\}"):
        return "set", _split_top(s[2:-2], ",")
    if len(s) > 2 and s[0] in "([" and s[-1] in ")]":
        return s[0] + s[-1], _split_top(s[1:-1], ",")
    return None


def _split_top(s, sep):
    """``s`` split at the ``sep`` that are outside any brackets."""
    pieces, depth, start, i = [], 0, 0, 0
    while i < len(s):
        if s[i] in "([{":
            depth += 1
        elif s[i] in ")]}":
            depth -= 1
        elif depth == 0 and s.startswith(sep, i):
            pieces.append(s[start:i])
            start = i + len(sep)
            i = start
            continue
        i += 1
    pieces.append(s[start:])
    return pieces
