"""Smoke test of the abi3 wheel on another CPython: import, train, encode (lists and
NumPy), decode, save and reload. Run by .ci/run with each extra interpreter it finds."""

import sys
import tempfile
from pathlib import Path

import numpy as np

import lexforge as lf

texts = ["the quick brown fox jumps over the lazy dog", "héllo wörld 中文 😀"] * 50
tok = lf.Tokenizer.train_bpe(
    texts=texts, vocab_size=300, special_tokens=["<s>"], show_progress=False
)
ids = tok.encode(texts[1])
assert tok.decode(ids) == texts[1]
arr = tok.encode_to_numpy(texts[0])
assert arr.dtype == np.uint32 and tok.decode(arr) == texts[0]
assert tok.encode_batch(texts[:4], num_threads=2) == [tok.encode(t) for t in texts[:4]]
with tempfile.TemporaryDirectory() as d:
    tok.save(Path(d) / "tokenizer.json")
    again = lf.Tokenizer.from_file(Path(d) / "tokenizer.json")
    assert again.encode(texts[1]) == ids
# the Triton kernels and the ops layer ship in the wheel (they need torch to import)
package = Path(lf.__file__).parent
for shipped in ("kernels/attention.py", "ops/attention.py", "ops/__init__.py", "py.typed"):
    assert (package / shipped).is_file(), f"{shipped} is missing from the wheel"
print(f"abi3 smoke test passed on Python {sys.version.split()[0]} with lexforge {lf.__version__}")
