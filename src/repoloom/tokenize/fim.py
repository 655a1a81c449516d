"""Fill-in-the-Middle as a pure function of (text, document id, rate, seed).

The report applies FIM to documents before packing, PSM mode, rate 0.5 (PAPER_NOTES section 3).
A document is split at two uniform random *character* positions into prefix, middle and suffix
(empty parts allowed) and laid out as

* PSM: ``<｜fim▁begin｜> prefix <｜fim▁hole｜> suffix <｜fim▁end｜> middle``
* SPM (Megatron/bigcode "variant 2"): ``<｜fim▁begin｜><｜fim▁hole｜> suffix <｜fim▁end｜> prefix middle``

followed by EOS like any document. The random draw comes from a generator seeded with a hash of
``(seed, doc_id)`` only, so the result never depends on worker count, chunking or resume point.

Example::

    >>> from repoloom.tokenize.fim import fim_split, fim_layout
    >>> s = fim_split("def f():\\n    return 1\\n", "repo/a.py", fim_rate=1.0, spm_rate=0.0, seed=7)
    >>> s.mode, s.prefix + s.middle + s.suffix == "def f():\\n    return 1\\n"
    ('psm', True)
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from repoloom.tokenize.release import EOS, FIM_BEGIN, FIM_END, FIM_HOLE, PAD

NONE, PSM, SPM = "none", "psm", "spm"


@dataclass(frozen=True)
class FimSplit:
    """The FIM decision for one document. ``mode == "none"`` keeps the text whole (in ``prefix``)."""

    mode: str
    prefix: str
    middle: str
    suffix: str

    @property
    def text(self) -> str:
        """The original document."""
        return self.prefix + self.middle + self.suffix


def _rng(seed: int, doc_id: str) -> random.Random:
    digest = hashlib.blake2b(f"{seed}\x00{doc_id}".encode(), digest_size=16).digest()
    return random.Random(int.from_bytes(digest, "little"))


def fim_split(
    text: str, doc_id: str, *, fim_rate: float = 0.5, spm_rate: float = 0.0, seed: int = 0
) -> FimSplit:
    """Decide whether ``text`` becomes a FIM sample and where it is cut.

    Draw order (fixed, part of the format): u_fim, u_spm, then two cut positions uniform over
    ``0..len(text)`` (sorted). Documents selected for FIM always consume all four draws, so the
    choice of mode never shifts the cut positions.
    """
    if not 0.0 <= fim_rate <= 1.0 or not 0.0 <= spm_rate <= 1.0:
        raise ValueError(f"fim_rate and spm_rate must lie in [0, 1], got {fim_rate}, {spm_rate}")
    rng = _rng(seed, doc_id)
    u_fim = rng.random()
    u_spm = rng.random()
    if u_fim >= fim_rate:
        return FimSplit(NONE, text, "", "")
    a = rng.randint(0, len(text))
    b = rng.randint(0, len(text))
    lo, hi = (a, b) if a <= b else (b, a)
    mode = SPM if u_spm < spm_rate else PSM
    return FimSplit(mode, text[:lo], text[lo:hi], text[hi:])


def fim_layout(split: FimSplit) -> list[tuple[str, bool]]:
    """The sample as ``(piece, is_sentinel)`` in training order (EOS not included)."""
    if split.mode == NONE:
        return [(split.prefix, False)]
    if split.mode == PSM:
        return [
            (FIM_BEGIN, True),
            (split.prefix, False),
            (FIM_HOLE, True),
            (split.suffix, False),
            (FIM_END, True),
            (split.middle, False),
        ]
    if split.mode == SPM:
        return [
            (FIM_BEGIN, True),
            (FIM_HOLE, True),
            (split.suffix, False),
            (FIM_END, True),
            (split.prefix, False),
            (split.middle, False),
        ]
    raise ValueError(f"unknown FIM mode {split.mode!r}")


def fim_text(split: FimSplit) -> str:
    """The sample as one string with the sentinels inlined."""
    return "".join(piece for piece, _ in fim_layout(split))


def undo_fim(sample: str) -> str:
    """Invert :func:`fim_text`: recover the document from a PSM, SPM or plain sample.

    Raises ``ValueError`` when the sentinels are not in one of the two layouts. (A document
    that itself contains sentinel strings is ambiguous; corpora should not contain them.)
    """
    if not sample.startswith(FIM_BEGIN):
        return sample
    body = sample[len(FIM_BEGIN) :]
    if body.startswith(FIM_HOLE):  # SPM: hole suffix end prefix+middle
        suffix, sep, rest = body[len(FIM_HOLE) :].partition(FIM_END)
        if not sep:
            raise ValueError("SPM sample without <｜fim▁end｜>")
        return rest + suffix
    prefix, sep, rest = body.partition(FIM_HOLE)
    if not sep:
        raise ValueError("PSM sample without <｜fim▁hole｜>")
    suffix, sep, middle = rest.partition(FIM_END)
    if not sep:
        raise ValueError("PSM sample without <｜fim▁end｜>")
    return prefix + middle + suffix


def split_files(text: str, paths: list[str], header_template: str = "# {path}") -> list[str] | None:
    """Cut a repository sample back into its rendered files (header line included).

    The corpus renders each file as ``header + "\\n" + text + "\\n"`` in ``paths`` order. Returns
    the pieces (their concatenation is ``text``) or ``None`` when a header is not found in order.
    A one-file sample without a header (the corpus's file-level samples) is returned whole.
    """
    if not paths:
        return None
    if len(paths) == 1 and not text.startswith(header_template.format(path=paths[0]) + "\n"):
        return [text]  # a file-level sample is rendered without a header
    starts = []
    pos = 0
    for p in paths:
        header = header_template.format(path=p) + "\n"
        if pos == 0 and not starts:
            idx = 0 if text.startswith(header) else -1
        else:
            idx = text.find("\n" + header, pos)
            idx = idx + 1 if idx >= 0 else -1
        if idx < 0:
            return None
        starts.append(idx)
        pos = idx + len(header)
    starts.append(len(text))
    return [text[starts[i] : starts[i + 1]] for i in range(len(paths))]


class FragmentFim:
    """FIM per fragment of a packed window, Megatron's variant ("after packing").

    A window of token ids is cut at EOS into fragments; each fragment is decoded to text, given
    its own draw keyed by ``(seed, f"{sample_id}/{fragment number}")``, and re-encoded in the
    PSM/SPM layout; fragments without FIM keep their tokens. The result is cut back to the window
    length, or padded with ``<pad>`` (``keep`` marks the real tokens so the loss can skip pads).
    A fragment cut by the window edge may begin or end inside a character; its decode then holds
    U+FFFD, exactly as in Megatron. Use with ``repoloom tokenize --fim-rate 0`` and
    ``TokenWindowDataset(..., fragment_fim=FragmentFim(...))``.
    """

    def __init__(
        self, tokenizer_dir: str, *, fim_rate: float = 0.5, spm_rate: float = 0.0, seed: int = 0
    ) -> None:
        from tokenizers import Tokenizer

        self.tokenizer_dir = str(tokenizer_dir)
        self.tok = Tokenizer.from_file(f"{tokenizer_dir}/tokenizer.json")
        self.fim_rate, self.spm_rate, self.seed = fim_rate, spm_rate, seed
        ids = {t: self.tok.token_to_id(t) for t in (EOS, PAD, FIM_BEGIN, FIM_HOLE, FIM_END)}
        if None in ids.values():
            raise ValueError(f"{tokenizer_dir}: tokenizer lacks one of {sorted(ids)}")
        self.ids = ids
        self.eos_id, self.pad_id = ids[EOS], ids[PAD]

    def __call__(self, window, sample_id: int | str):  # (np.ndarray, ...) -> (tokens, keep)
        import numpy as np

        window = np.asarray(window, dtype=np.int64)
        n = window.size
        cuts = np.flatnonzero(window == self.eos_id)
        starts = np.concatenate([[0], cuts + 1])
        stops = np.concatenate([cuts, [n]])
        parts = []
        for j, (a, b) in enumerate(zip(starts, stops, strict=True)):
            frag = window[a:b]
            if frag.size:
                text = self.tok.decode(frag.tolist(), skip_special_tokens=False)
                split = fim_split(
                    text,
                    f"{sample_id}/{j}",
                    fim_rate=self.fim_rate,
                    spm_rate=self.spm_rate,
                    seed=self.seed,
                )
                if split.mode == NONE:
                    parts.append(frag)
                else:
                    ids: list[int] = []
                    for piece, sentinel in fim_layout(split):
                        if sentinel:
                            ids.append(self.ids[piece])
                        elif piece:
                            ids += self.tok.encode(piece, add_special_tokens=False).ids
                    parts.append(np.asarray(ids, dtype=np.int64))
            if b < n:
                parts.append(np.asarray([self.eos_id], dtype=np.int64))
        out = np.concatenate(parts) if parts else window[:0]
        keep = np.ones(n, dtype=bool)
        if out.size >= n:
            return out[:n], keep
        keep[out.size :] = False
        return np.concatenate([out, np.full(n - out.size, self.pad_id, dtype=np.int64)]), keep
