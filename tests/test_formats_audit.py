"""Tokenizer files other than tokenizer.json, from an audit against the reference readers:
a vocab.txt token ending in Unicode white space (HF strips it), a cased WordPiece saved as
a lone vocab.txt (HF and transformers read it uncased), GPT-2's ``special_tokens`` given
as one str, as ``{text: id}`` or naming a merged token, JSON cut inside a string, a rank
file short of a byte's token, and a GPT-2 folder whose transformers side files add tokens
lexforge does not read."""

from __future__ import annotations

import base64
import json
import shutil
import warnings
from pathlib import Path

import pytest

import lexforge as lf
from lexforge import datasets
from lexforge.errors import ConfigError, TokenizerFormatError

tokenizers = pytest.importorskip("tokenizers")

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@pytest.mark.parametrize("space", ["\u3000", "\u00a0", "\x0b", "\x0c", "\u2003", " \t"])
def test_a_vocab_line_ending_in_white_space_is_the_token_without_it(
    space: str, tmp_path: Path
) -> None:
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join([*SPECIALS, f"the{space}", "cat", "\u3000"]) + "\n")
    theirs = tokenizers.BertWordPieceTokenizer(str(path))
    ours = lf.Tokenizer.from_file(path)
    for text in ("the cat", "cat the the"):
        assert ours.encode(text) == theirs.encode(text).ids, (space, text)
    assert ours.token_to_id("the") == 5  # (it was [UNK]: the token kept its space)
    assert ours.token_to_id("\u3000") == 7  # a line of white space alone is still a token


def test_a_cased_vocab_txt_saved_alone_warns_that_hf_reads_it_uncased(tmp_path: Path) -> None:
    texts = ["Hello World, said Anna to Bob in Paris."] * 30
    cased = lf.Tokenizer.train_wordpiece(texts=texts, vocab_size=150, lowercase=False)
    with pytest.warns(UserWarning, match="that it is cased .*do_lower_case"):
        cased.save(tmp_path / "a" / "vocab.txt", format="vocab")
    hf = tokenizers.BertWordPieceTokenizer(str(tmp_path / "a" / "vocab.txt"))
    assert hf.encode("Hello World").ids != cased.encode("Hello World")  # what is warned of
    # with a config saying so beside it, transformers reads it cased: nothing to say
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "tokenizer_config.json").write_text('{"do_lower_case": false}')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cased.save(tmp_path / "b" / "vocab.txt", format="vocab")
        lf.Tokenizer.train_wordpiece(texts=texts, vocab_size=150).save(
            tmp_path / "c" / "vocab.txt", format="vocab"
        )


def test_gpt2_special_tokens_are_named_as_the_callers_mistake() -> None:
    enc = datasets.files("gpt2")["encoder.json"]
    for load in (lf.Tokenizer.from_file, lf.Tokenizer.from_gpt2):
        # one str: its characters were made special, then blamed on the files
        with pytest.raises(ConfigError, match=r"not the str '<\|endoftext\|>'; pass \["):
            load(enc, special_tokens="<|endoftext|>")
        with pytest.raises(ConfigError, match="'Ġthe' is a token the merges take or make"):
            load(enc, special_tokens=["<|endoftext|>", "Ġthe"])
    # {text: id}: its ids were dropped; the file's are kept, and others refused
    tok = lf.Tokenizer.from_file(enc, special_tokens={"<|endoftext|>": 50256})
    assert tok.special_tokens == {"<|endoftext|>": 50256}
    with pytest.raises(ConfigError, match=r"has id 50256 in encoder\.json, not 0"):
        lf.Tokenizer.from_file(enc, special_tokens={"<|endoftext|>": 0})


@pytest.mark.parametrize("name", ["tokenizer.json", "vocab.json"])
def test_json_cut_inside_a_string_is_called_cut(name: str, tmp_path: Path) -> None:
    source = datasets.files("bert-base-uncased")["tokenizer.json"]
    if name == "vocab.json":
        source = datasets.files("gpt2")["encoder.json"]
        shutil.copy(datasets.files("gpt2")["vocab.bpe"], tmp_path / "merges.txt")
    data = source.read_text(encoding="utf-8")
    cut = data.index('": ', len(data) // 2) - 1  # inside a key, before its closing quote
    (tmp_path / name).write_text(data[:cut], encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match=r"Unterminated string.*the file ends early"):
        lf.Tokenizer.from_file(tmp_path / name)


def test_a_rank_file_short_of_a_bytes_token_says_so_at_load(tmp_path: Path) -> None:
    ranks = [bytes([b]) for b in range(256)] + [b"ab", b"cd"]
    path = tmp_path / "mine.tiktoken"
    for hole in (True, False):  # the byte's rank left empty, or the ranks renumbered
        kept = [r for r in ranks if r != b'"']
        ids = [ranks.index(r) for r in kept] if hole else range(len(kept))
        lines = [f"{base64.b64encode(r).decode()} {i}" for r, i in zip(kept, ids, strict=True)]
        path.write_text("\n".join(lines) + "\n")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            lf.Tokenizer.from_tiktoken(path, pattern="gpt2")
        said = [str(w.message) for w in caught]
        assert len(said) == 1 and "1 of the 256 bytes have no token ('\"')" in said[0], said
        # (not the advice for lost special tokens, which a byte's hole is not)


def test_a_gpt2_folder_warns_of_what_its_side_files_add(tmp_path: Path) -> None:
    files = datasets.files("gpt2")
    plain = tmp_path / "plain"
    plain.mkdir()
    shutil.copy(files["encoder.json"], plain / "vocab.json")
    shutil.copy(files["vocab.bpe"], plain / "merges.txt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lf.Tokenizer.from_file(plain)  # nothing beside the pair: nothing to say
    sides = {
        "added_tokens.json": {"<|new|>": 50257},
        "tokenizer_config.json": {
            "added_tokens_decoder": {"50257": {"content": "<|new|>", "special": True}}
        },
        "special_tokens_map.json": {"pad_token": "<pad>", "eos_token": "<|endoftext|>"},
    }
    for name, doc in sides.items():
        folder = tmp_path / name
        shutil.copytree(plain, folder)
        (folder / name).write_text(json.dumps(doc))
        with pytest.warns(UserWarning, match=r"the tokens '<(\|new\||pad)>' that its side"):
            lf.Tokenizer.from_file(folder)
    folder = tmp_path / "prefix"
    shutil.copytree(plain, folder)
    (folder / "tokenizer_config.json").write_text('{"add_prefix_space": true}')
    with pytest.warns(UserWarning, match="misses add_prefix_space"):
        lf.Tokenizer.from_file(folder)
