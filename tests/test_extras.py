"""The optional dependencies: without torch, the tokenizers work and every torch module
says which extra to install, in one error, however it is imported."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

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


def test_a_torch_older_than_the_floor_is_named_before_any_import(monkeypatch: Any) -> None:
    """torch 2.3 lacks ``torch.library.custom_op``, which the attention op is registered
    with when ``lexforge.ops`` is imported: the version is checked from the package's
    metadata first, and the error names the floor, not a bare AttributeError."""
    import importlib.metadata

    from lexforge import _extras
    from lexforge.errors import MissingDependencyError

    real = importlib.metadata.version
    for found, refused in (("2.3.1+cu121", True), ("2.4.0", False), ("2.15.0", False)):
        fake = lambda name, f=found: f if name == "torch" else real(name)  # noqa: E731
        monkeypatch.setattr(importlib.metadata, "version", fake)
        if refused:
            with pytest.raises(MissingDependencyError, match=r"torch>=2\.4.*torch 2\.3\.1"):
                _extras.require("lexforge.model", "torch")
        else:
            _extras.require("lexforge.model", "torch")


def test_the_floors_are_the_ones_pyproject_declares() -> None:
    """The versions ``require`` checks are the ``[train]`` extra's (a floor raised in one
    place and not the other would let an old torch in, or refuse a good one)."""
    import re
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python 3.11

    from lexforge import _extras

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    if not pyproject.exists():
        pytest.skip("no pyproject.toml beside the tests (an installed copy)")
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = project["optional-dependencies"]
    declared: dict[str, set[tuple[int, int]]] = {}
    for spec in extras["train"] + extras["test"]:
        found = re.fullmatch(r"(\w+)>=(\d+)\.(\d+)(?:\.\d+)?", spec)
        if found and found[1] in _extras.FLOORS:
            declared.setdefault(found[1], set()).add((int(found[2]), int(found[3])))
    assert declared == {name: {floor} for name, floor in _extras.FLOORS.items()}


def test_lf_train_is_reached_from_the_package_as_the_readme_writes_it() -> None:
    """``lf.train.entity_metrics`` (the README's spelling) in a fresh process: it raised
    AttributeError until something had imported lexforge.train."""
    pytest.importorskip("torch")
    code = "import lexforge as lf; print(lf.train.entity_metrics.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().startswith("lexforge.train")
