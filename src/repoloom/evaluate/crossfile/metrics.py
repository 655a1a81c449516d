"""CrossCodeEval's line-completion metrics: exact match, edit similarity, identifier EM and F1.

Definitions follow the public CrossCodeEval scorer (``scripts/eval_metric.py`` and
``eval_utils.py`` of amazon-science/cceval), re-implemented here:

- both texts lose ``#...`` and ``//...`` comments (CrossCodeEval's ``remove_comments`` applies both
  patterns to every language, also inside strings; applied to prediction and ground truth alike);
- **exact match**: the non-empty stripped lines are equal. repoloom's ground truth is one line,
  and the prediction is cut to its first non-empty line first (CrossCodeEval cuts a prediction to
  one statement with a parser; for a one-line target the first non-empty line is that cut);
- **edit similarity**: ``fuzzywuzzy.fuzz.ratio`` of the stripped texts, i.e. the Levenshtein
  (InDel) ratio ``100 * (1 - indel_distance / (len(a) + len(b)))`` rounded to an integer, here
  computed by ``rapidfuzz`` and divided by 100 (so 0..1). fuzzywuzzy falls back to difflib when
  python-Levenshtein is missing, which can differ by a point or two on some pairs;
- **identifiers**: string literals removed, ``\\w+`` tokens that start like an identifier and are
  not keywords of the language (CrossCodeEval's ``keywords/`` lists; Python: ``keyword.kwlist``
  without True/False). **identifier EM**: the two identifier lists (order and repeats count) are
  equal; **identifier F1** over the identifier *sets*: ``2tp / (2tp + fp + fn)``, 0 when both are
  empty (as CrossCodeEval).
"""

from __future__ import annotations

import keyword
import re

_JAVA = """abstract assert boolean break byte case catch char class continue default do double else
enum extends final finally float for if implements import instanceof int interface long native new
package private protected public return short static strictfp super switch synchronized this throw
throws transient try void volatile while var const goto"""
_TYPESCRIPT = """break case catch class const continue debugger default delete do else export extends
finally for function if import in instanceof new return super switch this throw try typeof var void
while with yield enum implements interface let package private protected public static"""
_CSHARP = """abstract as base bool break byte case catch char checked class const continue decimal
default delegate do double else enum event explicit extern finally fixed float for foreach goto if
implicit in int interface internal is lock long namespace new null object operator out override
params private protected public readonly ref return sbyte sealed short sizeof stackalloc static
string struct switch this throw try typeof uint ulong unchecked unsafe ushort using virtual void
volatile while"""

KEYWORDS: dict[str, frozenset[str]] = {
    "python": frozenset(k for k in keyword.kwlist if k not in ("True", "False")),
    "java": frozenset(_JAVA.split()),
    "typescript": frozenset(_TYPESCRIPT.split()),
    "c-sharp": frozenset(_CSHARP.split()),
}
_ALIASES = {"csharp": "c-sharp", "c_sharp": "c-sharp", "ts": "typescript", "py": "python"}

_IDENTIFIER = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_STRING = re.compile(r'"([^"\\]*(\\.[^"\\]*)*)"|\'([^\'\\]*(\\.[^\'\\]*)*)\'')
_WORD = re.compile(r"\w+")


def keywords(language: str) -> frozenset[str]:
    lang = _ALIASES.get(language, language)
    if lang not in KEYWORDS:
        raise ValueError(f"no keyword list for language {language!r}; known: {sorted(KEYWORDS)}")
    return KEYWORDS[lang]


def remove_comments(code: str) -> str:
    """CrossCodeEval's ``remove_comments``: drop ``#...`` and ``//...`` to the end of each line."""
    return re.sub(r"//.*", "", re.sub(r"#.*", "", code))


def first_line(text: str) -> str:
    """The first non-empty (non-blank) line of ``text``, '' when there is none."""
    for line in text.split("\n"):
        if line.strip():
            return line
    return ""


def extract_identifiers(code: str, language: str) -> list[str]:
    """Identifiers of ``code`` in order (repeats kept): strings removed, keywords dropped."""
    kws = keywords(language)
    code = _STRING.sub("", code)
    return [t for t in _WORD.findall(code) if _IDENTIFIER.match(t) and t not in kws]


def edit_similarity(prediction: str, groundtruth: str) -> float:
    """fuzzywuzzy's ``fuzz.ratio`` of the stripped texts (an integer percentage) / 100."""
    from rapidfuzz import fuzz

    a, b = prediction.strip(), groundtruth.strip()
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    return int(round(fuzz.ratio(a, b))) / 100.0


def identifier_f1(pred_ids: list[str], target_ids: list[str]) -> float:
    pred, target = set(pred_ids), set(target_ids)
    tp = len(pred & target)
    fp = len(pred - target)
    fn = len(target - pred)
    denom = 2 * tp + fp + fn
    return 2 * tp / denom if denom else 0.0


def score_line(prediction: str, groundtruth: str, language: str) -> dict[str, float]:
    """``{"em", "es", "id_em", "id_f1"}`` (each 0..1) of a predicted line against the true one.

    ``prediction`` may be a raw generation: its first non-empty line is scored.
    """
    keywords(language)  # an unknown language is an error, not a silent score
    pred = remove_comments(first_line(prediction))
    target = remove_comments(groundtruth)
    pred_lines = [ln.strip() for ln in pred.split("\n") if ln.strip()]
    target_lines = [ln.strip() for ln in target.split("\n") if ln.strip()]
    pred_ids = extract_identifiers(pred, language)
    target_ids = extract_identifiers(target, language)
    return {
        "em": float(pred_lines == target_lines),
        "es": edit_similarity(pred, target),
        "id_em": float(pred_ids == target_ids),
        "id_f1": identifier_f1(pred_ids, target_ids),
    }
