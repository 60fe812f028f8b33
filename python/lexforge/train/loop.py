"""``lf.pretrain``: masked-language-model (+ next-sentence) pretraining from shards.

One loop for one process or many (``torchrun`` sets the environment; each rank trains its
own batches of the stream and DDP averages the gradients). The loss of a step is
normalised by the *global* number of masked tokens (and of sequences, for NSP), counted
over every micro-batch and rank before the backward passes, so gradient accumulation and
data parallelism give the same update as one big batch.

Everything a step depends on — the batch (by index in the seeded stream), its masks, the
dropout RNG (each rank its own stream, each saved in the checkpoints) — is a function of
the seed, the step and the rank, so a run resumed from a checkpoint continues bit for bit
(on the CPU) as if it had never stopped.

This module holds the loop itself (the checks of ``pretrain``'s arguments in the order
they run, the model, optimizer and schedule, the steps, saving and export); its parts
live beside it: the options (:mod:`.pretrain_options`), the corpus arguments
(:mod:`.pretrain_inputs`), the run's folder and resume checks (:mod:`.pretrain_folder`),
the processes (:mod:`.distributed`), the batches (:mod:`.pretrain_stream`) and the
evaluations and log (:mod:`.pretrain_log`).
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._extras import require
from ..errors import CheckpointError, ConfigError, CorpusError, TrainingDivergedError
from ..model import BertConfig, BertForMaskedLM, BertForPreTraining
from ..model.config import check_vocab_fits
from ..ops.reproducible import thread_invariant
from . import checkpoint
from ._fit import adamw, check_out_dir, resolve_device
from ._fit import autocast as mixed_precision
from ._interrupt import Stopped, StopRequest
from .distributed import _launch, _rank_seed, _Sharded, _World
from .pretrain_folder import _check_earlier_run, _check_resumed_options, _only_run
from .pretrain_inputs import (
    _are_shards,
    _check_apart,
    _check_tokenizer_arg,
    _columns,
    _corpus_arg,
    _eval_shards,
    _held_out,
    _pad_id,
    _shards,
)
from .pretrain_log import _Evaluator, _Log, _mlm_means
from .pretrain_options import PretrainOptions, PretrainResult, _options
from .pretrain_stream import _forward, _Micro, _Slots, _step_totals, _stream

__all__ = ["PretrainOptions", "PretrainResult", "pretrain"]


@thread_invariant()  # (its held-out evaluations: the same bits at any thread count)
def pretrain(
    data: Any,
    out_dir: str | os.PathLike[str],
    *,
    model: BertConfig | str = "mini",
    eval_data: Any = None,
    tokenizer: Any = None,
    text_column: str | None = None,
    resume: bool = False,
    progress: bool | None = None,
    **options: Any,
) -> PretrainResult:
    """Pretrains a BERT on ``data`` and writes into ``out_dir``: ``checkpoints/``,
    ``log.jsonl`` (a JSON line every ``log_every`` steps, with the means of the steps
    since the line before, and one per evaluation), ``curves.png`` and, at
    the end, ``model/`` in the HF format (loads in ``transformers``).

    ``data``: a :class:`~lexforge.ShardSet` or its directory (its tokenizer defines the
    vocabulary), or text — a file, a directory of files, a list of files or a dataset
    name — with ``tokenizer`` (a tokenizer or its file), which is then cut into shards in
    ``out_dir/shards`` first (resumable; with ``torchrun``, build the shards beforehand).
    Of JSON Lines, JSON, csv, tsv and Parquet files the ``text_column`` is read (default:
    ``text``, else the records' only text column), one record per document.
    ``eval_data``: held-out shards (a ShardSet or its directory), or held-out text in any
    form ``data`` takes, cut into ``out_dir/eval-shards`` with the training shards'
    tokenizer, and evaluated (``log.jsonl``, ``"split": "eval"``) at the last step and
    every ``eval_every`` steps. ``model``: a :class:`BertConfig` or a preset name;
    ``options``: the fields of :class:`PretrainOptions`. ``resume=True`` continues from
    the latest checkpoint in ``out_dir`` (with none, it starts at step 0, with a warning
    when an earlier run's log or model is there; with only unusable checkpoint folders, a
    ``CheckpointError`` names them); without it, a folder holding an earlier run is
    refused. Under ``torchrun`` every rank runs this same call.
    """

    require("pretraining", "safetensors")  # checkpoints are written with it: checked first
    unknown = set(options) - set(PretrainOptions.__dataclass_fields__)
    if unknown:
        fields = ", ".join(PretrainOptions.__dataclass_fields__)
        raise ConfigError(f"unknown option {sorted(unknown)[0]!r}; the options are {fields}")
    opts = PretrainOptions(**options)
    if opts.eval_every and eval_data is None:  # else no evaluation would ever run
        raise ConfigError(
            f"eval_every={opts.eval_every} evaluates held-out data, and none was given: pass "
            "eval_data= (lexforge pretrain --eval), or drop eval_every"
        )
    data = _corpus_arg("data", data)
    eval_data = None if eval_data is None else _corpus_arg("eval_data", eval_data)
    _check_tokenizer_arg(tokenizer)
    rank, size = _launch()  # a broken launch environment is said before anything is written
    if opts.cuda_graphs and size > 1:
        raise ConfigError(
            "cuda_graphs is for one process: DDP's gradient hooks run outside the graphs; "
            "under torchrun use compile=True instead"
        )
    # checked before any corpus is tokenized (which can take hours)
    check_out_dir(out_dir)
    ckpts = Path(out_dir) / "checkpoints"
    if ckpts.exists() and not ckpts.is_dir():  # said now, not at the first save hours later
        raise ConfigError(
            f"{ckpts} is a file, where the run writes its checkpoints; move it away, or pass "
            "another out_dir"
        )
    _check_earlier_run(Path(out_dir), resume, rank)
    existed = Path(out_dir).exists()
    try:
        with contextlib.ExitStack() as held:  # the run's folder lock, once taken
            return _pretrain(data, out_dir, opts, model, eval_data, tokenizer, text_column,
                             resume, progress, held)  # fmt: skip
    except BaseException:
        if not existed:  # a run that failed before it wrote a file leaves no folder behind
            _drop_empty_folders(Path(out_dir))
        raise


def _drop_empty_folders(root: Path) -> None:
    """Removes ``root`` and the folders under it when none of them holds a file (a run
    that wrote anything keeps its whole folder as it is)."""
    with contextlib.suppress(OSError):
        inside = list(root.rglob("*"))
        if any(not p.is_dir() for p in inside):
            return
        for folder in [*sorted(inside, reverse=True), root]:  # deepest first
            folder.rmdir()


def _check_held_out(eval_shards: Any, opts: PretrainOptions) -> None:
    """The held-out data gives the objective's batches (NSP needs two documents, SOP
    documents of two segments): a ``CorpusError`` naming ``eval_data``, raised before the
    training corpus is cut where the held-out text is cut first."""
    from ..pretraining import PretrainingBatches
    from ..shards import ShardSet

    shards = eval_shards if isinstance(eval_shards, ShardSet) else ShardSet(eval_shards)
    try:
        with warnings.catch_warnings():  # (the evaluation's own batches warn, once)
            warnings.simplefilter("ignore")
            batches = PretrainingBatches(
                shards, batch_size=opts.batch_size, max_seq_len=opts.max_seq_len,
                objective=opts.objective, seed=opts.seed,
            )  # fmt: skip
            next(iter(batches.iterate()))
    except CorpusError as e:
        raise CorpusError(f"eval_data (--eval): {e}") from None


def _pretrain(
    data: Any,
    out_dir: str | os.PathLike[str],
    opts: PretrainOptions,
    model: BertConfig | str,
    eval_data: Any,
    tokenizer: Any,
    text_column: str | None,
    resume: bool,
    progress: bool | None,
    held: contextlib.ExitStack,
) -> PretrainResult:
    if not isinstance(model, BertConfig):
        from ..model.config import PRESETS

        if not isinstance(model, str) or model not in PRESETS:
            raise ConfigError(
                f"unknown preset {model!r}: model= takes a BertConfig or one of "
                f"{', '.join(PRESETS)}; pretraining starts from fresh weights (to go on with a "
                "run, pass its out_dir again with resume=True)"
            )
    if opts.device is not None or opts.cuda_graphs:
        device = resolve_device(opts.device)
        if opts.cuda_graphs and device.type != "cuda":
            warnings.warn(
                f"cuda_graphs=True on {device.type}: no CUDA graphs there, only the static "
                "shapes and a compile for them, slow there; it is for a CUDA device",
                UserWarning,
                stacklevel=3,
            )
    eval_shards = _held_out(eval_data)
    _check_apart(data, eval_data, Path(out_dir))
    # text_column may be for the held-out text alone, when the training data is shards
    eval_text = eval_data is not None and eval_shards is None
    # one option, the column of whichever corpus holds records files
    column, eval_column = _columns(data, eval_data if eval_text else None, text_column)
    if eval_text and tokenizer is not None and not _are_shards(data):
        # held-out text, cut first: held-out text with nothing in it fails before the
        # (larger) training corpus is tokenized
        eval_shards = _eval_shards(eval_data, Path(out_dir), tokenizer, progress, eval_column)
    if eval_shards is not None:
        _check_held_out(eval_shards, opts)
    shards = _shards(data, Path(out_dir), tokenizer, progress, column, for_eval=eval_text)
    tokenizer = shards.tokenizer()
    if eval_text and eval_shards is None:  # held-out text: cut it the same way
        eval_shards = _eval_shards(eval_data, Path(out_dir), tokenizer, progress, eval_column)
        _check_held_out(eval_shards, opts)
    pad = _pad_id(tokenizer)
    config = model if isinstance(model, BertConfig) else BertConfig.preset(
        model, vocab_size=tokenizer.vocab_size, pad_token_id=pad,
        max_position_embeddings=max(512, opts.max_seq_len),
    )  # fmt: skip
    if config.pad_token_id != pad:
        raise ConfigError(
            f"the model's pad_token_id is {config.pad_token_id}, the shards' tokenizer pads "
            f"with id {pad}; build the config with pad_token_id={pad}"
        )
    if opts.objective != "none" and config.type_vocab_size < 2:
        raise ConfigError(
            f"objective {opts.objective!r} needs two segments: type_vocab_size >= 2 (the "
            f"config has {config.type_vocab_size}); or pass objective='none'"
        )
    shards.verify()  # once a run: data changed on disk since it was written trains wrong
    if eval_shards is not None:
        eval_shards.verify()
        ours, theirs = (x.manifest.get("tokenizer_sha256") for x in (shards, eval_shards))
        if ours != theirs:
            raise ConfigError(
                "eval_data was tokenized with another tokenizer than the training shards; "
                "build both with the same tokenizer"
            )
    check_vocab_fits(tokenizer, config.vocab_size)
    if opts.max_seq_len > config.max_position_embeddings:
        raise ConfigError(
            f"max_seq_len {opts.max_seq_len} exceeds the model's max_position_embeddings "
            f"{config.max_position_embeddings}"
        )
    out = Path(out_dir)
    # one run at a time in a folder, from here on (every check above leaves nothing behind;
    # rank 0 holds it for the job: every rank of a torchrun job shares the folder)
    if _launch()[0] == 0:
        held.enter_context(_only_run(out))
        _drop_leftovers(out)
    world = _World.start(opts.device)
    torch.manual_seed(opts.seed)
    net: nn.Module = (BertForMaskedLM if opts.objective == "none" else BertForPreTraining)(config)
    fresh = not (resume and checkpoint.latest(out / "checkpoints") is not None)
    if opts.embedding_init == "spectral" and fresh:
        from .spectral import initialise_embeddings

        initialise_embeddings(net, shards, seed=opts.seed)  # the same on every rank
    if world.rank > 0:  # a dropout stream of its own (rank 0 keeps a one-process run's)
        torch.manual_seed(_rank_seed(opts.seed, world.rank))
    net.to(world.device)
    if opts.gradient_checkpointing:
        net.gradient_checkpointing_enable()  # type: ignore[operator]  # (a Pretrained)
    if opts.fsdp and world.size == 1:
        warnings.warn(
            "fsdp=True in a single process: there is nothing to shard the model across, so "
            "it trains unsharded; launch with torchrun --nproc_per_node=N to shard it",
            stacklevel=3,
        )
    sharded = _Sharded(net) if opts.fsdp and world.size > 1 else None
    optimizer = adamw(
        _param_groups(net, opts.weight_decay), lr=opts.lr, betas=opts.betas, eps=opts.eps,
        fused=sharded is None,
    )  # fmt: skip
    start = 0
    ckpt_root = out / "checkpoints"
    data = {
        "shards": str(shards.directory),
        "shards_fingerprint": shards.fingerprint(),
        "shards_sources": shards.sources_digest(),
        "world_size": world.size,
    }
    restored: list[float] | None = None  # the log's sums since its last line, as saved
    if resume and (found := checkpoint.latest(ckpt_root)) is not None:
        built = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
        if sharded is None:
            state = checkpoint.load(found, net, optimizer, rank=world.rank)
        else:
            state = sharded.load(found, optimizer)
        _check_resumed_options(found, opts, data)
        checkpoint.check_settings(found, state["param_groups"], built)
        start = state["step"]
        restored = _log_window(state)
        if start > opts.steps:  # (== steps: the run is complete; it exports again)
            raise ConfigError(
                f"the latest checkpoint in {out / 'checkpoints'} is at step {start}, past "
                f"steps={opts.steps}: pass steps > {start} to train on, or take the model "
                "of an earlier checkpoint (they are kept there)"
            )
    if world.size > 1:  # every rank has checked the folder before rank 0 writes into it
        torch.distributed.barrier()
    # the rate of step `start` (a resumed optimizer carries its groups' initial_lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: _lr_factor(s, opts), last_epoch=start - 1
    )
    trained: nn.Module = net
    if world.size > 1 and sharded is None:
        trained = nn.parallel.DistributedDataParallel(
            net, device_ids=[world.device.index] if world.device.type == "cuda" else None
        )
    slots = _Slots() if opts.cuda_graphs else None
    if opts.cuda_graphs:  # static shapes: the padded path, MLM positions to a fixed count
        net.bert.unpad = False  # type: ignore[union-attr]
        trained = torch.compile(trained, mode="reduce-overhead", dynamic=False)  # type: ignore[assignment]
    elif opts.compile:
        # dynamic: the batch's token counts (the layout's ints) stay symbolic, so one graph
        # serves every batch instead of a recompilation per count
        trained = torch.compile(trained, dynamic=True)  # type: ignore[assignment]

    stream = _stream(shards, opts, world, start)
    evaluator = _Evaluator(eval_shards, opts, world) if eval_shards is not None else None
    # opened last, so that a refusal above leaves no file open
    log = _Log(out, enabled=world.rank == 0, progress=progress, total=opts.steps, start=start)
    autocast = mixed_precision(world.device, opts.precision)
    # a Ctrl-C in the loop ends the step under way, which saves a checkpoint, then stops
    ctrl_c = StopRequest(
        "finishing this step and saving a checkpoint to resume from" if opts.keep > 0
        else "finishing this step",
        "stops at once; resume=True (--resume) then continues from the last one saved"
        if opts.keep > 0 else "stops at once",
    ).__enter__()  # fmt: skip
    try:
        net.train()
        # since the last log line (or the start): real (non-padding) tokens, masked
        # tokens and NSP rows of all ranks, on the host; the loss and accuracy sums of this
        # rank, on the device (read only when a line is written). A line gives the mean over
        # its window of steps, not the last step's value
        window_tokens = window_masked = window_rows = 0.0
        window = torch.zeros(4, dtype=torch.float64, device=world.device)
        if restored is not None:  # the global sums, saved by rank 0: it holds them again
            window_tokens, window_masked, window_rows = restored[4:7]
            if len(restored) == 8:  # the window's training seconds, beside its tokens
                log.resume_window(restored[7])
            else:  # (saved before they were: the line's rate counts this process's tokens)
                window_tokens = 0.0
            if world.rank == 0:
                window += torch.tensor(restored[:4], dtype=torch.float64, device=world.device)
        for step in range(start, opts.steps):
            # counted on the host, from the batches as they come: nothing in a step waits for
            # the device (until a log line reads the totals)
            micro = [_Micro.of(next(stream), world.device, slots) for _ in range(opts.grad_accum)]
            # (with a Ctrl-C seen by any rank so far: every rank stops after the same step)
            masked, rows, real, stopping = world.sum(
                sum(m.masked for m in micro), sum(m.rows for m in micro),
                sum(m.real for m in micro), float(ctrl_c.asked),
            )  # fmt: skip
            window_tokens += real
            window_masked += masked
            window_rows += rows
            for i, m in enumerate(micro):
                b = m.batch
                last = i == len(micro) - 1
                sync: Any = contextlib.nullcontext()
                if sharded is not None:
                    net.set_requires_gradient_sync(last)  # type: ignore[operator]
                elif not last and world.size > 1:
                    sync = trained.no_sync()  # type: ignore[operator]
                if opts.cuda_graphs and i == 0:  # a new step: the last step's outputs are spent
                    # (not between micro-batches: the gradients still accumulate)
                    torch.compiler.cudagraph_mark_step_begin()  # type: ignore[no-untyped-call]
                with sync, autocast:
                    o = _forward(trained, b, opts.objective, m.layout)
                    mlm_sum = o.loss * o.count if opts.objective == "none" else o.mlm_loss * o.count
                    loss = mlm_sum / max(masked, 1.0)
                    if opts.objective != "none":
                        n = b["input_ids"].shape[0]
                        loss = loss + o.nsp_loss * n / rows
                    # DDP averages gradients over ranks; the loss is already a global mean
                    (loss * world.size).backward()
                window += _step_totals(o, b, opts.objective)
            if opts.clip > 0:
                torch.nn.utils.clip_grad_norm_(net.parameters(), opts.clip)
            lr = optimizer.param_groups[0]["lr"]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            done = step + 1
            if world.size == 1:  # (one process need not wait for the next step's sum)
                stopping = float(ctrl_c.asked)
            stopping = stopping and done < opts.steps
            # the last step always saves: a finished run can be resumed with more steps; so
            # does a step that Ctrl-C stopped the run after
            saving = opts.keep > 0 and (
                done == opts.steps
                or bool(stopping)
                or (bool(opts.save_every) and done % opts.save_every == 0)
            )
            if done % opts.log_every == 0 or done == opts.steps or saving:
                # summed over ranks, so every rank stops at the same step
                mlm_loss, mlm_ok, nsp_loss, nsp_ok = world.sum(*window.tolist())
                if not math.isfinite(mlm_loss + nsp_loss):
                    diverged = TrainingDivergedError(
                        f"the pretraining loss is {mlm_loss + nsp_loss} by step {done}; nothing "
                        f"was saved from this step on. Lower lr (now {opts.lr:g}) and start "
                        "the run again in a new out_dir"
                    )
                    raise world.stop_all(diverged)
            if saving or done == opts.steps:  # the loss came before the step: the weights
                # it made, and their loss on the step's last batch, are checked before they
                # are saved or exported (finite weights may still overflow the outputs)
                finite = torch.stack([p.isfinite().all() for p in net.parameters()]).all()
                (broken,) = world.sum(float(not finite))
                what = f"the weights hold NaN or infinite values after step {done}"
                if not broken:  # (the module itself, as evaluations run it: not a compiled
                    # graph, for training steps alone; without dropout, which would draw
                    # from the generator that a run saving here must share with one that
                    # does not)
                    net.eval()
                    with torch.no_grad(), autocast:
                        o = _forward(net, micro[-1].batch, opts.objective, None)
                    net.train()
                    losses = [o.loss] if opts.objective == "none" else [o.mlm_loss, o.nsp_loss]
                    (broken,) = world.sum(float(not torch.stack(losses).isfinite().all()))
                    what = f"the weights of step {done} give a non-finite loss on its last batch"
                if broken:
                    overflowed = TrainingDivergedError(
                        f"{what} (its loss was finite: the update overflowed); nothing was saved "
                        f"from this step on. Lower lr (now {opts.lr:g}) and start the run again "
                        "in a new out_dir"
                    )
                    raise world.stop_all(overflowed)
            if done % opts.log_every == 0 or done == opts.steps:
                record = {"step": done, "lr": lr, **_mlm_means(mlm_loss, mlm_ok, window_masked),
                          "tokens": window_tokens}  # fmt: skip
                if opts.objective != "none":
                    record.update(
                        nsp_loss=nsp_loss / window_rows, nsp_accuracy=nsp_ok / window_rows
                    )
                log.step(record)
                window_tokens = window_masked = window_rows = 0.0
                window.zero_()
            # held-out data is always evaluated at the end; eval_every adds evaluations
            evaluating = done == opts.steps or (opts.eval_every and done % opts.eval_every == 0)
            if evaluator is not None and evaluating:
                with log.set_aside():  # (an evaluation is not training time)
                    held_out = evaluator.run(net, autocast)
                net.train()
                # (the same on every rank: summed over them)
                lost = [f"{k} is {v}" for k, v in held_out.items() if v is not None and
                        not math.isfinite(v)]  # fmt: skip
                if not lost:  # (a NaN is no JSON: the log keeps valid lines, as for training)
                    with log.set_aside():
                        log.eval(done, held_out)
                if lost:
                    off = TrainingDivergedError(
                        f"the held-out {lost[0]} after step {done} (the training loss was "
                        f"finite: the update overflowed the model's outputs); nothing was saved "
                        f"from this step on. Lower lr (now {opts.lr:g}) and start the run again "
                        "in a new out_dir"
                    )
                    raise world.stop_all(off)
            if saving:
                seconds = log.seconds()  # (rank 0's: its log's window)
                with log.set_aside():  # (a checkpoint is not training time)
                    full = sharded.gather(optimizer) if sharded is not None else (None, None)
                    rng = world.gather(checkpoint.rng_state())
                    # the log's sums since its last line (zero when one was just written),
                    # and the training seconds they took
                    sums = [*world.sum(*window.tolist()), window_tokens, window_masked, window_rows,
                            seconds]  # fmt: skip
                    failed: CheckpointError | None = None
                    if world.rank == 0:
                        try:
                            checkpoint.save(
                                ckpt_root, done, net, optimizer, _options(opts), opts.keep,
                                weights=full[0], optimizer_state=full[1], data=data, rng=rng,
                                log_window=sums,
                            )  # fmt: skip
                        except CheckpointError as e:  # (a full disk): every rank stops with it
                            failed = e
                    # every rank learns whether rank 0 saved (a barrier alone would leave the
                    # others waiting on a rank that has failed)
                    if world.sum(float(failed is not None))[0]:
                        failed = failed or CheckpointError(
                            f"rank 0 could not write the checkpoint of step {done} into "
                            f"{ckpt_root} (its error says why); free space there, then resume"
                        )
                        raise world.stop_all(failed)
            if stopping:
                kept = (
                    f"its checkpoint is saved in {ckpt_root}: resume=True (--resume) goes on "
                    "from it" if opts.keep > 0 else "keep=0: no checkpoint was saved"
                )  # fmt: skip
                stopped = Stopped(f"stopped after step {done}; {kept}", done, opts.keep > 0,
                                  ctrl_c.signum)  # fmt: skip
                raise world.stop_all(stopped)
    finally:
        ctrl_c.__exit__(None, None, None)
        log.close()
    if opts.cuda_graphs:
        net.bert.unpad = None  # type: ignore[union-attr]  # back to the default path
    if sharded is not None:  # rank 0 exports (and returns) an unsharded copy
        net = sharded.full_model()
    failed_export: BaseException | None = None
    if world.rank == 0:
        try:
            net.eval()
            _drop_stale_export(out / "model")
            net.save_pretrained(out / "model", tokenizer=tokenizer)  # type: ignore[operator]
        except Exception as e:  # (a full disk): every rank stops with it, none waits
            failed_export = e
        else:
            try:  # the curves are a view of log.jsonl: the run stands without them
                log.plot(opts.objective)
            except OSError as e:
                warnings.warn(f"{e} (the model is exported; the curves are not)", stacklevel=2)
    if world.sum(float(failed_export is not None))[0]:
        said = f"{failed_export}" if failed_export is not None else "its error says why"
        raise world.stop_all(CheckpointError(
            f"rank 0 could not export the trained model into {out / 'model'} ({said}); the "
            "checkpoints are kept: free space there, then resume (resume=True, --resume) to "
            "export it"
        )) from failed_export  # fmt: skip
    world.close()
    if ctrl_c.asked:  # in the last step or its evaluation: the run is complete and exported
        raise KeyboardInterrupt(
            f"stopped once the run was complete: its model is in {out / 'model'}"
        )
    return PretrainResult(net, out, log.history)


def _log_window(state: dict[str, Any]) -> list[float] | None:
    """The log's sums since its last line at the checkpoint's step (loss, correct, NSP
    loss, NSP correct, tokens, masked tokens, rows, and the training seconds, which older
    checkpoints lack), or None (a checkpoint from before they were saved, or a damaged
    entry: the next line then averages the resumed steps only)."""
    found = state.get("log_window")
    if not isinstance(found, list) or len(found) not in (7, 8):
        return None
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in found):
        return None
    return [float(x) for x in found]


def _drop_leftovers(out: Path) -> None:
    """The temporary files of writes that a kill cut short (the log's rewrite, the
    curves, the ``latest`` pointer): this run holds the folder's lock, so none is another
    writer's. (A checkpoint's own temporary folder goes at the next save.)"""
    for pattern in (
        ".log.jsonl.tmp-*",
        ".curves.png.tmp-*",
        f"checkpoints/.{checkpoint.LATEST}.tmp-*",
    ):
        for stale in out.glob(pattern):
            if stale.is_file():
                stale.unlink(missing_ok=True)


def _drop_stale_export(model_dir: Path) -> None:
    """The staging folders of an export that was killed (each a copy of the weights):
    this run holds the folder's lock, so none is another writer's."""
    import shutil

    from ..model.hf import STAGE

    for stale in model_dir.glob(f"{STAGE[0]}*{STAGE[1]}"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: no weight decay on biases, LayerNorms and embeddings' norms."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.dim() < 2 or "norm" in name else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _lr_factor(step: int, opts: PretrainOptions) -> float:
    warm = opts.warmup_steps()
    if step < warm:
        return (step + 1) / warm
    frac = (step - warm) / max(1, opts.steps - warm)
    if opts.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
    return max(0.0, 1.0 - frac)
