"""Word similarity from two kinds of word vectors, computed on the same corpus:

- contextual: each occurrence of a word gets the encoder's vector for it in its sentence
  (``embed_words``: its pieces pooled); a word's vector is the mean over its occurrences;
- static: positive pointwise mutual information of word co-occurrences within a window
  (weighted 1/distance), reduced by a truncated SVD (the classic count-based baseline of
  Levy, Goldberg and Dagan, 2015).

Words are lower-cased and split as BERT's pre-tokenizer splits them (whitespace, then
punctuation; every CJK character on its own), so both spaces hold the same units. Both
keep the ``max_words`` most frequent words seen at least ``min_count`` times; neighbours
are by cosine similarity.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..batch import check_int
from ..errors import ConfigError

# the CJK blocks BERT's pre-tokenizer cuts into characters, as our tokenizer (and HF's
# `tokenizers`, whose ranges it shares) has them: not U+2B820..U+2B91F (transformers'
# Python tokenizer has them), nor the later extensions (U+2CEB0.., U+30000..), which stay
# in runs as letters do
_CJK = (
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df\U0002a700-\U0002b81f"
    "\U0002b920-\U0002ceaf\U0002f800-\U0002fa1f"
)


def _bert_punctuation() -> str:
    """A character class of what BERT's basic tokenizer cuts out as one-character words:
    ASCII symbols, and every Unicode punctuation mark (categories P*)."""
    import sys
    import unicodedata

    marks = [chr(c) for c in range(33, 127) if not chr(c).isalnum()]
    marks += [chr(c) for c in range(128, sys.maxunicode + 1)
              if unicodedata.category(chr(c)).startswith("P")]  # fmt: skip
    return "".join(re.escape(m) for m in marks)


_WORD: re.Pattern[str] | None = None

# white space to BERT's pre-tokenizer (Unicode's White_Space, but for the controls its
# normalizer deletes first) and to a byte-level BPE's pattern alike; text between them
_SPACE = " \t\n\r\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_RUN = re.compile(f"[^{_SPACE}]+")


def _bert_deleted() -> str:
    """A character class of what BERT's normalizer deletes (``clean_text``): NUL, U+FFFD
    and the control, format, private-use and surrogate characters (Cc, Cf, Co, Cs) other
    than tab and the line ends, as ranges; unassigned ones are kept, as the tokenizer's
    tables keep them (a newer Unicode may have assigned them: U+2B81F is CJK there)."""
    import sys
    import unicodedata

    def deleted(c: str) -> bool:
        cat = unicodedata.category(c)
        return c in "\x00\ufffd" or (cat in ("Cc", "Cf", "Co", "Cs") and c not in "\t\n\r")

    ranges, start = [], None
    for c in range(sys.maxunicode + 2):
        inside = c <= sys.maxunicode and deleted(chr(c))
        if inside and start is None:
            start = c
        elif not inside and start is not None:
            ranges.append(f"\\U{start:08x}-\\U{c - 1:08x}")
            start = None
    return "".join(ranges)


def words_of(text: str) -> list[str]:
    """The lower-cased words of ``text`` as BERT's basic tokenizer splits them: at
    whitespace, each punctuation mark and each CJK character a word of its own, anything
    else (letters with their combining marks, symbols such as € or emoji) in runs. Each
    word is lower-cased alone, as ``embed_words``' are (the whole text lower-cased spelled
    a final sigma by what followed the word: one word, two entries). A rule of thumb
    without a tokenizer: special-token text (``[MASK]``) is split, and a combining mark
    after a punctuation mark or a CJK character is a word of its own, where a tokenizer's
    words may differ; ``cooccurrence_space(tokenizer=...)`` takes the tokenizer's."""
    global _WORD
    if _WORD is None:  # built once: the classes span all of Unicode
        marks, deleted = _bert_punctuation(), _bert_deleted()
        letter = f"[^{_SPACE}{_CJK}{marks}{deleted}]"
        # the control characters BERT deletes are no spaces: inside a run they join what
        # is around them ("page\x0cbreak" is one word, spelled as in the text, as the
        # tokenizer's offsets give it); alone they are no word
        _WORD = re.compile(f"[{_CJK}]|[{marks}]|{letter}(?:[{deleted}]*{letter})*")
    return [word.lower() for word in _WORD.findall(text)]


@dataclass
class WordSpace:
    """Words, their unit-length vectors (n_words, dim) and how often each was seen."""

    words: list[str]
    vectors: npt.NDArray[np.float32]
    counts: npt.NDArray[np.int64]
    kind: str = ""

    def __post_init__(self) -> None:
        self._index = {w: i for i, w in enumerate(self.words)}

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and word.lower() in self._index

    def neighbours(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` words most similar to ``word`` (cosine), the word itself left out."""
        if not isinstance(word, str):
            raise TypeError(f"word must be a str, got {type(word).__name__}")
        i = self._index.get(word.lower())
        if i is None:
            raise ConfigError(
                f"{word!r} is not among the {len(self.words)} words of this {self.kind} space "
                "(too rare in the corpus: lower min_count or raise max_words)"
            )
        check_int("k", k, least=1)
        if not self.vectors[i].any():
            raise ConfigError(
                f"{word!r} has no vector in this {self.kind} space: it never occurs within "
                "the window of another of its words; give more text"
            )
        scores = self.vectors @ self.vectors[i]
        # candidates: every other word with a vector (words with none are no one's; kept
        # at -inf, they and the word itself came out once k passed the others)
        others = np.flatnonzero(self.vectors.any(axis=1))
        others = others[others != i]
        best = others[np.argsort(-scores[others], kind="stable")[:k]]
        return [(self.words[j], float(scores[j])) for j in best]


def _vocabulary(sentences: Sequence[list[str]], min_count: int, max_words: int) -> list[str]:
    check_int("min_count", min_count)
    check_int("max_words", max_words, least=1)
    counts = Counter(w for s in sentences for w in s)
    kept = sorted((c, w) for w, c in counts.items() if c >= min_count)
    kept.sort(key=lambda cw: (-cw[0], cw[1]))
    if not kept:
        raise ConfigError(f"no word occurs {min_count}+ times; give more text or lower min_count")
    return [w for _, w in kept[:max_words]]


def _corpus(texts: Iterable[str]) -> list[str]:
    """``texts`` as a list of strings; a string alone is refused (its characters would be
    the texts)."""
    from .represent import _texts

    return _texts(texts, 1)


def _unit(x: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit: npt.NDArray[np.float32] = (x / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


def cooccurrence_space(
    texts: Iterable[str],
    *,
    tokenizer: Any = None,
    window: int = 4,
    dim: int = 100,
    min_count: int = 5,
    max_words: int = 3000,
    seed: int = 0,
) -> WordSpace:
    """Static word vectors: PPMI of co-occurrences within ``window`` words, truncated to
    ``dim`` dimensions by a (randomized) SVD; a word's vector is ``U·sqrt(S)``. Words are
    the ``tokenizer``'s (its ``word_ids``) when one is given, else ``words_of``'s."""
    texts = _corpus(texts)
    check_int("window", window, least=1)
    check_int("dim", dim, least=1)
    check_int("seed", seed, least=0)
    sentences = (
        _tokenizer_words(tokenizer, texts)
        if tokenizer is not None
        else [words_of(t) for t in texts]
    )
    vocab = _vocabulary(sentences, min_count, max_words)
    index = {w: i for i, w in enumerate(vocab)}
    n = len(vocab)
    # sparse, summed a chunk at a time: a dense n x n count (and its PPMI) took three
    # copies of n^2 floats, and all pairs at once memory in proportion to the corpus
    keys: Any = np.zeros(0, np.int64)
    counts: Any = np.zeros(0)
    pairs: list[npt.NDArray[np.int64]] = []
    weights: list[npt.NDArray[np.float64]] = []
    held = 0
    for number, s in enumerate(sentences, 1):
        ids = np.array([index.get(w, -1) for w in s], dtype=np.int64)
        for d in range(1, min(window, len(ids) - 1) + 1):
            a, b = ids[:-d], ids[d:]
            both = (a >= 0) & (b >= 0)
            pairs += [a[both] * n + b[both], b[both] * n + a[both]]
            weights.append(np.full(2 * int(both.sum()), 1.0 / d))
            held += 2 * int(both.sum())
        if held > 1 << 21 or number == len(sentences):
            keys, at = np.unique(np.concatenate([keys, *pairs]), return_inverse=True)
            counts = np.bincount(at, weights=np.concatenate([counts, *weights]))
            pairs, weights, held = [], [], 0
    if not keys.size:
        raise ConfigError("no two kept words co-occur; give more text")
    rows, cols = keys // n, keys % n
    marginal = np.bincount(rows, weights=counts, minlength=n)  # (symmetric: rows = columns)
    pmi = np.log(counts * counts.sum() / (marginal[rows] * marginal[cols]))
    keep = pmi > 0
    ppmi = _Symmetric(rows[keep], cols[keep], pmi[keep], n)
    u, values = truncated_svd(ppmi, min(dim, n - 1) if n > 1 else 1, seed=seed)
    vectors = u * np.sqrt(values)
    vectors[np.bincount(rows[keep], minlength=n) == 0] = 0.0  # no PPMI: SVD rounding noise
    seen = Counter(w for sent in sentences for w in sent)
    frequency = np.array([seen[w] for w in vocab], dtype=np.int64)
    return WordSpace(vocab, _unit(vectors), frequency, "co-occurrence")


class _Symmetric:
    """A sparse symmetric matrix, as much of one as ``truncated_svd`` uses: ``m @ x``,
    ``x @ m``, ``m.T`` and ``shape``."""

    __array_ufunc__ = None  # (so that ndarray @ this comes to __rmatmul__)

    def __init__(self, rows: Any, cols: Any, values: Any, n: int) -> None:
        import torch

        self.shape = (n, n)
        self.T = self
        index = torch.from_numpy(np.stack([rows, cols]))
        self._m = torch.sparse_coo_tensor(index, torch.from_numpy(values), self.shape,
                                          check_invariants=True)  # fmt: skip
        self._m = self._m.coalesce()

    def __matmul__(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        import torch

        from ..ops.reproducible import one_thread

        with one_thread():  # (the same sums whatever the thread count)
            out: npt.NDArray[np.float64] = torch.sparse.mm(self._m, torch.from_numpy(x)).numpy()
        return out

    def __rmatmul__(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = (self @ np.ascontiguousarray(x.T)).T  # m symmetric
        return out


def _tokenizer_words(tok: Any, texts: list[str], batch: int = 1024) -> list[list[str]]:
    """Each text's words as the tokenizer's pre-tokenizer splits them, lower-cased: the
    words ``embed_words`` gives (a byte-level BPE framed the same way, its whitespace-only
    pieces left out)."""
    from .hf import bert_framed
    from .represent import check_lexforge_tokenizer, word_texts

    check_lexforge_tokenizer(tok)  # (anything else: an AttributeError on _pad_id)
    tok = bert_framed(tok)
    out: list[list[str]] = []
    for at in range(0, len(texts), batch):
        chunk = texts[at : at + batch]
        enc = _tokens(tok, chunk, add_special_tokens=False, padding=True, truncation=False,
                      return_tensors="np", return_word_ids=True, return_offsets=True)  # fmt: skip
        for row, text in enumerate(chunk):
            spans: dict[int, list[int]] = {}
            for w, (a, b) in zip(enc["word_ids"][row].tolist(), enc["offsets"][row].tolist(),
                                 strict=True):  # fmt: skip
                if w >= 0:
                    span = spans.setdefault(w, [a, b])
                    span[0], span[1] = min(span[0], a), max(span[1], b)
            words = word_texts(text, [span for _, span in sorted(spans.items())])
            out.append([w.lower() for w in words if w])  # as embed_words gives them
    return out


def truncated_svd(
    m: Any, k: int, *, oversample: int = 10, iterations: int = 4, seed: int = 0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The top ``k`` left singular vectors and values of ``m`` (an array, or anything with
    ``@``, ``.T`` and ``shape``) by randomized range finding with power iterations (Halko,
    Martinsson and Tropp, 2011)."""
    rng = np.random.default_rng(seed)
    probe = rng.standard_normal((m.shape[1], min(k + oversample, min(m.shape))))
    q, _ = np.linalg.qr(m @ probe)
    for _ in range(iterations):
        q, _ = np.linalg.qr(m.T @ q)
        q, _ = np.linalg.qr(m @ q)
    u_small, s, _ = np.linalg.svd(q.T @ m, full_matrices=False)
    return (q @ u_small)[:, :k], s[:k]


def contextual_space(
    model: Any,
    texts: Sequence[str],
    *,
    tokenizer: Any = None,
    min_count: int = 5,
    max_words: int = 3000,
    pooling: str = "mean",
    batch_size: int = 32,
    max_words_per_text: int = 64,
) -> WordSpace:
    """Contextual word vectors averaged over every occurrence in ``texts`` (each text cut
    into runs of at most ``max_words_per_text`` runs of non-space characters, "cat,dog"
    one of them though it holds three words, and further at word starts where those would
    not fit the model's positions: Chinese has no spaces, and a URL is dozens of
    tokens)."""
    from .represent import _tokenizer, embed_words

    texts = _corpus(texts)
    check_int("max_words_per_text", max_words_per_text, least=1)
    pieces: list[str] = []
    for text in texts:
        # runs of words cut from the text as it is (only at white space to every
        # tokenizer: str.split's also takes \x0c, \x85..., which BERT deletes, joining
        # the letters around them into one word)
        spans = [m.span() for m in _RUN.finditer(text)]
        for at in range(0, len(spans), max_words_per_text):
            last = spans[min(at + max_words_per_text, len(spans)) - 1]
            pieces.append(text[spans[at][0] : last[1]])
    pieces = _fitting(_tokenizer(model, tokenizer), pieces, model.config.max_position_embeddings)
    found = embed_words(model, pieces, tokenizer=tokenizer, pooling=pooling,  # type: ignore[arg-type]
                        batch_size=batch_size)  # fmt: skip
    sentences = [[w.lower() for w in f.words] for f in found]
    vocab = _vocabulary(sentences, min_count, max_words)
    index = {w: i for i, w in enumerate(vocab)}
    dim = found[0].vectors.shape[1] if found else 0
    sums = np.zeros((len(vocab), dim), dtype=np.float64)
    counts = np.zeros(len(vocab), dtype=np.int64)
    for f, words in zip(found, sentences, strict=True):
        for w, vector in zip(words, f.vectors, strict=True):
            i = index.get(w)
            if i is not None:
                sums[i] += vector
                counts[i] += 1
    return WordSpace(vocab, _unit(sums / counts[:, None]), counts, "contextual")


def _fitting(tok: Any, pieces: list[str], positions: int) -> list[str]:
    """``pieces`` with those of more tokens than fit ``positions`` (less the template's
    [CLS] and [SEP]) cut at word starts (inside a word only when it alone is too long;
    never inside a character: a byte-level BPE spells a rare one in several tokens). A cut
    piece is encoded again, and cut again if it still does not fit (its tokens at the cut
    may merge differently)."""
    from .represent import _take_marks

    limit = max(1, positions - 2)
    out: list[str] = []
    for first in range(0, len(pieces), 256):
        batch = pieces[first : first + 256]
        enc = _tokens(tok, batch, add_special_tokens=False, truncation=False, padding=True,
                      return_tensors="np", return_word_ids=True, return_offsets=True)  # fmt: skip
        for row, piece in enumerate(batch):
            n = int(enc["attention_mask"][row].sum())
            if n <= limit:
                out.append(piece)
                continue
            cuts = [
                list(c) for c in _cuts(enc["word_ids"][row][:n], enc["offsets"][row][:n], limit)
            ]
            _take_marks(piece, cuts)  # that a tokenizer strips: Hindi's vowel signs end words
            parts = [piece[a:b] for a, b in cuts]
            if len(parts) == 1:  # one character alone is more tokens than fit
                raise ConfigError(
                    f"{piece!r} is {n} tokens that cannot be cut between characters, more "
                    f"than the model's {positions} positions allow"
                )
            out += _fitting(tok, parts, positions)
    return out


def _cuts(words: Any, offsets: Any, limit: int) -> list[tuple[int, int]]:
    """Character spans of runs of at most ``limit`` tokens, each ending at a word start
    where one falls in the run (else inside the word), never between the tokens of one
    character (which share its offsets)."""
    n = len(words)
    spans: list[tuple[int, int]] = []
    start = 0
    while start < n:
        end = min(n, start + limit)
        if end < n:
            cut = end
            while cut > start + 1 and words[cut] == words[cut - 1]:
                cut -= 1  # back to the start of the word the limit falls in
            if words[cut] != words[cut - 1]:
                end = cut
            while end > start + 1 and offsets[end][0] < offsets[end - 1][1]:
                end -= 1  # not inside a character
            if offsets[end][0] < offsets[end - 1][1]:  # one character spans the run
                return [(int(offsets[0][0]), int(offsets[n - 1][1]))]
        spans.append((int(offsets[start][0]), int(offsets[end - 1][1])))
        start = end
    return spans


def _tokens(tok: Any, texts: list[str], **options: Any) -> Any:
    """``tok.encode_batch(texts, **options)``, a byte-level BPE's special-token texts (a
    ``[MASK]`` in the corpus) read as its special tokens, as ``embed_words`` reads them;
    padded with id 0 by a tokenizer without a padding token."""
    from ..bpe import BpeTokenizer

    if isinstance(tok, BpeTokenizer):
        options["allowed_special"] = "all"
    if options.get("padding") and tok._pad_id() is None:  # rows are read by their masks
        options["pad_token_id"] = 0
    return tok.encode_batch(texts, **options)


def compare(spaces: Sequence[WordSpace], probes: Sequence[str], k: int = 8) -> list[dict[str, Any]]:
    """For each probe word found in every space, its neighbours in each (keyed by the
    space's ``kind``, numbered when two spaces share one), and how many of them the
    spaces share."""
    if isinstance(probes, str):  # its characters would be the probes
        raise TypeError(f"probes is a list of words; pass [{probes!r}]")
    spaces = list(spaces)
    if not spaces:
        raise ConfigError("compare needs at least one word space")
    kinds = [s.kind for s in spaces]
    names = [kind if kinds.count(kind) == 1 else f"{kind} {kinds[:i + 1].count(kind)}"
             for i, kind in enumerate(kinds)]  # fmt: skip
    rows = []
    for word in probes:
        if not all(word in s for s in spaces):
            continue
        found = {name: s.neighbours(word, k) for name, s in zip(names, spaces, strict=True)}
        shared = set.intersection(*({w for w, _ in n} for n in found.values()))
        rows.append({"word": word, "neighbours": found, "shared": sorted(shared)})
    return rows
