"""BERT's WordPiece in HF ``tokenizer.json`` (``vocab.txt`` is
:mod:`lexforge.formats.bert_vocab`): a file with a ``WordPiece`` model, ``BertNormalizer``
and ``BertPreTokenizer`` or HF's general ones (:mod:`lexforge.formats.wordpiece_pipeline`),
a ``TemplateProcessing`` (or ``BertProcessing``) post-processor and a
``WordPiece`` decoder (or none: HF then joins the tokens with spaces, and so does lexforge),
and ``added_tokens``, special or not (HF's ``add_tokens``, ids past the vocabulary), with
``lstrip``, ``rstrip``, ``single_word`` and ``normalized`` as HF applies them (a normalized
token is found by its normalized form in the normalized text: ``"COVID"`` added to an
uncased BERT is found in ``"Covid"``, and decodes as ``"covid"``; see
:mod:`lexforge.formats.added`). Read and write; errors name the file, the key or line, and
the fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lexforge._core import BertTokenizer
from lexforge.errors import TokenizerFormatError
from lexforge.formats import read_json, wordpiece_pipeline
from lexforge.formats.added import AddedToken, core_args, from_core
from lexforge.formats.added import read as read_added
from lexforge.formats.hf_post import decoder_step, flag

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# the names a text's first and last special tokens go by (BERT's, RoBERTa's, XLNet's): what
# pretraining frames its rows with, and so what a trained tokenizer frames texts with
CLS_TOKENS = ("[CLS]", "<s>", "<cls>")
SEP_TOKENS = ("[SEP]", "</s>", "<sep>")
TemplateSpec = list[tuple[str, int, int]]


def framing_tokens(special_tokens: Iterable[str]) -> tuple[str, str] | None:
    """The (first, last) special tokens that frame a text, by name (the first of
    :data:`CLS_TOKENS` and of :data:`SEP_TOKENS` among ``special_tokens``), or None when
    either is missing."""
    present = set(special_tokens)
    cls = next((t for t in CLS_TOKENS if t in present), None)
    sep = next((t for t in SEP_TOKENS if t in present), None)
    return None if cls is None or sep is None else (cls, sep)


def bert_template(
    tokens: list[str],
    cls_token: str | None,
    sep_token: str | None,
    ids: dict[str, int] | None = None,
) -> tuple[TemplateSpec, TemplateSpec]:
    """``[CLS] A [SEP]`` / ``[CLS] A [SEP] B [SEP]``, or no special tokens when both are None.
    ``ids``: each token's id in ``tokens``, where the caller has it."""
    if cls_token is None and sep_token is None:
        return [("A", 0, 0)], [("A", 0, 0), ("B", 0, 1)]
    if ids is None:
        ids = {t: i for i, t in enumerate(tokens)}
    missing = [t for t in (cls_token, sep_token) if t is None or t not in ids]
    if missing:
        raise TokenizerFormatError(
            f"the vocabulary has no {' or '.join(repr(m) for m in missing)}, which the [CLS] A "
            "[SEP] template needs; add the token, or pass cls_token=None, sep_token=None for "
            "no template"
        )
    assert cls_token is not None and sep_token is not None
    cls, sep = ids[cls_token], ids[sep_token]
    single = [("special", cls, 0), ("A", 0, 0), ("special", sep, 0)]
    return single, [*single, ("B", 0, 1), ("special", sep, 1)]


def is_wordpiece_json(path: Path, doc: Any) -> bool:
    """Whether a ``tokenizer.json`` holds a WordPiece model."""
    if doc is None:
        doc = read_json(path)
    model = doc.get("model") if isinstance(doc, dict) else None
    return isinstance(model, dict) and model.get("type") == "WordPiece"


def _fail(path: Path, where: str, problem: str) -> TokenizerFormatError:
    return TokenizerFormatError(f"{path}: {where}: {problem}")


def token_and_id(path: Path, where: str, value: Any) -> tuple[str, int]:
    """A post-processor's ``[token, id]`` (BertProcessing's, RobertaProcessing's), checked."""
    if not (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
        and 0 <= value[1] < 2**32 - 1
    ):
        raise _fail(path, where, f"must be [token, id] with an id in [0, 2^32 - 1), got {value!r}")
    return value[0], value[1]


def parse_template(
    path: Path, post: Any, ids: dict[str, int], where: str
) -> tuple[TemplateSpec, TemplateSpec]:
    """The single and pair templates of a post-processor (TemplateProcessing,
    BertProcessing or none), checked; both readers, WordPiece and byte-level BPE, use it."""
    kind = post.get("type") if isinstance(post, dict) else None
    if post is None:
        return [("A", 0, 0)], [("A", 0, 0), ("B", 0, 1)]
    if kind == "BertProcessing":
        for key in ("cls", "sep"):
            token_and_id(path, f"{where}.{key}", post.get(key))
        (_, cls_id), (_, sep_id) = post["cls"], post["sep"]
        single = [("special", cls_id, 0), ("A", 0, 0), ("special", sep_id, 0)]
        return single, [*single, ("B", 0, 1), ("special", sep_id, 1)]
    if kind == "RobertaProcessing":  # (MPNet's: all-mpnet-base-v2's tokenizer.json)
        # <s> A </s> and <s> A </s> </s> B </s>, type ids all 0. Its trim_offsets cuts
        # whitespace from the ends of offsets, which WordPiece's tokens never hold
        for key in ("cls", "sep"):
            token_and_id(path, f"{where}.{key}", post.get(key))
        (_, cls_id), (_, sep_id) = post["cls"], post["sep"]
        single = [("special", cls_id, 0), ("A", 0, 0), ("special", sep_id, 0)]
        return single, [*single, ("special", sep_id, 0), ("B", 0, 0), ("special", sep_id, 0)]
    if kind != "TemplateProcessing":
        raise _fail(
            path, where, f"{kind!r} is not supported (use TemplateProcessing, BertProcessing "
            "or RobertaProcessing)",
        )  # fmt: skip
    specials = post.get("special_tokens") or {}
    if not isinstance(specials, dict):
        raise _fail(path, f"{where}.special_tokens", f"must be an object, got {specials!r}")

    def number(value: Any, at: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32 - 1:
            raise _fail(path, at, f"{value!r} is not an integer in [0, {2**32 - 1})")
        return value

    def parts(pieces: Any, name: str) -> TemplateSpec:
        if not isinstance(pieces, list | None):
            raise _fail(path, f"{where}.{name}", f"must be a list of pieces, got {pieces!r}")
        out: TemplateSpec = []
        for k, piece in enumerate(pieces or []):
            at = f"{where}.{name}[{k}]"
            kind = next(iter(piece), None) if isinstance(piece, dict) and len(piece) == 1 else None
            body = piece[kind] if kind is not None else None
            if kind not in ("Sequence", "SpecialToken") or not isinstance(body, dict):
                raise _fail(
                    path, at, f'{piece!r} is not {{"Sequence": {{...}}}} or {{"SpecialToken": '
                    "{...}}",
                )  # fmt: skip
            type_id = number(body.get("type_id", 0), f"{at}.{kind}.type_id")
            if kind == "Sequence":
                if body.get("id") not in ("A", "B"):
                    raise _fail(path, f"{at}.Sequence.id", f"{body.get('id')!r} is not 'A' or 'B'")
                out.append((body["id"], 0, type_id))
                continue
            spec = specials.get(body.get("id")) if isinstance(body.get("id"), str) else None
            ids = spec.get("ids") if isinstance(spec, dict) else None
            if not isinstance(ids, list) or len(ids) != 1:
                raise _fail(
                    path, at, f"special token {body.get('id')!r} needs one id in "
                    f"{where}.special_tokens",
                )  # fmt: skip
            out.append(("special", number(ids[0], f"{where}.special_tokens"), type_id))
        return out

    single, pair = parts(post.get("single"), "single"), parts(post.get("pair"), "pair")
    for name, spec in (("single", single), ("pair", pair)):
        check_template_shape(path, f"{where}.{name}", spec, post.get(name), pair=name == "pair")
    return single, pair


def check_template_shape(
    path: Path, where: str, spec: TemplateSpec, pieces: Any, *, pair: bool
) -> None:
    """Refuses a template (``pieces``: as the file spells it, read into ``spec``) that does
    not hold its texts once each, in order: ``$A`` in a single template, ``$A`` then
    ``$B`` in a pair template. HF frames the overflow windows of a text placed otherwise
    (``$B`` first, ``$A`` twice or missing) in ways lexforge does not reproduce."""
    texts = ["A", "B"] if pair else ["A"]
    if [kind for kind, _, _ in spec if kind != "special"] == texts:
        return
    spelled = " ".join(
        ("$" + body["id"] if kind == "Sequence" else str(body["id"]))
        + (f":{body['type_id']}" if body.get("type_id", 0) else "")
        for piece in pieces or []
        for kind, body in piece.items()
    )
    want = "[CLS] $A [SEP] $B:1 [SEP]:1" if pair else "[CLS] $A [SEP]"
    raise _fail(
        path, where, f"{repr(spelled) if spelled else 'an empty template'} must hold "
        f"{'$A then $B, once each' if pair else '$A once'}: "
        "lexforge reproduces HF's truncation and overflow windows only for templates of "
        f"that shape; write the template that way (BERT's is {want!r})",
    )  # fmt: skip


def load_json(path: Path, doc: Any = None, tokens: list[str] | None = None) -> BertTokenizer:
    """A WordPiece ``tokenizer.json`` (BERT pipeline). ``tokens``: ``model.vocab``'s by id,
    where the caller has them (:func:`tokens_by_id`)."""
    if doc is None:
        doc = read_json(path)
    model = doc["model"]
    for key in ("vocab", "unk_token"):
        if key not in model:
            raise _fail(path, f"model.{key}", "missing (truncated file?)")
    vocab = model["vocab"]
    if not isinstance(vocab, dict):
        raise _fail(path, "model.vocab", "must be an object {token: id}")
    if tokens is None:
        tokens = tokens_by_id(vocab)
    if tokens is None:  # not ids 0..n-1: named below
        tokens = _checked_tokens(path, vocab)

    normalizer, steps, splits = wordpiece_pipeline.read(path, doc)
    # tokens added after training (HF's add_tokens) have ids past model.vocab
    added = read_added(path, doc, vocab)
    beyond = sorted({t.id: t.content for t in added if t.id >= len(tokens)}.items())
    every = tokens + [content for _, content in beyond]
    ids = {**vocab, **{content: tid for tid, content in beyond}} if beyond else vocab
    single, pair = parse_template(path, doc.get("post_processor"), ids, "post_processor")
    _check_roberta_offsets(path, doc.get("post_processor"), added, tokens)
    unk, prefix = model["unk_token"], model.get("continuing_subword_prefix", "##")
    if not isinstance(unk, str):
        raise _fail(path, "model.unk_token", f"must be a token, got {unk!r}")
    if prefix is not None and not isinstance(prefix, str):
        raise _fail(path, "model.continuing_subword_prefix", f"must be a str, got {prefix!r}")
    max_chars = model.get("max_input_chars_per_word", 100)
    if (
        isinstance(max_chars, bool)
        or not isinstance(max_chars, int)
        or not 0 <= max_chars < 2**32 - 1
    ):
        raise _fail(
            path, "model.max_input_chars_per_word", f"must be an int >= 0, got {max_chars!r}"
        )
    try:
        return BertTokenizer(
            every,
            unk,
            "##" if prefix is None else prefix,
            max_chars,
            normalizer,
            [(t.content, t.id) for t in added if t.special],
            single,
            pair,
            added=len(beyond),
            steps=steps,
            splits=splits,
            **core_args(added),
        )
    except TokenizerFormatError as e:
        raise TokenizerFormatError(f"{path}: {e}") from None


def _checked_tokens(path: Path, vocab: dict[str, Any]) -> list[str]:
    """The tokens of ``model.vocab`` by id, or the ``TokenizerFormatError`` naming the
    entry whose id is not an integer, is taken twice, or leaves a gap."""
    by_id: dict[int, str] = {}
    for token, tid in vocab.items():
        if not isinstance(tid, int) or isinstance(tid, bool) or not 0 <= tid < 2**32 - 1:
            raise _fail(
                path, f"model.vocab[{token!r}]", f"id {tid!r} is not an integer in [0, 2^32 - 1)"
            )
        if tid in by_id:
            raise _fail(
                path,
                f"model.vocab[{token!r}]",
                f"id {tid} is also {by_id[tid]!r}; ids must be unique",
            )
        by_id[tid] = token
    if sorted(by_id) != list(range(len(by_id))):
        raise _fail(path, "model.vocab", "ids must be 0..n-1 without gaps")
    return [by_id[i] for i in range(len(by_id))]


def tokens_by_id(vocab: dict[str, Any]) -> list[str] | None:
    """The tokens of a ``{token: id}`` object by id, when its ids are the integers 0..n-1
    (JSON's, no booleans), else None (for the caller's checks to name the entry): two
    passes in C over the ids, where checking each entry in Python took most of a
    30,000-token file's load."""
    ids = list(vocab.values())
    if not ids or set(map(type, ids)) != {int}:
        return None
    if ids == list(range(len(ids))):  # (in id order, as tokenizers writes it)
        return list(vocab)
    if sorted(ids) != list(range(len(ids))):
        return None
    tokens = [""] * len(ids)
    for token, tid in vocab.items():
        tokens[tid] = token
    return tokens


def _check_roberta_offsets(
    path: Path, post: Any, added: list[AddedToken], tokens: list[str]
) -> None:
    """Refuses a RobertaProcessing whose ``trim_offsets`` would change offsets lexforge
    gives: HF trims the whitespace (and "Ġ") at either end of each token's text from its
    offsets, which WordPiece's tokens hold only where an added token takes the spaces
    beside it (``lstrip``/``rstrip``: MPNet's ``<mask>``, " <mask>" spanning (2, 8) in
    "a <mask> b" where lexforge gives (1, 8)) or a token begins or ends with "Ġ"."""
    if not isinstance(post, dict) or post.get("type") != "RobertaProcessing":
        return
    if post.get("trim_offsets", True) is False:
        return
    stripping = [t.content for t in added if t.lstrip or t.rstrip]
    spaced = [t for t in tokens if t[:1] == "Ġ" or t[-1:] == "Ġ"]
    if not stripping and not spaced:
        return
    why = (
        f"its added token(s) {', '.join(map(repr, stripping[:3]))} take the spaces beside "
        "them (lstrip/rstrip)"
        if stripping
        else f"token(s) such as {spaced[0]!r} begin or end with 'Ġ'"
    )
    raise _fail(
        path, "post_processor", f"RobertaProcessing with trim_offsets trims whitespace from "
        f"the offsets of tokens whose text holds it, and {why}: the ids would match HF's but "
        "those tokens' offsets would not, which lexforge does not reproduce for WordPiece; "
        "set trim_offsets to false in the file if offsets do not matter to you, or use HF "
        "tokenizers for it",
    )  # fmt: skip


def decoder_cleanup(path: Path, doc: Any, prefix: str) -> bool | None:
    """How the file's decoder joins tokens: the ``cleanup`` flag of its WordPiece decoder
    (HF's: remove the spaces before punctuation), or None without a decoder (HF joins the
    tokens with spaces). ``prefix``: the model's continuing-subword prefix, which the
    decoder must strip. Other decoders are refused."""
    decoder, where, kind = decoder_step(doc)
    if kind is None:
        return None
    if kind != "WordPiece":
        raise _fail(
            path, where, f"{kind!r} is not supported with WordPiece: lexforge decodes as HF's "
            "WordPiece decoder does (alone or the only one in a Sequence), or joins the tokens "
            "with spaces when the decoder is null",
        )  # fmt: skip
    if decoder.get("prefix", "##") != prefix:
        raise _fail(
            path, f"{where}.prefix", f"{decoder.get('prefix', '##')!r} differs from the model's "
            f"continuing_subword_prefix {prefix!r}; make the two agree",
        )  # fmt: skip
    return flag(path, where, decoder, "cleanup", True)


def dump_json(
    core: BertTokenizer,
    truncation: dict[str, Any] | None = None,
    padding: dict[str, Any] | None = None,
    cleanup: bool | None = True,
) -> dict[str, Any]:
    """The ``tokenizer.json`` document of a BERT tokenizer (``cleanup`` None: no decoder)."""
    tokens = core.vocab()
    unk, prefix, max_chars = core.wordpiece
    single, pair = core.templates()
    return {
        "version": "1.0",
        "truncation": truncation,
        "padding": padding,
        "added_tokens": [t.entry() for t in from_core(core)],
        "normalizer": wordpiece_pipeline.normalizer_doc(core),
        "pre_tokenizer": wordpiece_pipeline.pre_tokenizer_doc(core),
        "post_processor": template_doc(tokens, single, pair),
        "decoder": None
        if cleanup is None
        else {"type": "WordPiece", "prefix": prefix, "cleanup": cleanup},
        "model": {
            "type": "WordPiece",
            "unk_token": unk,
            "continuing_subword_prefix": prefix,
            "max_input_chars_per_word": max_chars,
            "vocab": {t: i for i, t in enumerate(tokens[: core.model_size])},
        },
    }


def template_doc(tokens: list[str], single: TemplateSpec, pair: TemplateSpec) -> dict[str, Any]:
    """HF's ``TemplateProcessing`` entry for these templates."""
    used = {tid for kind, tid, _ in [*single, *pair] if kind == "special"}

    def pieces(spec: TemplateSpec) -> list[dict[str, Any]]:
        return [
            {"SpecialToken": {"id": tokens[tid], "type_id": ty}}
            if kind == "special"
            else {"Sequence": {"id": kind, "type_id": ty}}
            for kind, tid, ty in spec
        ]

    return {
        "type": "TemplateProcessing",
        "single": pieces(single),
        "pair": pieces(pair),
        "special_tokens": {
            tokens[t]: {"id": tokens[t], "ids": [t], "tokens": [tokens[t]]} for t in sorted(used)
        },
    }
