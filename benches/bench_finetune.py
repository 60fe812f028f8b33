"""Fine-tuning throughput: ``lf.finetune`` against transformers' ``Trainer`` (the anchor
most people fine-tune with), the same checkpoint, data, steps, batch, learning rate,
schedule, max length and threads, in the same run; each side timed from its call to its
last step (checkpoint load, tokenization and the steps; no evaluation, nothing saved).
Both train all-MiniLM-L6-v2 with a fresh classification head on rt-polarity's training
sentences, cut to 64 tokens, padded per batch. Needs ``pip install accelerate`` (Trainer's
dependency).

    python benches/bench_finetune.py                 # 80 steps of 32, 2 threads
    python benches/bench_finetune.py --steps 40 --threads 1
    python benches/bench_finetune.py --precision bf16  # both sides under CPU bf16 autocast

With ``--precision bf16`` lexforge runs ``precision="bf16"`` and ``Trainer``
``bf16=True`` (both CPU autocast to bfloat16), and lexforge in float32 is timed beside
them for the gain.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="best of this many runs each")
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch
    import transformers

    import lexforge as lf
    from lexforge import datasets

    torch.set_num_threads(args.threads)
    folder = datasets.files("all-MiniLM-L6-v2")["model_dir"]
    train = datasets.load_labelled("rt-polarity", split="train")
    train = train[: args.steps * args.batch_size]  # one epoch of exactly --steps steps
    labels = sorted({label for _, label in train})
    lr, warmup = 2e-4, 0.1

    def ours_torch_dropout() -> float:
        """lexforge with torch's own CPU dropout (``F.dropout``): what 16-bit draws save."""
        import lexforge.ops.dropout as dropout_module

        saved = dropout_module.dropout

        def torch_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
            return torch.nn.functional.dropout(x, p, training)

        dropout_module.dropout = torch_dropout  # type: ignore[assignment]
        try:
            return ours()
        finally:
            dropout_module.dropout = saved  # type: ignore[assignment]

    def ours(precision: str = args.precision) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (no validation data: not scored, as asked)
            result = lf.finetune(
                folder, train, epochs=1, batch_size=args.batch_size, lr=lr, warmup=warmup,
                max_length=args.max_length, progress=False, device="cpu", precision=precision,
            )  # fmt: skip
        return float(result.history[-1]["train_loss"])

    def theirs() -> float:
        tok = transformers.AutoTokenizer.from_pretrained(folder)
        model = transformers.AutoModelForSequenceClassification.from_pretrained(
            folder, num_labels=len(labels)
        )
        rows = [
            {**tok(text, truncation=True, max_length=args.max_length),
             "labels": labels.index(label)}
            for text, label in train
        ]  # fmt: skip
        with tempfile.TemporaryDirectory() as out:
            trainer = transformers.Trainer(
                model=model,
                args=transformers.TrainingArguments(
                    output_dir=out, per_device_train_batch_size=args.batch_size,
                    num_train_epochs=1, learning_rate=lr, warmup_steps=warmup,
                    weight_decay=0.01, max_grad_norm=1.0, lr_scheduler_type="linear",
                    save_strategy="no", eval_strategy="no", report_to=[],
                    logging_strategy="no", disable_tqdm=True, use_cpu=True,
                    dataloader_num_workers=0, seed=0, bf16=args.precision == "bf16",
                ),
                train_dataset=rows,
                data_collator=transformers.DataCollatorWithPadding(tok),
            )  # fmt: skip
            return float(trainer.train().training_loss)

    print(f"# {args.steps} steps of {args.batch_size} rt-polarity sentences (<= "
          f"{args.max_length} tokens), all-MiniLM-L6-v2, lr {lr}, {args.threads} threads, "
          f"{args.precision}; "
          f"{machine()}; transformers {transformers.__version__}, torch {torch.__version__}")  # fmt: skip
    times: dict[str, float] = {}
    losses: dict[str, float] = {}
    systems = [("lexforge `finetune`", ours)]
    if args.precision == "fp32":
        systems.append(("lexforge, torch's CPU dropout", ours_torch_dropout))
    else:
        systems.append(("lexforge `finetune`, fp32", lambda: ours("fp32")))
    systems.append(("transformers `Trainer`", theirs))
    for name, run in systems:
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            losses[name] = run()
            best = min(best, time.perf_counter() - start)
        times[name] = best
    ours_time = times["lexforge `finetune`"]
    print("| system | seconds | examples/s | mean training loss | lexforge is |")
    print("|---|---|---|---|---|")
    for name, seconds in times.items():
        print(f"| {name} | {seconds:.1f} | {len(train) / seconds:,.1f} | {losses[name]:.4f} | "
              f"{seconds / ours_time:.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
