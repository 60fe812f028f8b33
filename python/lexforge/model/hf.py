"""The HF transformers checkpoint format: ``config.json`` + ``model.safetensors`` with
BERT's parameter names (+ tokenizer files), written so that stock ``transformers`` loads
it offline, and read from any HF BERT checkpoint (never a pickle).

Our names differ from HF's in one place of substance: the fused QKV projection, which HF
stores as separate query, key and value weights (split on save, concatenated on load).

This module writes a checkpoint (``save_pretrained``, with the tokenizer's files);
``hf_state`` maps parameter names and loads weights into a model, ``hf_read`` reads a
checkpoint directory. Their names are re-exported here, where callers import them.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import ConfigError
from ..formats import public_file, public_mode, write_failed
from ..formats.hf_folder import ROLES as ROLES
from ..formats.hf_folder import bert_framed as bert_framed
from ..formats.hf_folder import save_tokenizer_files, token_roles
from .config import BertConfig, check_vocab_fits
from .hf_read import SAVING as SAVING
from .hf_read import LoadedFrom as LoadedFrom
from .hf_read import PathLike as PathLike
from .hf_read import architecture as architecture
from .hf_read import checkpoint_kind as checkpoint_kind
from .hf_read import read_checkpoint as read_checkpoint
from .hf_state import HEADS as HEADS
from .hf_state import check_positions as check_positions
from .hf_state import check_sizes as check_sizes
from .hf_state import hf_names as hf_names
from .hf_state import load_hf_state as load_hf_state
from .hf_state import to_hf_state as to_hf_state


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    public_mode(fd)
    os.close(fd)
    try:
        write(Path(tmp))
        public_file(tmp)  # the writer may have made it anew, owner-only
        Path(tmp).replace(path)
    except BaseException:
        # the cleanup can fail too (EROFS, EACCES): the error to report is the write's
        with contextlib.suppress(OSError):
            Path(tmp).unlink(missing_ok=True)
        raise


def _write_text(path: Path, text: str) -> None:
    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    _write_atomic(path, write)


def save_pretrained(
    model: nn.Module, directory: PathLike, architecture: str, tokenizer: Any = None
) -> Path:
    """Writes ``config.json``, ``model.safetensors`` and (given a tokenizer) the tokenizer
    files. A WordPiece tokenizer gives BERT's files (``vocab.txt`` too); a byte-level BPE
    one a ``tokenizer.json`` that frames each text with its [CLS] and [SEP] tokens
    (``<s>``/``</s>`` also serve) and whose mask token takes the space before it, read by
    transformers' ``PreTrainedTokenizerFast``.

    Saving over a checkpoint is atomic as a whole, with ``config.json`` as the commit
    marker: every file is first written into a hidden staging folder inside the directory
    (``.save_pretrained-*.tmp``); a failure there removes it and leaves the old checkpoint
    as it was. Then ``config.json`` is replaced by a placeholder that is not JSON (so
    that no reader takes it for a config, nor, as transformers' ``Bert*`` classes do when
    there is none, falls back to a default one), the other files are renamed into place,
    and the new ``config.json`` is renamed in last. A reader (lexforge or transformers)
    sees the old checkpoint, the new one, or, for those few renames, one that neither
    loads: never new weights under an old config (same shapes, another ``hidden_act``,
    loaded silently). A process killed during the renames leaves that state (lexforge
    says a save was interrupted), with the files not yet moved in still in the staging
    folder: save again. Files of the directory that this save does not write (a README,
    tokenizer files when no tokenizer is given) are left as they are, but for an earlier
    tokenizer's files when a tokenizer is given (it replaces that one whole). A write
    that fails (a full disk) leaves the directory as it was and is an ``OSError`` naming
    it and the fix."""
    from .._extras import require

    require("save_pretrained", "safetensors")
    from safetensors.torch import save_file

    config: BertConfig = model.config  # type: ignore[assignment]
    # everything that can fail is done before the first file is written
    if tokenizer is not None:
        _check_tokenizer(tokenizer, config)
    out = Path(directory)
    _check_out_dir(out)
    try:
        config_json = json.dumps(config.to_hf(architecture), indent=2, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"the model's config cannot be written as config.json ({e})") from None
    state = to_hf_state(model)
    try:
        out.mkdir(parents=True, exist_ok=True)
        _drop_dead_stages(out)
        stage = Path(tempfile.mkdtemp(dir=out, prefix=f"{STAGE[0]}{os.getpid()}-", suffix=STAGE[1]))
    except OSError as e:  # (a read-only folder: named, not the staging folder's name)
        raise write_failed(out, e) from e
    try:
        _write_atomic(
            stage / "model.safetensors", lambda p: save_file(state, str(p), {"format": "pt"})
        )
        _write_text(stage / "config.json", config_json + "\n")
        if tokenizer is not None:
            _save_tokenizer(tokenizer, stage, config)
        names = _staged(stage, out)
        # the placeholder first: its write needs room, the renames after it do not
        _write_text(out / "config.json", SAVING)
    except BaseException as e:  # nothing of the checkpoint was moved: the old one stands
        shutil.rmtree(stage, ignore_errors=True)
        if isinstance(e, (OSError, *safetensors_errors())):
            raise write_failed(out, as_os_error(e)) from e
        raise
    _commit(stage, out, names)
    return out


def safetensors_errors() -> tuple[type[BaseException], ...]:
    try:
        from safetensors import SafetensorError
    except ImportError:  # (older safetensors: its errors are others)
        return ()
    return (SafetensorError,)


def as_os_error(e: BaseException) -> OSError:
    """An ``OSError`` for a write's error: safetensors' own says "No space left on device
    (os error 28)" in its text alone."""
    if isinstance(e, OSError):
        return e
    found = re.search(r"os error (\d+)", str(e))
    number = int(found.group(1)) if found else errno.EIO
    return OSError(number, os.strerror(number) if found else str(e))


STAGE = (".save_pretrained-", ".tmp")  # the staging folder's name: prefix, suffix


def _drop_dead_stages(out: Path) -> None:
    """Removes the staging folders that saves killed on this machine left in ``out`` (each
    a copy of the weights, never removed otherwise): those whose writer, named by the
    process id in the folder's name, is gone. A live writer's (another save under way) and
    one of an unknown writer stay."""
    for stale in out.glob(f"{STAGE[0]}*{STAGE[1]}"):
        pid = stale.name[len(STAGE[0]) :].split("-", 1)[0]
        if not (pid.isdigit() and stale.is_dir()) or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:  # (PermissionError: alive, another user's)
            shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            continue


def _staged(stage: Path, out: Path) -> list[str]:
    """The names of the files staged by ``save_pretrained``, each on disk (so that a power
    cut during the renames cannot leave a renamed file empty); ``ConfigError`` when one
    of them names a folder in ``out``, which no rename can replace."""
    names = sorted(p.name for p in stage.iterdir())
    for name in names:
        if (out / name).is_dir():
            raise ConfigError(
                f"save_pretrained: {out / name} is a folder; move it to write the checkpoint "
                f"into {out}"
            )
        with (stage / name).open("rb") as f:
            os.fsync(f.fileno())
    return names


# the files a tokenizer is saved as, by lexforge or transformers (any kind)
TOKENIZER_FILES = (
    "tokenizer.json", "vocab.txt", "vocab.json", "merges.txt", "tokenizer_config.json",
    "special_tokens_map.json", "added_tokens.json", "spiece.model", "sentencepiece.bpe.model",
)  # fmt: skip


def _commit(stage: Path, out: Path, names: list[str]) -> None:
    """Moves the staged files into ``out``: the placeholder over the old ``config.json``
    first and the new one in last, so that the checkpoint does not load in between. A
    tokenizer saved replaces the old one whole: the old one's files this one has not (a
    WordPiece ``vocab.txt`` beside a new BPE ``tokenizer.json``) are removed. The
    placeholder is in place already."""
    if "tokenizer.json" in names:
        for name in TOKENIZER_FILES:
            if name not in names and (out / name).is_file():
                (out / name).unlink()
    for name in sorted(names, key=lambda name: name == "config.json"):
        (stage / name).replace(out / name)
    stage.rmdir()


def _check_out_dir(out: Path) -> None:
    """The nearest part of ``out`` that exists is a directory (not a file)."""
    for at in (out, *out.parents):
        if at.exists():
            if not at.is_dir():
                where = "is a file" if at == out else f"is inside {at}, which is a file"
                raise ConfigError(
                    f"save_pretrained: {out} {where}; pass a directory to write the checkpoint into"
                )
            return


def _check_tokenizer(tokenizer: Any, config: BertConfig) -> None:
    from ..bpe import BpeTokenizer
    from ..wordpiece import WordPieceTokenizer

    if not isinstance(tokenizer, WordPieceTokenizer | BpeTokenizer):
        raise ConfigError(
            "save_pretrained writes the files of a WordPiece or byte-level BPE tokenizer, "
            f"got a {type(tokenizer).__name__}"
        )
    check_vocab_fits(tokenizer, config.vocab_size)
    if isinstance(tokenizer, BpeTokenizer):
        roles = token_roles(tokenizer)
        missing = [ROLES[r][0] for r in ("cls", "sep") if r not in roles]
        if missing and tokenizer.template is None:
            raise ConfigError(
                f"the BPE tokenizer has no {' or '.join(missing)} token to frame texts as BERT "
                f"does (special tokens: {sorted(tokenizer.special_tokens)}); train it with "
                "special_tokens including [CLS] and [SEP], or give it a template: "
                "tok.with_template(cls_token, sep_token)"
            )


def _save_tokenizer(tokenizer: Any, out: Path, config: BertConfig) -> None:
    """The tokenizer files of a model's folder (``save_tokenizer_files``), once the
    vocabulary is checked against the model's."""
    _check_tokenizer(tokenizer, config)
    save_tokenizer_files(tokenizer, out, config.max_position_embeddings)
