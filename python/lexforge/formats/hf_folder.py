"""The tokenizer files of a Hugging Face model folder, as transformers' ``AutoTokenizer``
reads them: which special token has which role, the framing BERT gives texts, and the
files themselves (``save_tokenizer_files``). No torch: ``Tokenizer.save_pretrained``
writes them for a tokenizer alone."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from . import atomic_write
from .bert import CLS_TOKENS, SEP_TOKENS

__all__ = ["ROLES", "bert_framed", "save_tokenizer_files", "token_roles", "wordpiece_config"]


# a tokenizer's special tokens by role: the names pretraining and masking look for
ROLES = {
    "cls": CLS_TOKENS,
    "sep": SEP_TOKENS,
    "pad": ("[PAD]", "<pad>", "<|pad|>"),
    "mask": ("[MASK]", "<mask>", "<MASK>"),
    "unk": ("[UNK]", "<unk>"),
    # (RoBERTa's bos and eos are its cls and sep; GPT-2's are both its one special token)
    "bos": ("<s>", "<|endoftext|>"),
    "eos": ("</s>", "<|endoftext|>"),
}


def token_roles(tokenizer: Any) -> dict[str, str]:
    """The tokenizer's special token for each role it has: by name, except [CLS] and [SEP]
    of a WordPiece tokenizer, which are its template's first and last tokens (a folder's
    own, such as ``<cls>``, which transformers frames texts with as the config names them)."""
    from ..wordpiece import WordPieceTokenizer

    specials = tokenizer.special_tokens
    found = {role: next((n for n in names if n in specials), None) for role, names in ROLES.items()}
    if isinstance(tokenizer, WordPieceTokenizer):
        framed = tokenizer.encode("", truncation=False, padding=False)  # a file's own: off
        if len(framed) >= 2:
            found["cls"] = tokenizer.id_to_token(framed[0])
            found["sep"] = tokenizer.id_to_token(framed[-1])
    found["pad"] = getattr(tokenizer, "_pad_override", None) or found["pad"]  # (set by hand)
    return {role: name for role, name in found.items() if name is not None}


def bert_framed(tokenizer: Any) -> Any:
    """A tokenizer framed as pretraining framed its rows: ``[CLS] text [SEP]``
    (``<s>``/``</s>`` also serve). A byte-level BPE one's mask token also takes the space
    before it (so ``"is [MASK]."`` asks for ``" Paris"``, as RoBERTa's ``<mask>``); a
    WordPiece one without a template (loaded from a file that has none) gets BERT's. One
    with a template already, or without those tokens: unchanged."""
    from ..bpe import BpeTokenizer
    from ..wordpiece import WordPieceTokenizer

    if isinstance(tokenizer, WordPieceTokenizer):
        if tokenizer.encode("", truncation=False, padding=False):  # a template of its own
            return tokenizer
        roles = token_roles(tokenizer)
        if "cls" not in roles or "sep" not in roles:
            return tokenizer
        return tokenizer.with_template(roles["cls"], roles["sep"])
    if not isinstance(tokenizer, BpeTokenizer) or tokenizer.template is not None:
        return tokenizer
    roles = token_roles(tokenizer)
    if "cls" not in roles or "sep" not in roles:
        return tokenizer
    lstrip = [roles["mask"]] if "mask" in roles else []
    return tokenizer.with_template(roles["cls"], roles["sep"], lstrip=lstrip)


def save_tokenizer_files(tokenizer: Any, out: Path, model_max_length: int | None) -> None:
    """The tokenizer's files of an HF model folder (``tokenizer.json``, ``vocab.txt`` for
    WordPiece, ``tokenizer_config.json``, ``special_tokens_map.json``), each written
    atomically, framed as BERT frames texts (a BPE tokenizer without [CLS] and [SEP]:
    as it is). ``model_max_length``: the model's positions, when there is a model."""
    from ..bpe import BpeTokenizer

    if isinstance(tokenizer, BpeTokenizer):
        roles = token_roles(tokenizer)
        config_json: dict[str, Any] = {
            "tokenizer_class": "PreTrainedTokenizerFast",
            # BERT reads segment ids; the generic class leaves them out unless told
            "model_input_names": ["input_ids", "token_type_ids", "attention_mask"],
        }
        bert_framed(tokenizer).save(out / "tokenizer.json")
    else:
        tokenizer = bert_framed(tokenizer)
        roles = token_roles(tokenizer)
        tokenizer.save(out / "tokenizer.json")
        config_json = wordpiece_config(tokenizer, roles)
        with warnings.catch_warnings():  # what vocab.txt alone cannot say is in the config
            warnings.simplefilter("ignore")
            tokenizer.save(out / "vocab.txt", format="vocab")
    specials: dict[str, Any] = {f"{role}_token": token for role, token in roles.items()}
    # the special tokens of no role: transformers keeps them special (skipped in decode,
    # never masked by its collator) only when listed: as the config's and the map's
    # additional_special_tokens, which v4 reads and v5 reads as its extra_special_tokens
    # (that key itself is a list in v5 and a {name: token} dict in v4.47-4.57, which
    # fails to load a list: the one spelling every version reads)
    given = tokenizer.special_tokens
    extra = sorted((t for t in given if t not in roles.values()), key=given.__getitem__)
    limit = {} if model_max_length is None else {"model_max_length": model_max_length}
    tokenizer_config = {
        **config_json,
        **limit,
        **specials,
        **({"additional_special_tokens": extra} if extra else {}),
    }
    special_map = {**specials, **({"additional_special_tokens": extra} if extra else {})}
    for name, data in (
        ("tokenizer_config.json", tokenizer_config),
        ("special_tokens_map.json", special_map),
    ):
        atomic_write(out / name, json.dumps(data, indent=2))


def wordpiece_config(tokenizer: Any, roles: dict[str, str]) -> dict[str, Any]:
    """The ``tokenizer_config.json`` fields of a WordPiece tokenizer. transformers'
    ``BertTokenizer`` rebuilds its normalizer from ``do_lower_case``, ``strip_accents`` and
    ``tokenize_chinese_chars`` (and always cleans text, with ``##`` pieces, ``[UNK]`` and
    words up to 100 characters), so all three are written; and it frames texts with its
    cls and sep tokens and gives every role a token, adding its own ([PAD], [MASK]...) as
    new ids past the vocabulary where the config names none. A tokenizer that class cannot
    express (another pipeline, a role missing, texts not framed by two tokens) is named as
    the generic fast class, which runs ``tokenizer.json`` as it is."""
    normalizer = tokenizer._core.normalizer
    unk, prefix, longest = tokenizer._core.wordpiece
    bert_words = tokenizer._core.pipeline[1] == ["BertPreTokenizer"]
    framed = tokenizer.encode("", truncation=False, padding=False)
    if (
        len(framed) != 2
        or any(role not in roles for role in ("cls", "sep", "pad", "mask", "unk"))
        or normalizer is None
        or not normalizer[0]
        or not bert_words
        or (unk, prefix, longest) != ("[UNK]", "##", 100)
    ):
        return {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_input_names": ["input_ids", "token_type_ids", "attention_mask"],
        }
    _, chinese, strip_accents, lower = (bool(x) for x in normalizer)
    return {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": lower,
        "strip_accents": strip_accents,
        "tokenize_chinese_chars": chinese,
    }
