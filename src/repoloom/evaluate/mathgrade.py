"""Numeric / symbolic answer equality for PAL math: integers, decimals with commas, fractions
(``3/4``, ``\\frac{3}{4}``), percentages, LaTeX wrappers (``$``, ``\\boxed``, ``\\text``),
simple expressions (``2\\sqrt{3}``, ``\\pi/2``) and tuples."""

from __future__ import annotations

import math
import re

_REL_TOL = 1e-4
_ABS_TOL = 1e-6


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced."""
    i = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if i < 0:
        return None
    j = text.find("{", i)
    if j < 0:
        return None
    depth = 0
    for k in range(j, len(text)):
        if text[k] == "{":
            depth += 1
        elif text[k] == "}":
            depth -= 1
            if depth == 0:
                return text[j + 1 : k]
    return None


def _strip_text_cmds(s: str) -> str:
    # \text{...}, \textbf{...}, \mbox{...} -> content
    return re.sub(r"\\(?:text|textbf|mbox|mathrm|mathbf)\s*\{([^{}]*)\}", r"\1", s)


def normalize(ans: str) -> str:
    s = str(ans).strip()
    boxed = last_boxed(s)
    if boxed is not None:
        s = boxed
    s = _strip_text_cmds(s)
    for a, b in (
        ("\\!", ""), ("\\,", ""), ("\\;", ""), ("\\ ", ""), ("\\left", ""), ("\\right", ""),
        ("dfrac", "frac"), ("tfrac", "frac"), ("^{\\circ}", ""), ("^\\circ", ""),
        ("\\%", "%"), ("\\$", ""), ("$", ""), ("\\displaystyle", ""),
    ):  # fmt: skip
        s = s.replace(a, b)
    s = s.strip().rstrip(".").strip()
    # A unit or word after a number ("9 (apples)", "18 dollars").
    m = re.fullmatch(r"(-?[\d,]*\.?\d+)\s*(?:\(?[A-Za-z][A-Za-z ]*\)?)", s)
    if m:
        s = m.group(1)
    return s.strip()


def _to_number(s: str) -> float | None:
    s = s.replace(" ", "")
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", s):
        s = s.replace(",", "")
    try:
        return float(s)
    except ValueError:
        pass
    m = re.fullmatch(r"(-?)\\frac\{?(-?[\d.]+)\}?\{?(-?[\d.]+)\}?", s) or re.fullmatch(
        r"(-?)\(?(-?[\d.]+)\)?/\(?(-?[\d.]+)\)?", s
    )
    if m:
        try:
            val = float(m.group(2)) / float(m.group(3))
        except (ValueError, ZeroDivisionError):
            return None
        return -val if m.group(1) else val
    return None


def _latex_to_sympy(s: str):
    import sympy

    t = s
    for _ in range(5):  # \frac{a}{b} -> ((a)/(b)), innermost first
        t2 = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"((\1)/(\2))", t)
        t2 = re.sub(r"\\sqrt\{([^{}]*)\}", r"sqrt(\1)", t2)
        t2 = re.sub(r"\\sqrt(\d)", r"sqrt(\1)", t2)
        if t2 == t:
            break
        t = t2
    t = t.replace("\\pi", "pi").replace("\\cdot", "*").replace("\\times", "*").replace("^", "**")
    t = t.replace("{", "(").replace("}", ")").replace("\\", "")
    from sympy.parsing.sympy_parser import (
        implicit_multiplication_application,
        parse_expr,
        standard_transformations,
    )

    return parse_expr(
        t, transformations=(*standard_transformations, implicit_multiplication_application),
        evaluate=True, local_dict={"pi": sympy.pi, "e": sympy.E, "i": sympy.I},
    )  # fmt: skip


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=_REL_TOL, abs_tol=_ABS_TOL)


def math_equal(pred: object, gold: object) -> bool:
    """Whether the prediction equals the reference answer."""
    if pred is None:
        return False
    p, g = normalize(str(pred)), normalize(str(gold))
    if not p:
        return False
    if p == g:
        return True
    # Percentages: "50%" equals 50 and 0.5.
    p_pct, g_pct = p.endswith("%"), g.endswith("%")
    pn, gn = _to_number(p.rstrip("%").strip()), _to_number(g.rstrip("%").strip())
    if pn is not None and gn is not None:
        if _close(pn, gn):
            return True
        if p_pct != g_pct:
            return _close(pn / 100, gn) if p_pct else _close(pn, gn / 100)
        return False
    # Tuples / lists: element-wise.
    pi, gi = _split_items(p), _split_items(g)
    if len(pi) > 1 or len(gi) > 1:
        return len(pi) == len(gi) and all(math_equal(a, b) for a, b in zip(pi, gi, strict=True))
    try:
        import sympy

        a, b = _latex_to_sympy(p), _latex_to_sympy(g)
        diff = sympy.simplify(a - b)
        if diff == 0:
            return True
        return bool(diff.is_number and abs(complex(diff.evalf())) < _ABS_TOL)
    except Exception:  # noqa: BLE001 - anything sympy cannot read is simply not equal
        return False


def _split_items(s: str) -> list[str]:
    s = s.strip()
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]":
        s = s[1:-1]
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", s):
        return [s]  # a number with thousands separators
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return [x for x in parts if x]
