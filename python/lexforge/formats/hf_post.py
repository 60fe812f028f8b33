"""What a byte-level BPE ``tokenizer.json`` does after the model and when decoding: the
post-processor (ByteLevel's offset trimming, and a ``TemplateProcessing``,
``BertProcessing`` or ``RobertaProcessing`` template, alone or in a ``Sequence``), read
and written back, and the decoder (ByteLevel, or none). :mod:`lexforge.formats.hf_json`
reads and writes the rest of the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lexforge._core import Bpe
from lexforge.errors import TokenizerFormatError


def _fail(path: Path, where: str, problem: str) -> TokenizerFormatError:
    return TokenizerFormatError(f"{path}: {where}: {problem}")


@dataclass(frozen=True)
class OffsetTrim:
    """The offset options of a ByteLevel post-processor: ``trim`` drops a token's spaces
    from its span, except (``add_prefix_space``) one space before the first token."""

    trim: bool = False
    add_prefix_space: bool = False


Piece = tuple[str, int, int]  # ("A" | "B" | "special", special id, type id)


@dataclass(frozen=True)
class Template:
    """Special tokens put around each text (``single``) and pair (``pair``), as HF's
    ``TemplateProcessing``: BERT's ``[CLS] A [SEP]`` / ``[CLS] A [SEP] B [SEP]``."""

    single: tuple[Piece, ...]
    pair: tuple[Piece, ...]
    # read from a RobertaProcessing, and written back as one: HF's TemplateProcessing of
    # the same pieces gives other type ids to a pair's overflowing windows
    roberta: bool = False

    @classmethod
    def bert(cls, cls_id: int, sep_id: int) -> Template:
        single = (("special", cls_id, 0), ("A", 0, 0), ("special", sep_id, 0))
        return cls(single, (*single, ("B", 0, 1), ("special", sep_id, 1)))

    @property
    def prefix(self) -> list[int]:
        """The ids before a single text."""
        at = [kind for kind, _, _ in self.single].index("A")
        return [tid for _, tid, _ in self.single[:at]]

    @property
    def suffix(self) -> list[int]:
        """The ids after a single text."""
        at = [kind for kind, _, _ in self.single].index("A")
        return [tid for _, tid, _ in self.single[at + 1 :]]


def flag(path: Path, where: str, post: dict[str, Any], key: str, default: bool = False) -> bool:
    """``post[key]`` (``default`` when absent), which must be true or false: HF refuses
    anything else, and ``bool("false")`` would read it backwards."""
    value = post.get(key, default)
    if not isinstance(value, bool):
        raise _fail(path, f"{where}.{key}", f"must be true or false, got {value!r}")
    return value


def decoder_step(doc: dict[str, Any]) -> tuple[Any, str, Any]:
    """The file's decoder (the only decoder of a ``Sequence`` holding one), its key, and
    its kind: the type's name, or None for no decoder."""
    decoder, where = doc.get("decoder"), "decoder"
    steps = decoder.get("decoders") if isinstance(decoder, dict) else None
    if isinstance(decoder, dict) and decoder.get("type") == "Sequence":
        if not isinstance(steps, list) or len(steps) != 1:
            count = len(steps) if isinstance(steps, list) else steps
            return decoder, where, f"a Sequence of {count!r} decoders"
        decoder, where = steps[0], "decoder.decoders[0]"
    if not isinstance(decoder, dict):
        return decoder, where, None if decoder is None else f"{json.dumps(decoder)} (no object)"
    return decoder, where, decoder.get("type", decoder)


def has_decoder(path: Path, doc: dict[str, Any]) -> bool:
    """Whether the file has a (ByteLevel) decoder; without one, HF joins the tokens'
    byte-level spellings with spaces. Other decoders are refused."""
    _, where, kind = decoder_step(doc)
    if kind not in ("ByteLevel", None):
        raise _fail(
            path, where, f"{kind!r} is not supported for byte-level BPE: lexforge decodes as "
            "HF's ByteLevel decoder does (alone or the only one in a Sequence), or as HF "
            "without a decoder (null); set the decoder to ByteLevel",
        )  # fmt: skip
    return kind is not None


def _special_pair(path: Path, where: str, value: Any, specials: dict[str, int]) -> int:
    """The id of RobertaProcessing's ``cls``/``sep`` (``[token, id]``), checked."""
    from lexforge.formats import bert

    token, tid = bert.token_and_id(path, where, value)
    if specials.get(token) != tid:
        raise _fail(path, where, f"{value!r} is not one of added_tokens (special tokens)")
    return tid


def _template(path: Path, where: str, post: dict[str, Any], specials: dict[str, int]) -> Template:
    from lexforge.formats import bert

    single, pair = bert.parse_template(path, post, specials, where)  # its shape checked
    ids = set(specials.values())
    for name, spec in (("single", single), ("pair", pair)):
        for kind, tid, _ in spec:
            if kind == "special" and tid not in ids:
                raise _fail(
                    path, f"{where}.{name}", f"id {tid} is not one of added_tokens (special tokens)"
                )
    return Template(tuple(single), tuple(pair))


def post_processing(
    path: Path, doc: Any, specials: dict[str, int]
) -> tuple[OffsetTrim | None, Template | None]:
    """The post-processor's offset options (ByteLevel) and template (TemplateProcessing,
    BertProcessing or RobertaProcessing, alone or in a Sequence with ByteLevel)."""
    post = doc.get("post_processor") if isinstance(doc, dict) else None
    if post is None:
        return None, None
    steps: Any = [post]
    where = ["post_processor"]
    if isinstance(post, dict) and post.get("type") == "Sequence":
        steps = post.get("processors")
        if not isinstance(steps, list):
            raise _fail(path, "post_processor.processors", f"must be a list, got {steps!r}")
        where = [f"post_processor.processors[{i}]" for i in range(len(steps))]
    offsets: OffsetTrim | None = None
    template: Template | None = None
    trims: list[str] = []  # the steps that trim offsets (HF applies each in turn)

    def offset_step(at: str, step: Any) -> OffsetTrim:
        trim = flag(path, at, step, "trim_offsets")
        found = OffsetTrim(trim, flag(path, at, step, "add_prefix_space"))
        if not trim:  # (a step that does not trim leaves the offsets as they are)
            return offsets or found
        if trims:
            raise _fail(
                path, at, f"trims offsets again after {trims[0]}: HF trims them once per "
                "step, lexforge once; keep trim_offsets true on one step only",
            )  # fmt: skip
        trims.append(at)
        return found

    for step, at in zip(steps, where, strict=True):
        kind = step.get("type") if isinstance(step, dict) else step
        if kind == "ByteLevel":
            offsets = offset_step(at, step)
        elif kind in ("TemplateProcessing", "BertProcessing") and template is None:
            template = _template(path, at, step, specials)
        elif kind == "RobertaProcessing" and template is None:
            cls_id = _special_pair(path, f"{at}.cls", step.get("cls"), specials)
            sep_id = _special_pair(path, f"{at}.sep", step.get("sep"), specials)
            single = (("special", cls_id, 0), ("A", 0, 0), ("special", sep_id, 0))
            pair = (*single, ("special", sep_id, 0), ("B", 0, 0), ("special", sep_id, 0))
            template = Template(single, pair, roberta=True)
            offsets = offset_step(at, step)
        else:
            problem = "a second template" if template is not None else f"{kind!r}"
            raise _fail(
                path,
                at,
                f"{problem} is not supported (byte-level BPE takes ByteLevel and one of "
                "TemplateProcessing, BertProcessing, RobertaProcessing)",
            )
    return offsets, template


def post_processor(
    bpe: Bpe, offsets: OffsetTrim | None, template: Template | None
) -> dict[str, Any]:
    level = {
        "type": "ByteLevel",
        "add_prefix_space": offsets is not None and offsets.add_prefix_space,
        "trim_offsets": offsets is not None and offsets.trim,
        "use_regex": False,
    }
    if template is None:
        return level
    names = {tid: text for text, tid in bpe.specials()}
    if template.roberta:  # it trims offsets itself, as the ByteLevel step would
        (_, cls_id, _), *_, (_, sep_id, _) = template.single
        return {
            "type": "RobertaProcessing",
            "sep": [names[sep_id], sep_id],
            "cls": [names[cls_id], cls_id],
            "trim_offsets": level["trim_offsets"],
            "add_prefix_space": level["add_prefix_space"],
        }

    def pieces(spec: tuple[Piece, ...]) -> list[dict[str, Any]]:
        return [
            {"SpecialToken": {"id": names[tid], "type_id": ty}}
            if kind == "special"
            else {"Sequence": {"id": kind, "type_id": ty}}
            for kind, tid, ty in spec
        ]

    used = sorted({tid for kind, tid, _ in template.single + template.pair if kind == "special"})
    return {
        "type": "Sequence",
        "processors": [
            level,
            {
                "type": "TemplateProcessing",
                "single": pieces(template.single),
                "pair": pieces(template.pair),
                "special_tokens": {
                    names[t]: {"id": names[t], "ids": [t], "tokens": [names[t]]} for t in used
                },
            },
        ],
    }
