"""Contextual representations from an encoder: one vector per *word* (its subword pieces
pooled), one per sentence, and masked-token predictions.

Words are the BERT pre-tokenizer's: split at whitespace and punctuation, with every CJK
character a word of its own, exactly the units the tokenizer's ``word_ids`` number.
"""

from __future__ import annotations

import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from .._json import loads_json
from .._text_checks import check_text, in_order
from ..batch import check_int
from ..errors import CheckpointError, ConfigError
from .config import BertConfig, check_vocab_fits


@dataclass
class WordVectors:
    """The words of one text (as they appear in it) and their vectors (n_words, hidden)."""

    words: list[str]
    vectors: npt.NDArray[np.float32]


def _config(model: nn.Module) -> BertConfig:
    config = model.config
    assert isinstance(config, BertConfig)
    return config


def _encoder(model: nn.Module) -> Any:
    return model if hasattr(model, "embeddings") else model.bert


def check_lexforge_tokenizer(tok: Any) -> None:
    """``ConfigError`` unless ``tok`` is a lexforge tokenizer, saying how to load one."""
    from ..tokenizer import Tokenizer

    if not isinstance(tok, Tokenizer):
        raise ConfigError(
            f"tokenizer must be a lexforge tokenizer, got {type(tok).__module__}."
            f"{type(tok).__name__}: load its files with lexforge.Tokenizer.from_file(path) "
            "(tokenizer.json or vocab.txt)"
        )


def _tokenizer(model: nn.Module, tokenizer: Any) -> Any:
    from .hf import bert_framed

    tok = tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)
    if tok is not None:
        check_lexforge_tokenizer(tok)
    tok = bert_framed(tok)  # a BPE tokenizer frames texts as the pretraining rows were
    if tok is None:
        unread = getattr(model, "tokenizer_unread", None)
        if unread is not None:
            raise ConfigError(
                f"no tokenizer: {unread}; replace it with the model's tokenizer.json (or "
                "BERT's vocab.txt), or pass tokenizer=..."
            )
        raise ConfigError(
            "no tokenizer: put its tokenizer.json or vocab.txt in the model's folder (loaded "
            "with from_pretrained, as the lexforge commands load it), or pass tokenizer=..."
        )
    check_vocab_fits(tok, _config(model).vocab_size)
    return tok


def _texts(texts: Any, batch_size: int, name: str = "texts") -> list[str]:
    """``texts`` as a list (any iterable of strings), after checking ``batch_size``. A
    text with no UTF-8 form (a lone surrogate) is refused here, by its place in the whole
    list (the batches' encoders know only their own)."""
    from .._text_checks import bad_text

    what = "texts" if name == "texts" else f"texts as {name}"
    if isinstance(texts, str):
        raise TypeError(f"pass a list of {what}")
    check_int("batch_size", batch_size, least=1)
    try:
        iter(texts)
    except TypeError:
        raise TypeError(f"pass a list of {what}, got a {type(texts).__name__}") from None
    out = in_order(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(f"{name}[{i}] is a {type(t).__name__}, not a str")
        if not t.isascii():
            try:
                t.encode("utf-8")
            except UnicodeEncodeError as e:
                raise bad_text(e, where=f"{name}[{i}]") from None
    return out


def _encode(
    model: nn.Module, tok: Any, texts: Sequence[str], *, one: bool = False,
    max_length: int | None = None,
) -> Any:  # fmt: skip
    """The batch's encoding (cut to ``max_length`` tokens when given); ``ConfigError``
    naming the longest text ("the text" when the caller took ``one``) when it exceeds the
    positions."""
    from ..bpe import BpeTokenizer

    limit = _config(model).max_position_embeddings
    options: dict[str, Any] = {}
    if isinstance(tok, BpeTokenizer):  # its special tokens' text (a [MASK]) is special
        options = {"allowed_special": "all", "pad_token_id": tok._pad_id() or 0}
    if max_length is not None:
        options.update(truncation=True, max_length=max_length)
    enc = tok.encode_batch(
        list(texts), padding=True, return_tensors="pt", return_word_ids=True,
        return_offsets=True, **{"truncation": False, **options},
    )  # fmt: skip
    if enc["input_ids"].shape[1] > limit:
        counts = enc["attention_mask"].sum(1).numpy()
        check_counts(counts, limit, one=one)
    return enc


# texts tokenized at a time to count their tokens (the counts alone are kept)
_COUNT_CHUNK = 4096


def token_counts(
    tok: Any, texts: Sequence[str], pairs: Sequence[str] | None = None
) -> npt.NDArray[np.int64]:
    """Each text's number of tokens (with its pair's, and the special tokens), uncut."""
    from ..train._fit_model import encode_batch

    counts = np.zeros(len(texts), dtype=np.int64)
    for start in range(0, len(texts), _COUNT_CHUNK):
        stop = start + _COUNT_CHUNK
        second = None if pairs is None else pairs[start:stop]
        rows = encode_batch(tok, texts[start:stop], second, truncation=False, padding=False)
        counts[start:stop] = [len(row) for row in rows]
    return counts


def check_counts(counts: npt.NDArray[np.int64], limit: int, *, one: bool = False) -> None:
    """A ``ConfigError`` naming the first text (in the caller's order; "the text" for
    ``one``) with more tokens than the model's ``limit`` positions, before any is read."""
    over = np.flatnonzero(counts > limit)
    if not len(over):
        return
    at = int(over[0])
    which = "the text" if one else f"texts[{at}] (text number {at + 1})"
    others = len(over) - 1
    more = f" (as {'does 1 more text' if others == 1 else f'do {others} more texts'})"
    more = more if others else ""
    error = ConfigError(
        f"{which} has {int(counts[at])} tokens, more than the model's {limit} "
        f"positions{more}; split it (nothing is truncated silently)"
    )
    error.text_index = at  # type: ignore[attr-defined]  # (the CLI names its file and line)
    raise error


def longest_first(counts: npt.NDArray[np.int64], batch_size: int) -> list[npt.NDArray[np.int64]]:
    """The texts' indices in batches of ``batch_size``, longest first (equal ones in their
    order): each batch is padded to about its own texts' length, where batches in the
    given order would mostly compute padding when lengths are mixed."""
    order = np.argsort(-counts, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def check_layers(layers: Any, num_layers: int) -> list[int] | None:
    """``layers`` (None, an int or a sequence of ints) as indices into the encoder's
    num_layers + 1 states (0: the embeddings; -1: the last layer), each in range, none
    twice; ``ConfigError`` otherwise."""
    if layers is None:
        return None
    given = [layers] if isinstance(layers, (int, np.integer)) else layers
    if isinstance(given, (str, bytes)) or not isinstance(given, Sequence) or not given or not all(
        isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in given
    ):  # fmt: skip
        raise ConfigError(
            f"layers must be a layer index or a list of them (ints: 0 the embeddings, 1 the "
            f"first layer, -1 the last), got {layers!r}"
        )
    count = num_layers + 1
    out = []
    for i in given:
        if not -count <= i < count:
            raise ConfigError(
                f"layer {i} is not one of this model's {count} states (0 the embeddings, "
                f"1..{num_layers} its layers; -1 the last, -{count} the embeddings)"
            )
        out.append(int(i) % count)
    if len(set(out)) < len(out):
        raise ConfigError(f"layers {list(given)} name a layer twice; name each once")
    return out


@torch.no_grad()
def hidden_states(
    model: nn.Module, tok: Any, texts: Sequence[str], batch_size: int,
    layers: list[int] | None = None, max_length: int | None = None,
    counts: npt.NDArray[np.int64] | None = None,
) -> Any:  # fmt: skip
    """(the texts' indices, their encoding, hidden states), batch by batch, longest texts
    first, on the model's device; ``layers`` (checked indices, None: the last): the mean of
    those layers' states; texts cut to ``max_length`` tokens when given (the caller says
    so; ``counts``: the texts' token counts, when the caller has them). ``ConfigError``
    naming the first text longer than the model's positions before any batch is read."""
    device = next(model.parameters()).device
    encoder = _encoder(model)
    if counts is None:
        counts = token_counts(tok, texts)
    if max_length is not None:
        counts = np.minimum(counts, max_length)
    check_counts(counts, _config(model).max_position_embeddings)
    was_training = model.training
    model.eval()
    try:
        for indices in longest_first(counts, batch_size):
            enc = _encode(model, tok, [texts[i] for i in indices], max_length=max_length)
            rows, length = enc["input_ids"].shape
            if length == 0:  # empty texts, and a tokenizer that adds no special tokens
                yield indices, enc, torch.zeros(rows, 0, _config(model).hidden_size)
                continue
            inputs = (enc["input_ids"].to(device), enc["attention_mask"].to(device),
                      enc["token_type_ids"].to(device))  # fmt: skip
            if layers is None:
                hidden, _ = encoder(*inputs)
            else:
                states = encoder(*inputs, output_hidden_states=True)[2]
                hidden = torch.stack([states[i].float() for i in layers]).mean(0)
            yield indices, enc, hidden.float().cpu()
    finally:
        model.train(was_training)


def embed_words(
    model: nn.Module,
    texts: Sequence[str],
    *,
    tokenizer: Any = None,
    pooling: Literal["first", "mean"] = "mean",
    batch_size: int = 32,
    layers: int | Sequence[int] | None = None,
) -> list[WordVectors]:
    """One contextual vector per word of each text: its pieces' first vector or their mean.
    Words are the pre-tokenizer's (BERT's: whitespace and punctuation, each CJK character;
    a byte-level BPE's: its pattern's pieces, whitespace-only ones left out). Texts are
    read in batches of like length, longest first; the results keep the given order.
    ``layers``: the states pooled, as :func:`embed` takes them (the last by default)."""
    if pooling not in ("first", "mean"):
        raise ConfigError(f"pooling must be 'first' or 'mean', got {pooling!r}")
    chosen = check_layers(layers, _config(model).num_layers)
    texts = _texts(texts, batch_size)
    tok = _tokenizer(model, tokenizer)
    out: list[WordVectors | None] = [None] * len(texts)
    for indices, enc, hidden in hidden_states(model, tok, texts, batch_size, chosen):
        for row, at in enumerate(indices.tolist()):
            text = texts[at]
            words = enc["word_ids"][row]
            n = int(words.max()) + 1 if bool((words >= 0).any()) else 0
            vectors = torch.zeros(n, hidden.shape[-1])
            spans: list[list[int]] = [[-1, -1] for _ in range(n)]
            real = words >= 0
            index = words[real]
            if pooling == "mean":
                vectors.index_add_(0, index, hidden[row][real])
                vectors /= torch.bincount(index, minlength=n).clamp(min=1)[:, None].float()
            else:
                first = torch.ones_like(real)
                first[1:] = words[1:] != words[:-1]
                keep = real & first
                vectors[words[keep]] = hidden[row][keep]
            for w, (a, b) in zip(index.tolist(), enc["offsets"][row][real].tolist(), strict=True):
                span = spans[w]
                span[0] = a if span[0] < 0 else min(span[0], a)
                span[1] = max(span[1], b)
            found = word_texts(text, spans)
            keep = [i for i, word in enumerate(found) if word]
            if len(keep) < n:
                found, vectors = [found[i] for i in keep], vectors[keep]
            out[at] = WordVectors(found, vectors.numpy())
    return out  # type: ignore[return-value]  # (every text's place is filled)


# Unicode's White_Space (what a pattern's \s matches); str.strip() also takes U+001C..U+001F,
# which a byte-level BPE's pattern reads as a word
_WHITE_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def word_texts(text: str, spans: list[list[int]]) -> list[str]:
    """The words of ``text`` at the character ``spans`` of their pieces (``[start, end]``,
    in word order): each span extended over the combining marks that follow it, its text
    stripped of white space. A byte-level BPE's whitespace pieces (the second of two
    spaces, a line end) are pre-tokens but not words: they come out empty. A word's span
    may hold the space before it (a file without trim_offsets, as GPT-2's)."""
    _take_marks(text, spans)
    return [text[a:b].strip(_WHITE_SPACE) for a, b in spans]


def _take_marks(text: str, spans: list[list[int]]) -> None:
    """Moves each word's end past the combining marks that follow it (an accent, an emoji's
    variation selector) up to where another word starts: they belong to the character
    before them, and a tokenizer that strips accents gives them to no piece (decomposed
    "café" would be the word "cafe")."""
    starts = {a for a, _ in spans}
    for span in spans:
        while 0 <= span[1] < len(text) and span[1] not in starts and _is_mark(text[span[1]]):
            span[1] += 1


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch) in ("Mn", "Mc", "Me")


def embed(
    model: nn.Module,
    texts: Sequence[str],
    *,
    tokenizer: Any = None,
    pooling: Literal["cls", "mean"] | None = None,
    normalize: bool | None = None,
    batch_size: int = 32,
    layers: int | Sequence[int] | None = None,
    max_length: int | None = None,
) -> npt.NDArray[np.float32]:
    """One vector per text (n, hidden): the [CLS] vector or the mean over real tokens,
    optionally scaled to unit length (cosine similarity is then a dot product). An empty
    text under a tokenizer that adds no special tokens has no token: its mean is zeros.
    ``pooling`` and ``normalize`` left None: those of the sentence-transformers checkpoint
    the model was loaded from (its ``modules.json``: the ``Pooling`` module's mode, and
    whether a ``Normalize`` module follows; all-MiniLM-L6-v2 is mean pooling, normalized,
    bge's [CLS], normalized), so that its vectors are sentence-transformers' own; else
    ``"mean"``, not normalized. A pipeline that does more than that (max pooling, a
    ``Dense`` layer) is warned of, since the vectors are then not sentence-transformers'.
    Texts are read in batches of like length, longest first (rows in the given order).
    ``layers``: which of the encoder's states to read, averaged (None: the last layer's;
    0 is the embeddings, 1 the first layer, -1 the last: ``[-4, -3, -2, -1]`` averages
    the last four, as the feature-based uses of BERT do), each state as
    ``BertModel(..., output_hidden_states=True)`` gives it.
    ``max_length``: texts longer than that many tokens are cut to it (their special tokens
    kept), with a warning counting them. None: the ``max_seq_length`` of a
    sentence-transformers checkpoint the model was loaded from (its
    ``sentence_bert_config.json``: all-MiniLM-L6-v2 says 256), so that its vectors are
    sentence-transformers' own; else no cut.
    ``ConfigError`` for ``pooling="cls"`` with a tokenizer that puts no token before a
    text, and for a text longer than the model's positions (the first, before any batch
    is read)."""
    if pooling is not None and pooling not in ("cls", "mean"):
        raise ConfigError(f"pooling must be 'cls' or 'mean', got {pooling!r}")
    if normalize is not None and not isinstance(normalize, (bool, np.bool_)):  # "no": true
        raise ConfigError(f"normalize must be True or False, got {normalize!r}")
    if pooling is None or normalize is None:
        own = sentence_pipeline(model)
        if own.unapplied:
            warnings.warn(
                f"the sentence-transformers checkpoint this model was loaded from "
                f"({own.where}) makes its text vectors with {'; '.join(own.unapplied)}, which "
                "embed does not do: these vectors are not sentence-transformers' (pass "
                "pooling= and normalize= to say which vectors you want)",
                stacklevel=3,
            )
        pooling = own.pooling if pooling is None else pooling
        normalize = own.normalize if normalize is None else normalize
    declared = max_length is None
    if max_length is None:
        max_length = sentence_max_length(model)
    if max_length is not None:
        max_length = check_int("max_length", max_length, least=1)  # (a NumPy or torch int)
        positions = _config(model).max_position_embeddings
        if max_length > positions:
            raise ConfigError(
                f"max_length={max_length} is more than the model's {positions} positions: "
                f"pass at most {positions}"
            )
    texts = _texts(texts, batch_size)
    tok = _tokenizer(model, tokenizer)
    if pooling == "cls":
        _check_cls(tok)
    chosen = check_layers(layers, _config(model).num_layers)
    counts = token_counts(tok, texts)
    if max_length is not None:
        cut = int((counts > max_length).sum())
        if cut:
            why = (
                "the max_seq_length of the sentence-transformers checkpoint the model came "
                "from, which cuts them there too (max_length= sets another)"
                if declared
                else "max_length"
            )
            warnings.warn(
                f"{cut} of {len(texts)} texts are longer than {max_length} tokens and were "
                f"cut to it: {why}",
                stacklevel=3,
            )
    vectors = torch.zeros(len(texts), _config(model).hidden_size)
    batches = hidden_states(model, tok, texts, batch_size, chosen, max_length, counts)
    for indices, enc, hidden in batches:
        if pooling == "cls":
            rows = hidden[:, 0]
        else:
            mask = enc["attention_mask"][..., None].float()
            rows = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        vectors[torch.from_numpy(indices)] = rows
    if normalize:
        vectors = torch.nn.functional.normalize(vectors, dim=-1)
    result: npt.NDArray[np.float32] = vectors.numpy()
    return result


@dataclass(frozen=True)
class SentencePipeline:
    """How a sentence-transformers checkpoint makes a text's vector from the encoder's
    states, as far as ``embed`` follows it: ``pooling``, ``normalize``, and what else the
    pipeline does that ``embed`` does not (``unapplied``, each said in words; ``where``
    names the file)."""

    pooling: Literal["cls", "mean"] = "mean"
    normalize: bool = False
    unapplied: tuple[str, ...] = ()
    where: str = ""


# sentence-transformers' Pooling modes (its 1_Pooling/config.json flags), as embed names
# them; those without a name here embed does not compute
_POOLING_MODES = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean"}
_OTHER_MODES = {
    "pooling_mode_max_tokens": "max pooling",
    "pooling_mode_mean_sqrt_len_tokens": "mean pooling divided by the root of the length",
    "pooling_mode_weightedmean_tokens": "position-weighted mean pooling",
    "pooling_mode_lasttoken": "last-token pooling",
}
_MODULE = "sentence_transformers.models."


def sentence_pipeline(model: nn.Module) -> SentencePipeline:
    """The text-vector pipeline of the sentence-transformers checkpoint ``model`` was
    loaded from: its ``modules.json`` (the modules in order) and its ``Pooling`` module's
    ``config.json``. A model loaded from anything else (or not loaded) gets the default:
    mean pooling, not normalized."""
    from pathlib import Path

    origin = getattr(model, "loaded_from", None)
    if origin is None:
        return SentencePipeline()
    loaded = Path(origin.folder or origin.directory)
    folder = sentence_root(loaded)
    if folder is None:
        return SentencePipeline()
    listing = folder / "modules.json"
    try:
        modules = loads_json(listing.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        modules = None
    if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
        return SentencePipeline(unapplied=("modules that could not be read",), where=str(listing))
    pooling: Literal["cls", "mean"] = "mean"
    normalize = False
    unapplied: list[str] = []
    for module in modules:
        kind = str(module.get("type", ""))
        name = kind.removeprefix(_MODULE)
        if name == "Transformer":
            continue
        if name == "Normalize":
            normalize = True
        elif name == "Pooling":
            path = folder / str(module.get("path", "")) / "config.json"
            try:
                config = loads_json(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                config = None
            if not isinstance(config, dict):
                unapplied.append(f"a pooling whose {path.name} could not be read")
                continue
            modes = [key for key, on in config.items() if key.startswith("pooling_mode_") and on]
            named = [_POOLING_MODES[key] for key in modes if key in _POOLING_MODES]
            if len(modes) == 1 and named:
                pooling = "cls" if named[0] == "cls" else "mean"
            else:
                said = [_OTHER_MODES.get(k, f"{_POOLING_MODES.get(k, k)} pooling") for k in modes]
                concatenated = "the concatenation of " if len(said) > 1 else ""
                unapplied.append(concatenated + " and ".join(said) if said else "no pooling mode")
        else:
            unapplied.append(f"a {name or 'nameless'} module")
    unapplied += _encode_options(folder, loaded, model)
    return SentencePipeline(pooling, normalize, tuple(unapplied), str(listing))


def sentence_root(folder: Path) -> Path | None:
    """The sentence-transformers folder whose ``modules.json`` lists the encoder loaded
    from ``folder``: ``folder`` itself, or, in the older layout that keeps the encoder in
    a subfolder (``0_Transformer/``), the folder above it when its ``modules.json`` lists a
    Transformer module at that path. None for a folder that is in no such pipeline."""

    if (folder / "modules.json").is_file():
        return folder
    listing = folder.parent / "modules.json"
    try:
        modules = loads_json(listing.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(modules, list):
        return None
    for module in modules:
        if (
            isinstance(module, dict)
            and str(module.get("type", "")).removeprefix(_MODULE) == "Transformer"
            and (folder.parent / str(module.get("path", ""))).resolve() == folder.resolve()
        ):
            return folder.parent
    return None


def _encode_options(root: Path, encoder: Path, model: nn.Module) -> list[str]:
    """What sentence-transformers' ``encode`` does to a text or its vector beyond the
    modules, by the checkpoint's own files, that embed does not do (each in words): a
    default prompt put before every text and a ``truncate_dim`` (its
    ``config_sentence_transformers.json``), and the Transformer's ``do_lower_case`` (its
    ``sentence_bert_config.json``) where the tokenizer does not lowercase already."""

    said: list[str] = []
    try:
        config = loads_json((root / "config_sentence_transformers.json").read_text("utf-8"))
    except (OSError, ValueError):
        config = None
    if isinstance(config, dict):
        name, prompts = config.get("default_prompt_name"), config.get("prompts")
        prompt = prompts.get(name) if isinstance(prompts, dict) and name is not None else None
        if isinstance(prompt, str) and prompt:
            said.append(
                f"the prompt {prompt!r} put before every text (default_prompt_name {name!r})"
            )
        dim = config.get("truncate_dim")
        if isinstance(dim, int) and not isinstance(dim, bool):
            said.append(f"vectors cut to their first {dim} dimensions (truncate_dim)")
    try:
        lower = loads_json((encoder / "sentence_bert_config.json").read_text("utf-8"))
    except (OSError, ValueError):
        lower = None
    if isinstance(lower, dict) and lower.get("do_lower_case") is True:
        tok = getattr(model, "tokenizer", None)
        try:
            lowercases = tok is not None and list(tok("ABC Éa")["input_ids"]) == list(
                tok("abc éa")["input_ids"]
            )
        except Exception:  # a tokenizer that cannot say: named as not lowercasing
            lowercases = False
        if not lowercases:
            said.append("texts lowercased first (do_lower_case in sentence_bert_config.json)")
    return said


def sentence_max_length(model: nn.Module) -> int | None:
    """The ``max_seq_length`` that a sentence-transformers checkpoint's
    ``sentence_bert_config.json`` declares, for a model loaded from one; where it declares
    none, the cut sentence-transformers makes then: the ``model_max_length`` of its
    ``tokenizer_config.json`` when that is below the model's positions. Else None."""
    from pathlib import Path

    origin = getattr(model, "loaded_from", None)
    if origin is None:
        return None
    folder = Path(origin.folder or origin.directory)
    path = folder / "sentence_bert_config.json"
    try:
        value = loads_json(path.read_text(encoding="utf-8")).get("max_seq_length")
    except (OSError, ValueError, AttributeError):
        value = None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if sentence_root(folder) is None:
        return None
    # a sentence-transformers pipeline without one: it cuts at the tokenizer's
    # model_max_length, capped at the model's positions (those past them are refused here)
    from .._hf_tokens import model_max_length_beside

    limit = model_max_length_beside(folder)
    positions = _config(model).max_position_embeddings
    return limit if limit is not None and limit < positions else None


def _check_cls(tok: Any) -> None:
    """``pooling="cls"`` reads the special token before each text: ``ConfigError`` for a
    tokenizer that puts none there (a byte-level BPE without [CLS] or <s>), whose first
    vector would be the first word's, or padding's for an empty text."""
    from ..bpe import BpeTokenizer

    options = {"allowed_special": "all"} if isinstance(tok, BpeTokenizer) else {}
    enc = tok.encode_batch(["a"], return_special_tokens_mask=True, return_tensors="np", **options)
    special = enc["special_tokens_mask"][0]
    if not len(special) or not special[0]:
        raise ConfigError(
            "pooling='cls' reads the token before each text ([CLS]), and this tokenizer puts "
            "none there; use pooling='mean', or the tokenizer the model was pretrained with"
        )


def _check_trained_mlm(model: nn.Module) -> None:
    """Refuses an MLM head that ``from_pretrained`` left freshly initialised because the
    checkpoint is another task's (its predictions would be noise); for an encoder-only
    checkpoint (a BertModel, such as all-MiniLM-L6-v2) says so in a warning and goes on."""
    origin = getattr(model, "loaded_from", None)
    if origin is None or "mlm" not in origin.fresh:
        return
    if origin.kind in ("BertForMaskedLM", "BertForPreTraining"):  # (its head, partly fresh)
        raise CheckpointError(
            f"part of the MLM head of {origin.directory} (a {origin.kind} checkpoint) is "
            "freshly initialised (tie_word_embeddings=False, say, unties a decoder the "
            "checkpoint ties to the word embeddings, and leaves it untrained), so its "
            "predictions would be noise; load it without such overrides to fill masks"
        )
    lacking = (
        f"{origin.directory} has no MLM head weights (cls.predictions.*): it is a "
        f"{origin.kind} checkpoint"
    )
    if origin.kind != "BertModel":
        raise CheckpointError(
            f"{lacking}; fill-mask needs a model pretrained with MLM (a BertForMaskedLM or "
            "BertForPreTraining checkpoint, such as a pretraining run's model/)"
        )
    warnings.warn(  # at the caller of Pretrained.fill_mask (no_grad's wrapper is a frame)
        f"{lacking} (an encoder alone): the MLM head is freshly initialised, so these "
        "predictions are untrained; fill-mask needs a model pretrained with MLM",
        stacklevel=5,
    )


@torch.no_grad()
def fill_mask(
    model: nn.Module, text: str, *, tokenizer: Any = None, top_k: int = 5
) -> list[list[tuple[str, float]]]:
    """The ``top_k`` tokens (and probabilities) for each ``[MASK]`` (or ``<mask>``) in
    ``text``, each mask predicted on its own (the others stay masks; ``top_k`` past the
    vocabulary gives all of it): WordPiece tokens as in the vocabulary (``"##s"``),
    byte-level BPE ones as the text they decode to (``" Paris"``, with its space; U+FFFD
    for part of a character). Raises ``CheckpointError`` for a model whose MLM head
    ``from_pretrained`` left freshly initialised because the checkpoint is another task's;
    warns for an encoder-only one."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not text.isascii():  # (named as the text, not as texts[0] of the batch below)
        check_text(text=text)
    top_k = check_int("top_k", top_k, least=1)
    mlm = getattr(model, "mlm", None)
    if mlm is None:
        raise ConfigError(f"{type(model).__name__} has no MLM head; use BertForMaskedLM")
    tok = _tokenizer(model, tokenizer)
    mask = next((m for m in ("[MASK]", "<mask>", "<MASK>") if tok.token_to_id(m) is not None), None)
    if mask is None:
        raise ConfigError("the tokenizer has no [MASK] (or <mask>) token")
    mask_id = tok.token_to_id(mask)
    enc = _encode(model, tok, [text], one=True)
    ids = enc["input_ids"][0]
    where = (ids == mask_id).nonzero().flatten()
    if where.numel() == 0:
        # (a special token is matched as written: an uncased model's "[mask]" is text)
        hint = f"; write it as {mask}" if mask.lower() in text.lower() else ""
        raise ConfigError(f"no {mask} in {text!r}: put {mask} where a token is to be predicted"
                          f"{hint}")  # fmt: skip
    _check_trained_mlm(model)  # after the text's checks: warns only when it predicts
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        hidden, _ = _encoder(model)(enc["input_ids"].to(device), None, None)
        # a softmax over every logit, as transformers' fill-mask takes it; then the
        # tokenizer's tokens: an embedding padded past them has no text to show
        logits = mlm(hidden[0, where]).float()
        probs = torch.softmax(logits, dim=-1)[:, : tok.vocab_size].cpu()
    finally:
        model.train(was_training)
    top = probs.topk(min(top_k, probs.shape[-1]), dim=-1)
    from ..bpe import BpeTokenizer

    bpe = isinstance(tok, BpeTokenizer)  # a special token is named, as transformers does
    name = (lambda i: tok.decode([i], skip_special_tokens=False)) if bpe else tok.id_to_token
    return [
        [(name(int(i)), float(p)) for p, i in zip(ps, ids_, strict=True)]
        for ps, ids_ in zip(top.values, top.indices, strict=True)
    ]
