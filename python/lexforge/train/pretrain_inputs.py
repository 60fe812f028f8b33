"""The corpus arguments of ``lf.pretrain``, checked and made shards: ``data`` and
``eval_data`` (shards, a path, a list of files, a dataset name), ``tokenizer``, held-out
text that must exist before the training corpus is tokenized, text cut into shards with a
tokenizer that can pretrain (a mask token, the framing tokens), and the pad id the
batches use. It does not check the run's folder or its checkpoints
(:mod:`lexforge.train.pretrain_folder`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import ConfigError, CorpusError
from .distributed import _launch


def _corpus_arg(name: str, value: Any) -> Any:
    """``data`` or ``eval_data`` as given when it names a corpus (shards, a path, a dataset
    name), else its paths as a list (a list, a tuple, a generator of paths); anything else
    is a ``ConfigError`` here, not a ``TypeError`` from deep inside the shard builder."""
    from .._hf_datasets import kind
    from ..shards import ShardSet

    if isinstance(value, ShardSet | str | os.PathLike) or kind(value) is not None:
        return value  # (a Hugging Face Dataset: its text column is the corpus)
    if isinstance(value, Iterable) and not isinstance(value, bytes | dict):
        paths = list(value)
        if all(isinstance(p, str | os.PathLike) for p in paths):
            return paths
    raise ConfigError(
        f"{name} must be shards (a ShardSet or its directory), a text file, a directory of "
        f"them, a list of files, a dataset name or a Hugging Face Dataset; got "
        f"{type(value).__name__} {value!r:.80}"
    )


def _check_tokenizer_arg(tokenizer: Any) -> None:
    from ..tokenizer import Tokenizer

    if tokenizer is not None and not isinstance(tokenizer, Tokenizer | str | os.PathLike):
        raise ConfigError(
            f"tokenizer must be a lexforge Tokenizer or the path of its file, got "
            f"{type(tokenizer).__name__} {tokenizer!r:.80}"
        )


def _same_tokenizer(shards: Any, tokenizer: Any) -> bool:
    """Whether ``tokenizer`` (a tokenizer or its file) is the one the shards were cut with,
    by the digest of its saved file, as ``build_shards`` records it."""
    import tempfile

    from ..formats import sha256_file
    from ..tokenizer import Tokenizer

    if not isinstance(tokenizer, Tokenizer):
        tokenizer = Tokenizer.from_file(tokenizer)
    with tempfile.TemporaryDirectory() as scratch:
        saved = Path(scratch) / "tokenizer.json"
        tokenizer.save(saved)
        return bool(sha256_file(saved) == shards.manifest.get("tokenizer_sha256"))


def _held_out(eval_data: Any) -> Any:
    """``eval_data`` as shards when it is shards (None when it is text, to be cut once the
    tokenizer is known), after checking that held-out text exists: a typo fails before
    the training corpus is tokenized."""
    from .. import datasets
    from .._hf_datasets import kind
    from ..shards import ShardSet

    if eval_data is None or isinstance(eval_data, ShardSet):
        return eval_data
    if kind(eval_data) is not None:
        return None  # a Hugging Face Dataset: text to cut
    paths = [eval_data] if isinstance(eval_data, str | os.PathLike) else list(eval_data)
    if len(paths) == 1 and _shard_folder(paths[0]):
        return ShardSet(paths[0])
    for path in paths:
        if not Path(path).exists() and str(path) not in datasets.names():
            raise FileNotFoundError(
                f"eval_data: no such shard directory, text file or dataset: {path}"
            )
    return None


def _columns(data: Any, eval_data: Any, text_column: str | None) -> tuple[Any, Any]:
    """``text_column`` for the training text and for the held-out text: one option for
    both, it names the column of the records files among them, so a corpus of plain text
    beside records takes none (``None``). When neither holds records it stays on both,
    for the training corpus's check to refuse it by name."""
    if text_column is None or eval_data is None or _are_shards(data):
        return text_column, text_column
    takes = [_takes_column(data), _takes_column(eval_data)]
    if not any(takes):
        return text_column, text_column
    return tuple(text_column if t else None for t in takes)  # type: ignore[return-value]


def _takes_column(data: Any) -> bool:
    """Whether a corpus holds records files (or is a Hugging Face dataset), whose text is
    a column; one that cannot be listed says yes, for the shard builder to name why."""
    from .._corpus_files import is_records
    from .._hf_datasets import is_disk_folder, kind
    from .._shard_sources import _corpus_files

    if kind(data) is not None:
        return True
    try:
        files = _corpus_files(data, None)
    except (OSError, ConfigError, CorpusError):
        return True
    return any(is_records(p) or is_disk_folder(p) for p in files)


def _are_shards(data: Any) -> bool:
    """Whether ``data`` is shards already (a ShardSet or a shard directory), not text."""
    from ..shards import ShardSet

    if isinstance(data, ShardSet):
        return True
    return _shard_folder(data)


def _shard_folder(data: Any) -> bool:
    """Whether ``data`` names a folder of shards (not a corpus folder that happens to hold
    a ``manifest.json`` of its own)."""
    from .._shard_sources import _is_shard_dir

    return isinstance(data, str | os.PathLike) and _is_shard_dir(Path(data))


def _check_out_of_corpus(data: Any, out: Path) -> None:
    """Refuses an output directory inside the corpus directory (its files would become
    part of the corpus)."""
    if isinstance(data, str | os.PathLike) and Path(data).is_dir():
        corpus, target = Path(data).resolve(), out.resolve()
        if target == corpus or corpus in target.parents:
            raise ConfigError(
                f"the output directory {out} is inside the corpus directory {data}: its files "
                "would become part of the corpus; put it elsewhere"
            )


def _check_apart(data: Any, eval_data: Any, out: Path) -> None:
    """Before anything is tokenized: the output directory outside the corpus (a refused
    run left the held-out shards it had cut inside the user's corpus folder); and a
    warning for held-out files or shards that are training ones too (their scores are of
    text the model trains on, and nothing said so)."""
    from .._hf_datasets import kind
    from .._shard_sources import _corpus_files
    from ..shards import ShardSet

    _check_out_of_corpus(data, out)
    if eval_data is None or kind(data) is not None or kind(eval_data) is not None:
        return

    def folder(x: Any) -> Path | None:
        if isinstance(x, ShardSet):
            return Path(x.directory).resolve()
        return Path(x).resolve() if _shard_folder(x) else None

    shards = folder(data), folder(eval_data)
    if None not in shards:
        if shards[0] == shards[1]:
            _warn_seen(f"eval_data (--eval) is the training shards {data}")
        return
    if shards != (None, None):
        return  # (shards on one side, text on the other: compared by nothing cheap)
    try:
        trained = {p.resolve() for p in _corpus_files(data, out)}
        held = _corpus_files(eval_data, None)
    except (OSError, ConfigError, CorpusError):
        return  # (the shard builder names what is wrong)
    both = [p for p in held if p.resolve() in trained]
    if both:
        _warn_seen(f"eval_data (--eval): {both[0]} is also part of the training corpus {data}")


def _warn_seen(what: str) -> None:
    warnings.warn(
        f"{what}: its scores are of text the model trains on (how well it fits, not how it "
        "does on unseen text); for held-out scores pass text kept out of the corpus",
        UserWarning,
        stacklevel=5,
    )


def _eval_shards(
    eval_data: Any, out: Path, tokenizer: Any, progress: bool | None, text_column: str | None
) -> Any:
    """Held-out text cut into ``out/eval-shards``; its errors name ``eval_data``."""
    try:
        return _shards(eval_data, out, tokenizer, progress, text_column, "eval-shards")
    except CorpusError as e:
        raise CorpusError(f"eval_data (--eval): {e}") from None


def _shards(
    data: Any,
    out: Path,
    tokenizer: Any,
    progress: bool | None,
    text_column: str | None = None,
    folder: str = "shards",
    *,
    for_eval: bool = False,
) -> Any:
    """``data`` as shards: a ShardSet, a shard directory, or text cut into ``out/folder``
    with ``tokenizer`` (a tokenizer or its file). ``for_eval``: ``text_column`` is also
    for held-out text, so shards given as ``data`` do not refuse it."""
    from ..masking import MASK_TOKENS
    from ..pretraining import framing_ids
    from ..shards import ShardSet, build_shards
    from ..tokenizer import Tokenizer

    shards = None
    if isinstance(data, ShardSet):
        shards = data
    elif _shard_folder(data):
        shards = ShardSet(data)
    if shards is not None:  # already tokenized: the text options have nothing to apply to
        if text_column is not None and not for_eval:
            raise ConfigError(
                f"text_column={text_column!r} applies to text files, but {data} holds shards "
                "(already tokenized); drop it, or pass the text"
            )
        if tokenizer is not None and not _same_tokenizer(shards, tokenizer):
            raise ConfigError(
                f"{data} holds shards cut with another tokenizer than the one given; drop "
                "tokenizer= (--tokenizer): shards train with their own, or pass the text to "
                "cut it with this one"
            )
        return shards
    if isinstance(data, list | tuple) and any(_shard_folder(d) for d in data):
        raise ConfigError(
            "the list holds shard folders: a run trains on one set of shards; pass one folder, "
            "or cut one set from all the texts (lexforge.build_shards takes a list of files)"
        )
    if tokenizer is None:
        raise ConfigError(
            f"{data!r} is text, not shards: pass tokenizer= (a tokenizer or its file) to cut "
            "it into shards first, or shards from lexforge.build_shards"
        )
    if _launch()[1] > 1:
        raise ConfigError(
            "under torchrun every rank would tokenize the corpus into the same folder: build "
            "the shards first (lexforge.build_shards, or `lexforge pretrain` in one process) "
            "and pass their directory"
        )
    _check_out_of_corpus(data, out)
    if not isinstance(tokenizer, Tokenizer):
        tokenizer = Tokenizer.from_file(tokenizer)
    # a tokenizer these shards could not pretrain with: say so before cutting them
    specials = dict(tokenizer.special_tokens)
    if not any(t in specials for t in MASK_TOKENS):
        raise ConfigError(
            f"pretraining needs a mask token, and the tokenizer has none (looked for "
            f"{', '.join(MASK_TOKENS)}; it has {sorted(specials)}); train it with "
            "special_tokens=[..., '[MASK]']"
        )
    framing_ids(tokenizer)
    return build_shards(data, out / folder, tokenizer, progress=progress, text_column=text_column)


def _pad_id(tokenizer: Any) -> int:
    """The id the batches pad with (``[PAD]`` or ``<pad>``; 0 for a tokenizer with neither,
    as the batches then refuse it)."""
    for token in ("[PAD]", "<pad>"):
        found = tokenizer.token_to_id(token)
        if found is not None:
            return int(found)
    return 0
