"""The optional dependencies: without torch, the tokenizers work and every torch module
says which extra to install, in one error, however it is imported."""

from __future__ import annotations

import json
import subprocess
import sys

# each way in, and the module its error names
IMPORTS = {
    "import lexforge.model": "lexforge.model",
    "from lexforge.model import BertConfig": "lexforge.model",
    "from lexforge.model.config import PRESETS": "lexforge.model",
    "from lexforge.train import pretrain": "lexforge.train",
    "from lexforge.ops import attention": "lexforge.ops",
    "import lexforge.torch_data": "lexforge.torch_data",
    "lexforge.PretrainingDataset": "lexforge.torch_data",
    "lexforge.model": "lexforge.model",
}

# run in a fresh interpreter where torch cannot be imported (None in sys.modules: what
# Python does for a module that is not installed, as far as import and find_spec go)
_WITHOUT_TORCH = """
import json, sys
sys.modules["torch"] = None
import lexforge
tok = lexforge.Tokenizer.train_bpe(texts=["hello world"] * 5, vocab_size=260)
results = {"tokenizers": tok.decode(tok.encode("hello world"))}
for statement in json.loads(sys.argv[1]):
    try:
        exec(statement)
        results[statement] = "imported"
    except BaseException as e:
        results[statement] = [type(e).__name__, isinstance(e, ImportError), str(e)]
print(json.dumps(results))
"""


def test_without_torch_each_torch_module_names_the_extra() -> None:
    """``import lexforge.model`` (and train, ops, torch_data) without torch was a bare
    "No module named 'torch'", which names neither what needed it nor how to install it."""
    out = subprocess.run(
        [sys.executable, "-c", _WITHOUT_TORCH, json.dumps(list(IMPORTS))],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    results = json.loads(out.stdout)
    assert results.pop("tokenizers") == "hello world"
    for statement, module in IMPORTS.items():
        kind, is_import_error, message = results[statement]
        assert (kind, is_import_error) == ("MissingDependencyError", True), statement
        assert message == (
            f"{module} needs torch, which is not installed: pip install 'lexforge[train]'"
        ), statement


def test_without_torch_the_other_ways_in_name_the_extra() -> None:
    """`from lexforge import *` failed (``__all__`` listed the torch names, which a star
    import resolves); ``encode_batch(return_tensors="pt")`` and ``quickstart.run()`` said
    a bare "No module named 'torch'"."""
    statements = [
        "from lexforge import *",
        "tok.encode_batch(['hello'], return_tensors='pt')",
        "import lexforge.quickstart as q; q.run()",
    ]
    out = subprocess.run(
        [sys.executable, "-c", _WITHOUT_TORCH, json.dumps(statements)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    results = json.loads(out.stdout)
    assert results[statements[0]] == "imported"
    for statement, what in zip(statements[1:], ("return_tensors='pt'", "the quickstart"),
                               strict=True):  # fmt: skip
        kind, is_import_error, message = results[statement]
        assert (kind, is_import_error) == ("MissingDependencyError", True), statement
        assert (
            message == f"{what} needs torch, which is not installed: pip install 'lexforge[train]'"
        )
