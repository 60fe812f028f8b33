"""Training a WordPiece vocabulary (:func:`train_wordpiece`, also
``Tokenizer.train_wordpiece``): words counted under BERT's normalizer and pre-tokenizer,
then pieces merged as in BPE but over characters (continuation pieces carry ``##``), the
same for any thread count. The result is a :class:`~lexforge.wordpiece.WordPieceTokenizer`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from lexforge import _core
from lexforge._core import BertTokenizer
from lexforge._progress import Progress
from lexforge.errors import TrainerConfigError
from lexforge.formats import bert
from lexforge.training import (
    PathLike,
    WordCounts,
    check_counts,
    check_flags,
    naming_files,
    special_list,
)
from lexforge.wordpiece import WordPieceTokenizer


def train_wordpiece(
    files: PathLike | Sequence[PathLike] | None = None,
    *,
    texts: Iterable[str] | None = None,
    vocab_size: int = 30_522,
    special_tokens: Sequence[str] = bert.SPECIALS,
    min_frequency: int = 0,
    limit_alphabet: int | None = None,
    lowercase: bool = True,
    strip_accents: bool | None = None,
    handle_chinese_chars: bool = True,
    clean_text: bool = True,
    max_token_length: int | None = None,
    max_input_chars_per_word: int = 100,
    unk_token: str = "[UNK]",
    num_threads: int | None = None,
    show_progress: bool | None = None,
    text_column: str | None = None,
) -> WordPieceTokenizer:
    """Trains a WordPiece tokenizer with BERT's normalizer and pre-tokenizer.

    Words are counted (files streamed line by line, or any iterable of texts) in parallel;
    then pieces are merged like byte-level BPE but over characters, continuation pieces
    carrying ``##``. The vocabulary: ``special_tokens`` (which must include ``unk_token``),
    the characters, then the merged pieces (a piece spelled like a special token is that
    token, one id); ``vocab_size`` is the most it holds: training stops sooner, with fewer
    tokens (``len(tok)``), once no pair is left to merge or the best one occurs fewer than
    ``min_frequency`` times, as HF's trainer does. The special tokens' text is cut out of
    the corpus first (HF trains on it: ``[MASK]`` in the text gives HF the pieces ``[``,
    ``mask``, ``]``). Training is
    deterministic: the same corpus and
    options give the same vocabulary for any ``num_threads``. With ``[CLS]`` and ``[SEP]``
    among the special tokens the tokenizer gets BERT's templates (``[CLS] A [SEP]``,
    ``[CLS] A [SEP] B [SEP]``); without them, RoBERTa's ``<s>`` and ``</s>`` (or XLNet's
    ``<cls>`` and ``<sep>``) take their places, as they do in pretraining's rows; with
    neither, no template (:meth:`WordPieceTokenizer.with_template` sets one).

    Args:
        limit_alphabet: keep only this many characters (the most frequent); others
            become ``unk_token`` when encoding.
        max_token_length: longest piece, in characters (the ``##`` prefix not counted);
            default: ``max_input_chars_per_word``, since a longer piece could never be used.
        max_input_chars_per_word: the tokenizer encodes a longer word as ``unk_token``;
            such words give the alphabet their characters but are not learned from (a
            corpus of one huge word stays cheap to train on).
        text_column: the column of JSON Lines, JSON, csv, tsv and Parquet files that holds
            the text (default: ``text``, else the records' only text column).
    """

    if files is None and texts is None:
        raise TypeError("train_wordpiece needs files=... or texts=...")
    special_tokens = special_list(special_tokens)
    check_flags(
        lowercase=lowercase, strip_accents=strip_accents,
        handle_chinese_chars=handle_chinese_chars, clean_text=clean_text,
    )  # fmt: skip
    check_counts(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        limit_alphabet=limit_alphabet,
        max_token_length=max_token_length,
        max_input_chars_per_word=max_input_chars_per_word,
        num_threads=num_threads,
    )
    if unk_token not in special_tokens:
        raise TrainerConfigError(
            f"special_tokens must include the unknown token {unk_token!r} (WordPiece needs it)"
        )
    counts = WordCounts.bert(
        lowercase=lowercase,
        strip_accents=strip_accents,
        handle_chinese_chars=handle_chinese_chars,
        clean_text=clean_text,
        special_tokens=special_tokens,
    )
    if files is not None:
        counts.add_files(
            files, text_column=text_column, num_threads=num_threads, show_progress=show_progress
        )
    if texts is not None:
        counts.add_texts(texts, num_threads=num_threads)
    with (
        naming_files(files),
        Progress("learning pieces", enabled=show_progress) as bar,
        counts._core.lock,
    ):
        tokens = _core.train_wordpiece(
            counts._core.core,
            vocab_size,
            list(special_tokens),
            min_frequency,
            limit_alphabet,
            "##",
            max_input_chars_per_word if max_token_length is None else max_token_length,
            bar,
            max_input_chars_per_word,
        )
    framing = bert.framing_tokens(special_tokens)
    single, pair = bert.bert_template(tokens, *(framing or (None, None)))
    ids = {t: i for i, t in enumerate(tokens)}
    return WordPieceTokenizer(
        BertTokenizer(
            tokens,
            unk_token,
            "##",
            max_input_chars_per_word,
            counts.normalizer,
            [(t, ids[t]) for t in special_tokens],
            single,
            pair,
        )
    )
