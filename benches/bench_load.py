"""Loading a tokenizer from its files, lexforge against HF ``tokenizers`` and tiktoken in the
same process on the same files (the cost a script, a server or a DataLoader worker pays
before its first call), and ``add_tokens`` against HF's.

    python benches/bench_load.py [--repeat 7]

Files: GPT-2's ``tokenizer.json`` and ``vocab.json`` + ``merges.txt`` pair, cl100k's and
o200k's ``tokenizer.json`` (written by lexforge from the rank files, read by HF the same),
cl100k's rank file, bert-base-uncased's ``tokenizer.json`` and ``vocab.txt``; and the import
of each package in a fresh interpreter. Each load is
the best of ``--repeat`` (a cold first load is as much the disk's as the reader's); the
loaded tokenizers are checked to encode a text alike first. Ratios are the anchor's time
over ours (above 1: ours is faster).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine
from bench_encode import CL100K

TEXT = "The quick brown fox jumps over the lazy dog, said the 3rd editor of the Times. 東京"


def best(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """The best wall time of ``repeat`` calls, in seconds, and the last call's result."""
    out, fastest = None, float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        fastest = min(fastest, time.perf_counter() - start)
    return fastest, out


def _run_python(code: str, pycache: Path) -> None:
    """Runs ``code`` in a fresh interpreter that reads and writes its bytecode under
    ``pycache`` for every package alike: an install compiles a wheel's modules, while an
    editable one under PYTHONDONTWRITEBYTECODE compiled ours on every import (a third of
    the import's time, recorded before 2026-12-07)."""
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(pycache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    import tiktoken
    import tokenizers
    from tiktoken.load import load_tiktoken_bpe

    import lexforge as lf
    from lexforge import datasets

    work = Path(tempfile.mkdtemp(prefix="lexforge-bench-load-"))
    gpt2 = datasets.files("gpt2")
    bert = datasets.files("bert-base-uncased")
    ranks = datasets.files("cl100k_base")["ranks"]
    for name in ("cl100k_base", "o200k_base"):
        lf.Tokenizer.from_file(datasets.files(name)["ranks"]).save(work / f"{name}.json")
    lf.Tokenizer.from_gpt2(gpt2["encoder.json"], gpt2["vocab.bpe"]).save(work / "gpt2.json")

    def hf_pair() -> tokenizers.Tokenizer:
        model = tokenizers.models.BPE.from_file(str(gpt2["encoder.json"]), str(gpt2["vocab.bpe"]))
        tok = tokenizers.Tokenizer(model)
        tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
        return tok

    def tiktoken_ranks() -> tiktoken.Encoding:
        table = load_tiktoken_bpe(str(ranks))
        return tiktoken.Encoding("cl100k", pat_str=CL100K, mergeable_ranks=table, special_tokens={})

    hf_json = tokenizers.Tokenizer.from_file
    cases: list[tuple[str, Callable[[], object], str, Callable[[], object]]] = [
        ("GPT-2 tokenizer.json", lambda: lf.Tokenizer.from_file(work / "gpt2.json"),
         "HF", lambda: hf_json(str(work / "gpt2.json"))),
        ("GPT-2 vocab.json + merges.txt",
         lambda: lf.Tokenizer.from_gpt2(gpt2["encoder.json"], gpt2["vocab.bpe"]),
         "HF", hf_pair),
        ("cl100k tokenizer.json", lambda: lf.Tokenizer.from_file(work / "cl100k_base.json"),
         "HF", lambda: hf_json(str(work / "cl100k_base.json"))),
        ("o200k tokenizer.json", lambda: lf.Tokenizer.from_file(work / "o200k_base.json"),
         "HF", lambda: hf_json(str(work / "o200k_base.json"))),
        ("cl100k rank file", lambda: lf.Tokenizer.from_file(ranks), "tiktoken", tiktoken_ranks),
        ("BERT tokenizer.json", lambda: lf.Tokenizer.from_file(bert["tokenizer.json"]),
         "HF", lambda: hf_json(str(bert["tokenizer.json"]))),
        ("BERT vocab.txt", lambda: lf.Tokenizer.from_vocab(bert["vocab.txt"]),
         "HF", lambda: tokenizers.BertWordPieceTokenizer(str(bert["vocab.txt"]))),
    ]  # fmt: skip

    print(f"# tokenizer loads ({machine()}; best of {args.repeat})\n")
    print("| files | lexforge | anchor | anchor's time / ours |")
    print("|---|---|---|---|")
    for label, ours_fn, anchor, theirs_fn in cases:
        ours_s, ours = best(ours_fn, args.repeat)
        theirs_s, theirs = best(theirs_fn, args.repeat)
        want = theirs.encode(TEXT)  # type: ignore[attr-defined]
        got = ours.encode(TEXT, add_special_tokens=False)  # type: ignore[attr-defined]
        want_ids = want if isinstance(want, list) else want.ids
        if "BERT" in label:
            want_ids = [i for i in want_ids if i not in (101, 102)]
        assert got == want_ids, (label, got, want_ids)
        print(f"| {label} | {ours_s * 1e3:.1f} ms | {anchor} {theirs_s * 1e3:.1f} ms "
              f"| {theirs_s / ours_s:.2f}x |")  # fmt: skip

    print("\n| import, in a fresh interpreter (its start subtracted) | lexforge | anchor "
          "| anchor's time / ours |")  # fmt: skip
    print("|---|---|---|---|")
    pycache = work / "pycache"
    # (ours with its tokenizer module and core loaded, as the anchors load theirs)
    ours_code = "import lexforge; lexforge.Tokenizer"
    _run_python(f"{ours_code}; import tokenizers, tiktoken", pycache)  # compiles them all
    bare = best(lambda: _run_python("pass", pycache), args.repeat)[0]
    ours_s = best(lambda: _run_python(ours_code, pycache), args.repeat)[0] - bare
    for anchor in ("tokenizers", "tiktoken"):
        theirs_s = best(lambda: _run_python(f"import {anchor}", pycache), args.repeat)[0] - bare
        print(f"| `lexforge.Tokenizer` / `import {anchor}` | {ours_s * 1e3:.1f} ms "
              f"| {theirs_s * 1e3:.1f} ms | {theirs_s / ours_s:.2f}x |")  # fmt: skip

    print("\n| add_tokens, one token a call | lexforge | HF | HF's time / ours |")
    print("|---|---|---|---|")
    for label, path in (("cl100k", work / "cl100k_base.json"), ("BERT", bert["tokenizer.json"])):
        ours = lf.Tokenizer.from_file(path)
        theirs = hf_json(str(path))
        count = iter(range(10**6))
        ours_s, _ = best(lambda: ours.add_tokens([f"<new{next(count)}>"]), args.repeat)
        theirs_s, _ = best(lambda: theirs.add_tokens([f"<new{next(count)}>"]), args.repeat)
        print(f"| {label} | {ours_s * 1e3:.1f} ms | {theirs_s * 1e3:.2f} ms "
              f"| {theirs_s / ours_s:.3f}x |")  # fmt: skip
        # a token added already, with the same options: nothing to change
        ours_s, _ = best(lambda: ours.add_tokens(["<new0>"]), args.repeat)
        theirs_s, _ = best(lambda: theirs.add_tokens(["<new0>"]), args.repeat)
        print(f"| {label}, a token added already | {ours_s * 1e3:.3f} ms "
              f"| {theirs_s * 1e3:.3f} ms | {theirs_s / ours_s:.2f}x |")  # fmt: skip
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
