"""Saving a :class:`~lexforge.bpe.BpeTokenizer`: ``tokenizer.json`` (HF's format, which
keeps everything), GPT-2's ``vocab.json`` + ``merges.txt``, or a tiktoken rank file, with
the checks of what the last two cannot record (a refusal where a reader would get other
ids, a warning naming what a plain load would not restore). Reading the files is
:mod:`lexforge.formats`'s and :class:`lexforge.Tokenizer`'s.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Literal

from lexforge._bpe_base import BpeBase
from lexforge.errors import ConfigError
from lexforge.formats import atomic_write, gpt2, hf_json, names_folder, save_target, tiktoken
from lexforge.training import PathLike


class BpeSaving(BpeBase):
    """:class:`~lexforge.bpe.BpeTokenizer`'s ``save``."""

    def save(self, path: PathLike, *, format: Literal["hf", "gpt2", "tiktoken"] = "hf") -> None:
        """Saves the tokenizer: ``"hf"`` writes ``tokenizer.json`` (loads in HF
        ``tokenizers`` with identical ids; a directory, or a path ending in a separator
        (created), gets ``tokenizer.json`` inside),
        ``"gpt2"`` writes ``vocab.json`` + ``merges.txt`` into the directory ``path`` (only
        for the ``gpt2`` pattern, which the files cannot record: :class:`ConfigError`
        otherwise; special tokens other than ``<|endoftext|>`` lose their mark, with a
        warning),
        ``"tiktoken"`` writes a rank file, which records neither the pattern nor special
        tokens (a warning names what a plain load would not restore). Writes are atomic."""
        if format == "hf":
            target = save_target(path, "tokenizer.json")
            self._warn_shared_ids()
            atomic_write(target, json.dumps(self._hf_doc(), ensure_ascii=False, indent=1))
        elif format == "gpt2":
            if not os.fspath(path):  # Path("") would be the working directory
                raise ConfigError("the folder to save to is empty; name it")
            self._check_text_kept("gpt2")
            self._check_gpt2_format()
            self._warn_lost("gpt2")
            gpt2.save(self._core, Path(path))
        elif format == "tiktoken":
            if not os.fspath(path) or names_folder(path) or Path(path).is_dir():
                raise ConfigError(
                    f"{os.fsdecode(path) or 'the empty path'} names a folder; a tiktoken "
                    "rank file is one file: name it (e.g. ranks.tiktoken)"
                )
            self._check_text_kept("tiktoken")
            self._check_tiktoken_format(Path(path))
            self._warn_lost("tiktoken")
            tiktoken.save(self._core, Path(path))
        else:
            raise ValueError(f"unknown format {format!r}; use 'hf', 'gpt2' or 'tiktoken'")

    def _hf_doc(self, file: bool = True) -> dict[str, Any]:
        pad = self._padding
        return hf_json.dump(
            self._core, self._offsets, self._template,
            None if self._truncation is None else self._truncation.to_hf(),
            None if pad is None else pad.to_hf(self._token_text(pad.pad_id)),
            not self._join_tokens, file,
        )  # fmt: skip

    def _warn_shared_ids(self) -> None:
        """Special tokens sharing an id (as tiktoken's o200k_harmony has them) are saved
        each with the id, which lexforge reads back as they were; HF tokenizers keeps one
        text per id and reads the others as ordinary text."""
        by_id: dict[int, list[str]] = {}
        for text, tid in self._specials.items():
            by_id.setdefault(tid, []).append(text)
        shared = {i: t for i, t in by_id.items() if len(t) > 1}
        if shared:
            tid, texts = next(iter(sorted(shared.items())))
            more = f" (and {len(shared) - 1} more ids are shared)" if len(shared) > 1 else ""
            warnings.warn(
                f"the special tokens {texts} share id {tid}{more}: tokenizer.json keeps "
                "them all, which lexforge reads back as "
                "they are, but HF tokenizers reads only one text per id and encodes the "
                "others as ordinary text",
                UserWarning,
                stacklevel=3,
            )

    def _warn_lost(self, format: str) -> None:
        """Warns about what only tokenizer.json records: the template, lstrip, trimming."""
        lost = []
        if self._template is not None:
            lost.append("the special tokens put around each text (the template)")
        if self._truncation is not None or self._padding is not None:
            lost.append("the file's truncation and padding")
        if self._lstrip:
            names = sorted(t for t, i in self._specials.items() if i in self._lstrip)
            if names:
                lost.append(f"that {names} take the whitespace before them (lstrip)")
        if self._added:
            lost.append(f"the added tokens {sorted(self._added)} (HF's add_tokens)")
        options = {f: self._core.flagged(f) for f in ("rstrip", "single_word", "normalized")}
        flagged = sorted(
            t for t, i in self._specials.items() if any(i in v for v in options.values())
        )
        if flagged:
            lost.append(f"the rstrip, single_word and normalized options of {flagged}")
        if lost:
            warnings.warn(
                f"format={format!r} cannot record {' or '.join(lost)}; save with format='hf' "
                "to keep it",
                UserWarning,
                stacklevel=3,
            )
        if self._offsets is not None and self._offsets.trim:
            warnings.warn(
                f"format={format!r} cannot record that offsets leave out a token's spaces "
                "(trim_offsets in the tokenizer.json this was loaded from); a load of it "
                "gives spans with the spaces; save with format='hf' to keep it",
                UserWarning,
                stacklevel=3,
            )

    def _check_text_kept(self, format: str) -> None:
        """GPT-2's files and rank files record no normalizer and no space put before each
        text (ByteLevel's ``add_prefix_space``): any reader would cut the raw text, so
        every id could differ (``"Hello"`` lowercased before, not after). Refused."""
        lost = []
        if self._core.normalizer:
            lost.append(f"the normalizer ({', '.join(self._core.normalizer)})")
        if self._core.add_prefix_space:
            lost.append("the space put before each text (add_prefix_space)")
        if lost:
            raise ConfigError(
                f"format={format!r} cannot record {' or '.join(lost)}: a load of the file "
                "would cut the text as it is and give other ids; save with format='hf' "
                "(tokenizer.json)"
            )

    def _check_gpt2_format(self) -> None:
        """GPT-2's file pair records neither a pattern nor special tokens: every reader
        (lexforge, HF, GPT-2's own code) loads it with GPT-2's regex and ``<|endoftext|>``
        as the only special token. Another pattern would silently give other ids: refused.
        Other special tokens stay in ``vocab.json`` and only lose their mark (a reader can
        name them again): a warning."""
        if self.preset != "gpt2":
            raise ConfigError(
                f"format='gpt2' cannot record the pre-tokenization pattern "
                f"{self.preset or self.pattern!r}: vocab.json + merges.txt always load with "
                "GPT-2's pattern, which would give different ids; save with format='hf' "
                "(tokenizer.json) or format='tiktoken' (load with pattern=...)"
            )
        extra = sorted(set(self._specials) - set(gpt2.GPT2_SPECIALS))
        if extra:
            warnings.warn(
                f"format='gpt2' cannot mark {extra} as special tokens: vocab.json + merges.txt "
                "load them as ordinary tokens (encoded piece by piece in text); reload with "
                f"Tokenizer.from_gpt2(path, special_tokens={sorted(self._specials)!r}), or "
                "save with format='hf' (tokenizer.json), which keeps them",
                UserWarning,
                stacklevel=3,
            )

    def _check_tiktoken_format(self, path: Path) -> None:
        """A rank file holds only the mergeable tokens: loading takes the pattern and
        special tokens from the caller, or from the preset when the file is a shipped
        encoding's (``cl100k_base.tiktoken`` with cl100k's ranks). Whatever a plain load of
        ``path`` would not give back: a warning naming it and how to get it back."""
        preset = tiktoken.preset_for(path, len(self._core.vocab()))
        restored = tiktoken.PRESET_SPECIALS[preset] if preset else {}
        lost = []
        if self.preset is None or self.preset != preset:
            lost.append(f"the pre-tokenization pattern {self.preset or self.pattern!r}")
        if self._specials and self._specials != restored:
            lost.append(f"the special tokens {self._specials}")
        if lost:
            pattern = self.preset or self.pattern
            warnings.warn(
                f"format='tiktoken' cannot record {' or '.join(lost)}: a rank file holds only "
                f"the mergeable tokens; reload with Tokenizer.from_tiktoken(path, "
                f"pattern={pattern!r}, special_tokens={self._specials!r}), or save with "
                "format='hf' (tokenizer.json), which keeps them",
                UserWarning,
                stacklevel=3,
            )
