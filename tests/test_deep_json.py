"""JSON nested deeper than Python's parser takes (``[[[[...``: a damaged or hostile file)
made ``json.loads`` raise an untyped ``RecursionError`` out of the tokenizer and checkpoint
readers (the corpus readers named it already). Each reader now raises its own typed error,
as for any other invalid JSON; ``json`` itself is the oracle that the text is too deep."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lexforge as lf
from lexforge.errors import CheckpointError, CorpusError, TokenizerFormatError

DEEP = "[" * 100_000 + "]" * 100_000


def test_python_json_cannot_read_the_deep_text() -> None:
    with pytest.raises(RecursionError):
        json.loads(DEEP)


def test_a_deep_tokenizer_json_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_text(DEEP, encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match="nested too deeply"):
        lf.Tokenizer.from_file(path)
    vocab = tmp_path / "vocab.json"
    vocab.write_text('{"a": ' + DEEP + "}", encoding="utf-8")
    (tmp_path / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match="nested too deeply"):
        lf.Tokenizer.from_gpt2(vocab, tmp_path / "merges.txt")


def test_a_deep_config_json_is_a_checkpoint_error(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from lexforge.model import BertConfig, BertForMaskedLM

    model = BertForMaskedLM(BertConfig.preset("tiny", vocab_size=64))
    model.save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text(DEEP, encoding="utf-8")
    with pytest.raises(CheckpointError, match="nested too deeply"):
        BertForMaskedLM.from_pretrained(tmp_path / "m")


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_a_deep_record_in_a_corpus_is_a_corpus_error(suffix: str, tmp_path: Path) -> None:
    path = tmp_path / f"corpus{suffix}"
    good = json.dumps({"text": "the cat sat on the mat"})
    body = f'{good}\n{{"text": {DEEP}}}\n' if suffix == ".jsonl" else f"[{good}, {DEEP}]"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(CorpusError, match="too deeply"):
        lf.Tokenizer.train_wordpiece(files=[path], vocab_size=60, show_progress=False)
