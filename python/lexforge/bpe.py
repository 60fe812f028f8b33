"""The byte-level BPE tokenizer (:class:`BpeTokenizer`): encode, decode, save.

Policy lives here (defaults, special-token safety, file formats, argument checks); the
mechanism is the Rust core (``lexforge._core.Bpe``), which runs every O(n) step with the
GIL released. Special tokens follow tiktoken's safety rule: by default a special token's
text inside ordinary input raises :class:`SpecialTokenError` instead of silently becoming
a control token; pass ``allowed_special`` to encode it, or ``disallowed_special=()`` to
encode it as plain text.

The class is assembled from parts, each in its own module: its state, special-token
policy, decoding and vocabulary (:mod:`lexforge._bpe_base`), the encode methods
(:mod:`lexforge._bpe_encode`) and saving (:mod:`lexforge._bpe_save`); templates live here.
"""

from __future__ import annotations

from collections.abc import Collection

from lexforge._bpe_encode import BpeEncoding
from lexforge._bpe_save import BpeSaving
from lexforge._core import Bpe
from lexforge.errors import ConfigError
from lexforge.formats import added, hf_post

__all__ = ["BpeTokenizer"]


class BpeTokenizer(BpeEncoding, BpeSaving):
    """A byte-level BPE tokenizer (GPT-2 / tiktoken family).

    Build one with :meth:`Tokenizer.train_bpe`, :meth:`Tokenizer.from_counts`,
    :meth:`Tokenizer.from_file`, :meth:`Tokenizer.from_tiktoken` or
    :meth:`Tokenizer.from_gpt2`.
    """

    def with_template(
        self,
        cls_token: str | None = "[CLS]",
        sep_token: str | None = "[SEP]",
        *,
        lstrip: Collection[str] = (),
    ) -> BpeTokenizer:
        """A copy that puts BERT's special tokens around every text: ``cls_token text
        sep_token`` (pairs in a saved file: ``cls A sep B sep``, B with type id 1), in the
        encode methods and in the ``tokenizer.json`` it saves, which HF loads the same
        (RoBERTa's framing is ``with_template("<s>", "</s>")``). The special tokens named
        in ``lstrip`` take the whitespace before them, as RoBERTa's ``<mask>`` does, so
        that ``"is [MASK]."`` masks the word ``" Paris"`` and not ``"Paris"`` after a lone
        space. ``with_template(None, None)``: no template. Offsets leave out a token's
        spaces (HF's ``trim_offsets``) in the copy."""
        for role, token in (("cls_token", cls_token), ("sep_token", sep_token)):
            if token is not None and token not in self._specials:
                raise ConfigError(
                    f"{role} {token!r} is not one of the special tokens "
                    f"{sorted(self._specials)}; train the tokenizer with it"
                )
        if isinstance(lstrip, str):
            raise TypeError(f"lstrip must be a collection of special tokens, not {lstrip!r}")
        strip = []
        for token in lstrip:
            if token not in self._specials:
                raise ConfigError(
                    f"lstrip names {token!r}, which is not a special token "
                    f"({sorted(self._specials)})"
                )
            strip.append(self._specials[token])
        core = self._core
        special_ids = set(self._specials.values())
        if sorted(strip) != sorted(self._lstrip & special_ids):
            vocab, text = self._core.vocab(), {i: t for t, i in self._core.vocab()}
            args = added.core_args(added.from_core(self._core))
            args["lstrip"] = strip + [i for i in args["lstrip"] if i not in special_ids]
            core = Bpe.from_merges(
                vocab, [(text[a], text[b]) for a, b in self._core.merges()],
                self._core.specials(), self._core.pattern, self._core.ignore_merges, **args,
                normalizer=self._core.normalizer, add_prefix_space=self._core.add_prefix_space,
            )  # fmt: skip
        pieces: list[hf_post.Piece] = []
        if cls_token is not None:
            pieces.append(("special", self._specials[cls_token], 0))
        pieces.append(("A", 0, 0))
        single = [*pieces]
        if sep_token is not None:
            single.append(("special", self._specials[sep_token], 0))
        pair = [*single, ("B", 0, 1)]
        if sep_token is not None:
            pair.append(("special", self._specials[sep_token], 1))
        template = None
        if cls_token is not None or sep_token is not None:
            template = hf_post.Template(tuple(single), tuple(pair))
        offsets = hf_post.OffsetTrim(trim=True, add_prefix_space=False)
        return BpeTokenizer(
            core, offsets=offsets, template=template, truncation=self._truncation,
            padding=self._padding, join_tokens=self._join_tokens,
        )  # fmt: skip

    @property
    def template(self) -> tuple[list[str], list[str]] | None:
        """The special tokens put before and after each text, None without a template."""
        if self._template is None:
            return None
        names: dict[int, str] = {}
        for text, tid in self._specials.items():
            names.setdefault(tid, text)
        t = self._template
        return [names[i] for i in t.prefix], [names[i] for i in t.suffix]

    @property
    def lstrip(self) -> list[str]:
        """The special tokens that take the whitespace before them."""
        return sorted(t for t, i in self._specials.items() if i in self._lstrip)

    def __repr__(self) -> str:
        return (
            f"BpeTokenizer(vocab_size={self.vocab_size}, pattern={self.preset or self.pattern!r}, "
            f"special_tokens={len(self._specials)}"
            + (f", template={self.template}" if self._template is not None else "")
            + ")"
        )
