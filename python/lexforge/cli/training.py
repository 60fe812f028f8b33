"""The subcommands that train: ``quickstart`` (the main job), ``pretrain`` and
``finetune``, each a thin call of the Python API and a report of its scores.

The training itself is ``lexforge.train``'s and ``lexforge.quickstart``'s; the options
are ``parser``'s.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from lexforge.errors import ConfigError


def _quickstart(args: argparse.Namespace) -> int:
    from lexforge.quickstart import run

    return run(
        minutes=args.minutes,
        preset=args.preset,
        device=args.device,
        out=args.out,
        show_progress=False if args.quiet else None,
        precision=args.precision,
    )


def _pretrain(args: argparse.Namespace) -> int:
    from lexforge.train import pretrain

    names = ("steps", "batch_size", "grad_accum", "max_seq_len", "objective", "lr", "warmup",
             "schedule", "seed", "save_every", "eval_every", "eval_batches", "compile",
             "cuda_graphs", "fsdp", "gradient_checkpointing", "device", "precision",
             "embedding_init", "mlm_probability", "masking", "whole_word")  # fmt: skip
    from lexforge import datasets
    from lexforge.model.config import PRESETS
    from lexforge.train.pretrain_inputs import _shard_folder

    if args.preset not in PRESETS:
        raise ConfigError(f"--preset {args.preset!r} is not one of {', '.join(PRESETS)}")
    data = Path(args.data)
    if not data.exists() and args.data not in datasets.names():
        raise ConfigError(
            f"no such shard directory, text file or dataset: {data} (datasets: "
            f"{', '.join(datasets.names())})"
        )
    if not _shard_folder(data) and args.tokenizer is None:
        raise ConfigError(
            f"{data} is text, not shards: pass --tokenizer to build shards (train one with "
            "lexforge train-tokenizer --model wordpiece)"
        )
    result = pretrain(
        args.data, args.out, model=args.preset, eval_data=args.eval, tokenizer=args.tokenizer,
        text_column=args.text_column, resume=args.resume, progress=False if args.quiet else None,
        **{name: getattr(args, name) for name in names},
    )  # fmt: skip
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 reports (and saves)
        return 0
    last = [r for r in result.history if r["split"] == "train"]
    if last:
        print(json.dumps(last[-1]))
    print(f"model: {result.out_dir / 'model'}")
    return 0


def _finetune(args: argparse.Namespace) -> int:
    from lexforge.train import finetune

    _task_flags(args)
    try:
        result = finetune(
            args.model, args.data, validation=args.validation, test=args.test,
            out_dir=args.out, text_column=args.text_column, pair_column=args.pair_column,
            label_column=args.label_column, epochs=args.epochs, batch_size=args.batch_size,
            lr=args.lr, warmup=args.warmup, weight_decay=args.weight_decay,
            layer_decay=args.layer_decay, clip=args.clip, max_length=args.max_length,
            patience=args.patience,
            max_steps=args.max_steps, time_limit=args.time_limit, seed=args.seed,
            device=args.device, precision=args.precision,
            progress=False if args.quiet else None, task=args.task,
            runs=args.runs, problem_type=args.problem_type,
            label_separator=args.label_separator, new_head=args.new_head, stride=args.stride,
            max_answer_length=args.max_answer_length, unanswerable=args.unanswerable,
            null_threshold=args.null_threshold,
        )  # fmt: skip
    except KeyboardInterrupt as e:
        if str(e):
            raise
        raise KeyboardInterrupt(  # (a run keeps its best model in memory until it ends)
            f"fine-tuning stopped before its end, so no model was written to "
            f"{Path(args.out) / 'best'} (log.jsonl there has the epochs so far); the same "
            "command starts it over"
        ) from None
    if len(result.soup) > 1:
        print(f"model soup: the weights of runs {list(result.soup)} averaged")
    elif result.soup:
        print(f"model soup: run {result.soup[0]} alone (averaging scored lower on validation)")
    shown = {"validation": result.validation, "test": result.test}
    for split, metrics in shown.items():
        if metrics:
            print(f"{split}: {_scores(metrics)}")
    print(f"best model: {Path(args.out) / 'best'}")
    return 0


def _task_flags(args: argparse.Namespace) -> None:
    """Flags for one task given with another are refused by their names (the API's
    refusal names its keywords: stride=8, task='qa')."""

    def flags(*names: str) -> list[str]:
        given = []
        for name in names:
            value, flag = getattr(args, name), name.replace("_", "-")
            if value is True or value is False:  # (--unanswerable / --no-unanswerable)
                given.append(f"--{flag}" if value else f"--no-{flag}")
            elif value is not None:
                given.append(f"--{flag} {value}")
        return given

    def them(given: list[str]) -> str:
        return "it" if len(given) == 1 else "them"

    qa = flags("stride", "max_answer_length", "unanswerable", "null_threshold")
    if qa and args.task != "qa":
        fix = f"this is --task {args.task}" if args.task else "add --task qa to answer questions"
        raise ConfigError(
            f"{', '.join(qa)}: only --task qa takes {them(qa)} (its windows and answers); {fix}"
        )
    texts = flags("problem_type", "label_separator")
    if texts and args.task in ("tag", "qa"):
        raise ConfigError(
            f"{', '.join(texts)}: only text classification (--task classify) takes "
            f"{them(texts)}; this is --task {args.task}"
        )


def _scores(metrics: dict[str, Any]) -> str:
    """One line of a split's scores, whatever the task."""
    if "exact_match" in metrics:
        line = f"exact match {metrics['exact_match']:.2f}, F1 {metrics['f1']:.2f}"
        # (SQuAD 2.0's: each kind of question the split holds)
        parts = [f"{name} {metrics[key]:.2f}" for key, name in (
            ("has_answer_f1", "answerable F1"), ("no_answer_accuracy", "no-answer accuracy")
        ) if key in metrics]  # fmt: skip
        if parts:
            threshold = metrics.get("null_threshold")
            shown = "" if threshold is None else f" (threshold {threshold:.3f})"
            line += f"; {', '.join(parts)}{shown}"
        return line
    if "mse" in metrics:
        return (f"MSE {metrics['mse']:.4f}, Pearson {metrics['pearson']:.4f}, "
                f"Spearman {metrics['spearman']:.4f}")  # fmt: skip
    line = f"accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}"
    if "micro_f1" in metrics:
        line += f", micro-F1 {metrics['micro_f1']:.4f}"
    if "entity" in metrics:
        e = metrics["entity"]
        line += f"; entities P {e['precision']:.4f} R {e['recall']:.4f} F1 {e['f1']:.4f}"
    return line
