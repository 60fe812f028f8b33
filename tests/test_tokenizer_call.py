"""``tokenizer(texts, ...)``, transformers' call, against ``PreTrainedTokenizerFast`` on the
same ``tokenizer.json`` and arguments: every field, lists and arrays, one text and
batches, pairs, padding, truncation, overflow windows; and its refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lexforge as lf
from lexforge import _hf_call, datasets
from lexforge.errors import ConfigError
from lexforge.formats.hf_folder import bert_framed

transformers = pytest.importorskip("transformers")

BERT_INPUTS = ["input_ids", "token_type_ids", "attention_mask"]


def _theirs(path: Path, **kwargs: Any) -> Any:
    return transformers.PreTrainedTokenizerFast(
        tokenizer_file=str(path), model_input_names=BERT_INPUTS, **kwargs
    )


def _plain(value: Any) -> Any:
    """Lists of ints (and of (start, end) tuples) from lists, arrays or tensors."""
    if hasattr(value, "numpy"):
        value = value.numpy()
    if isinstance(value, np.ndarray):
        return ("array", value.dtype == np.int64, value.tolist())
    return value


def _same(ours: Any, theirs: Any) -> None:
    assert sorted(ours) == sorted(theirs)
    for name in theirs:
        assert _plain(ours[name]) == _plain(theirs[name]), name


@pytest.fixture(scope="module")
def bert() -> tuple[Any, Any]:
    path = datasets.files("bert-base-uncased")["tokenizer.json"]
    return lf.Tokenizer.from_file(path), _theirs(path, pad_token="[PAD]")


@pytest.fixture(scope="module")
def texts(wiki_text: str) -> list[str]:
    """Wikipedia leads of every length (a few over 512 tokens), and two short ones."""
    lines = [line for line in wiki_text.split("\n") if line.strip()]
    return [*lines[:40:3], max(lines[:2000], key=len), "Hi!", "naïve café"]


OPTIONS = [
    {},
    {"padding": True},
    {"padding": "longest", "padding_side": "left"},
    {"padding": True, "pad_to_multiple_of": 8},
    {"max_length": 16},
    {"padding": "max_length", "max_length": 48, "truncation": True},
    {"truncation": "longest_first", "max_length": 24, "return_overflowing_tokens": True,
     "stride": 5},
    {"return_offsets_mapping": True, "return_special_tokens_mask": True, "return_length": True},
    {"return_token_type_ids": False, "return_attention_mask": False, "max_length": 10},
    {"add_special_tokens": False, "max_length": 12},
    {"padding": "do_not_pad", "truncation": "do_not_truncate"},
]  # fmt: skip


@pytest.mark.parametrize("options", OPTIONS)
def test_a_batch_matches_transformers(bert: Any, texts: list[str], options: dict) -> None:
    ours, theirs = bert
    _same(ours(texts, **options), theirs(texts, **options))


PADDED = [o for o in OPTIONS if o.get("padding") not in (None, "do_not_pad")]


@pytest.mark.parametrize("options", PADDED)
@pytest.mark.parametrize("kind", ["np", "pt"])
def test_padded_arrays_match_transformers(
    bert: Any, texts: list[str], options: dict, kind: str
) -> None:
    if kind == "pt":
        pytest.importorskip("torch")
    ours, theirs = bert
    options = {**options, "return_offsets_mapping": True, "return_length": True}
    options["return_tensors"] = kind
    _same(ours(texts, **options), theirs(texts, **options))


@pytest.mark.parametrize(
    "options",
    [{}, {"max_length": 9}, {"truncation": "only_second", "max_length": 30},
     {"truncation": "only_first", "max_length": 28, "padding": True},
     {"return_offsets_mapping": True, "return_special_tokens_mask": True}],
)  # fmt: skip
def test_pairs_match_transformers(bert: Any, texts: list[str], options: dict) -> None:
    ours, theirs = bert
    first, second = [t[:40] for t in texts[:6]], [t[:90] for t in texts[6:12]]
    _same(ours(first, second, **options), theirs(first, second, **options))
    pairs = list(zip(first, second, strict=True))
    _same(ours(pairs, **options), theirs(pairs, **options))
    _same(ours(first[0], second[0], **options), theirs(first[0], second[0], **options))


@pytest.mark.parametrize(
    "options",
    [{}, {"return_tensors": "np"}, {"return_tensors": "pt", "return_offsets_mapping": True},
     {"max_length": 8, "return_overflowing_tokens": True, "stride": 2},
     {"padding": "max_length", "max_length": 20, "return_length": True}],
)  # fmt: skip
def test_one_text_is_one_row(bert: Any, options: dict) -> None:
    if options.get("return_tensors") == "pt":
        pytest.importorskip("torch")
    ours, theirs = bert
    text = "The quick brown fox jumps over the lazy dog, twice."
    _same(ours(text, **options), theirs(text, **options))


def test_rows_longer_than_asked_are_refused_as_documented(bert: Any) -> None:
    """Where transformers returns rows longer than asked, the call refuses, lists included,
    as its docstring (and the README) says; ``encode_batch`` gives such lists ragged."""
    ours, _ = bert
    long = ["word " * 40, "short"]
    for tensors in (None, "np"):
        with pytest.raises(ConfigError, match="longer than the fixed length 8"):
            ours(long, padding="max_length", max_length=8, return_tensors=tensors)
    assert len(ours.encode_batch(long, padding="max_length", max_length=8)[0]) > 8
    for options in ({"truncation": True}, {"padding": "max_length"}):
        with pytest.raises(ConfigError, match="needs max_length"):
            ours(long, **options)


def test_the_files_padding_and_truncation_do_not_apply(texts: list[str]) -> None:
    """MiniLM's file pads and cuts to 128: transformers' call ignores both unless asked
    (``encode_batch`` applies them), and so does ours."""
    path = datasets.files("all-MiniLM-L6-v2")["model_dir"] / "tokenizer.json"
    ours, theirs = lf.Tokenizer.from_file(path), _theirs(path, pad_token="[PAD]")
    cases = ({}, {"padding": True}, {"max_length": 20}, {"truncation": True, "max_length": 30})
    for options in cases:
        _same(ours(texts, **options), theirs(texts, **options))
    assert len(ours(texts)["input_ids"][-3]) > 128  # the long lead, whole
    assert len(ours.encode_batch(texts)[-3]) == 128  # the file's own options


def test_many_texts_across_groups_keep_their_order_and_samples(bert: Any, texts: list[str]) -> None:
    """More texts than one unpadded group, a long one in each: rows, windows and their
    sample numbers as transformers gives them."""
    ours, theirs = bert
    many = (texts * 12)[: 3 * _hf_call._GROUP + 5]
    options = {"max_length": 32, "return_overflowing_tokens": True, "stride": 4,
               "return_offsets_mapping": True}  # fmt: skip
    _same(ours(many, **options), theirs(many, **options))
    _same(ours(many), theirs(many))


def test_byte_level_bpe_matches_transformers(tmp_path: Path, wiki_text: str) -> None:
    gpt2 = lf.Tokenizer.from_file(datasets.files("gpt2")["encoder.json"])
    gpt2.save(tmp_path / "gpt2.json")
    theirs = _theirs(tmp_path / "gpt2.json")
    text = [line for line in wiki_text.split("\n")[:30] if line] + ["emoji 👍🏽 and  spaces  "]
    for options in ({}, {"max_length": 7}, {"return_offsets_mapping": True, "return_length": True}):
        _same(gpt2(text, **options), theirs(text, **options))
    with pytest.raises(ConfigError, match="no padding token"):
        gpt2(text, padding=True)  # transformers: ValueError, asking for a pad token
    padded = gpt2(text, padding=True, pad_token_id=50256, return_tensors="np")
    _same(padded, _theirs(tmp_path / "gpt2.json", pad_token="<|endoftext|>")(
        text, padding=True, return_tensors="np"))  # fmt: skip


def test_a_batch_feeds_the_model(tiny_checkpoint: Path) -> None:
    torch = pytest.importorskip("torch")
    from lexforge.model import BertForMaskedLM

    tok = lf.Tokenizer.from_file(tiny_checkpoint / "tokenizer.json")
    model = BertForMaskedLM.from_pretrained(tiny_checkpoint).eval()
    texts = ["a short one", "and a rather longer sentence than the first"]
    batch = tok(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
        alone = model(**tok(texts[0], return_tensors="pt")).logits
    n = len(tok(texts[0])["input_ids"])
    torch.testing.assert_close(logits[0, :n], alone[0], atol=1e-5, rtol=1e-5)


def test_bad_calls_name_the_fix(bert: Any) -> None:
    ours, _ = bert
    with pytest.raises(ConfigError, match="padding=True"):
        ours(["one", "two words"], return_tensors="np")  # rows of different lengths
    ours(["one", "two"], return_tensors="np")  # one length: fine, as in transformers
    with pytest.raises(ConfigError, match="padding must be"):
        ours("x", padding="most")
    with pytest.raises(ConfigError, match="return_tensors"):
        ours("x", return_tensors="tf")
    with pytest.raises(ConfigError, match="got 70 texts but 1 second texts"):
        ours(["a"] * 70, ["c"])
    unpadded = ours(["a", "b"], ["c", "d"], pad_token_id=7)["input_ids"]
    assert unpadded[1] == [101, 1038, 102, 1040, 102]
    with pytest.raises(ConfigError, match="3 items"):
        ours([("a", "b", "c")])
    with pytest.raises(TypeError, match="str"):
        ours(42)
    with pytest.raises(TypeError, match="list"):
        ours(["a", "b"], "c")
    with pytest.raises(TypeError, match="unexpected keyword"):
        ours("x", return_mystery=True)
    assert ours([])["input_ids"] == []


# ------------------------------------------- texts split into words; word_ids, sequence_ids


def _same_rows(ours: Any, theirs: Any) -> None:
    """Every field, and each row's word and sequence indices, as transformers gives them."""
    _same(ours, theirs)
    rows = len(theirs["input_ids"]) if isinstance(theirs["input_ids"][0], list) else 1
    for i in range(rows):
        assert ours.word_ids(i) == theirs.word_ids(i), i
        assert ours.sequence_ids(i) == theirs.sequence_ids(i), i


def _word_batches(texts: list[str]) -> list[list[str]]:
    """Texts split at spaces, and words transformers must keep whole: empty, with spaces
    inside and around, special tokens, CJK, accents, emoji."""
    batch = [t.split(" ") for t in texts[:12]]
    return [*batch, ["New York", "", "  two  spaces ", "naïve", "東京都", "👍🏽", "don't"], [],
            ["[SEP]", "<|endoftext|>", "</s>", "x"]]  # fmt: skip


WORD_OPTIONS = [
    {},
    {"padding": True, "padding_side": "left"},
    {"return_offsets_mapping": True, "return_special_tokens_mask": True, "return_length": True},
    {"truncation": True, "max_length": 9, "return_overflowing_tokens": True, "stride": 2,
     "return_offsets_mapping": True},
    {"padding": "max_length", "max_length": 64, "truncation": True, "return_tensors": "np"},
]  # fmt: skip


def _byte_level(tmp_path: Path, wiki_text: str, prefix_space: bool) -> tuple[Any, Any]:
    """A RoBERTa-style byte-level BPE (trained by HF tokenizers: ByteLevel pre-tokenizer,
    ``<s> A </s></s> B </s>``) or GPT-2 itself, as lexforge and transformers read it."""
    if not prefix_space:
        lf.Tokenizer.from_file(datasets.files("gpt2")["encoder.json"]).save(tmp_path / "t.json")
    else:
        tokenizers = pytest.importorskip("tokenizers")
        hf = tokenizers.Tokenizer(tokenizers.models.BPE())
        hf.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=True)
        hf.post_processor = tokenizers.processors.RobertaProcessing(
            ("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=True
        )
        trainer = tokenizers.trainers.BpeTrainer(
            vocab_size=600, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
            initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        )  # fmt: skip
        hf.train_from_iterator(wiki_text.split("\n")[:400], trainer)
        hf.save(str(tmp_path / "t.json"))
    pad = {"pad_token": "<pad>"} if prefix_space else {}
    return lf.Tokenizer.from_file(tmp_path / "t.json"), _theirs(tmp_path / "t.json", **pad)


@pytest.mark.parametrize("options", WORD_OPTIONS)
def test_words_match_transformers(bert: Any, texts: list[str], options: dict) -> None:
    """``is_split_into_words=True``: each word encoded on its own, its tokens numbered by
    its index in the list (a word with spaces inside is one word), offsets within it."""
    ours, theirs = bert
    batch = _word_batches(texts)
    _same_rows(ours(batch, is_split_into_words=True, **options),
               theirs(batch, is_split_into_words=True, **options))  # fmt: skip
    one = batch[-3]
    _same_rows(ours(one, is_split_into_words=True, **options),
               theirs(one, is_split_into_words=True, **options))  # fmt: skip
    second = [b[::-1][:5] for b in batch]
    _same_rows(ours(batch, second, is_split_into_words=True, **options),
               theirs(batch, second, is_split_into_words=True, **options))  # fmt: skip


@pytest.mark.parametrize("prefix_space", [False, True])
@pytest.mark.parametrize("options", WORD_OPTIONS[:4])
def test_words_match_transformers_byte_level(
    tmp_path: Path, wiki_text: str, texts: list[str], prefix_space: bool, options: dict
) -> None:
    """GPT-2 (each word without a space before it) and a RoBERTa-style tokenizer with
    ``add_prefix_space`` (a space put before every word, offsets trimmed of it)."""
    ours, theirs = _byte_level(tmp_path, wiki_text, prefix_space)
    if options.get("padding") and not prefix_space:
        options = {**options, "pad_token_id": 50256}
        theirs.pad_token = "<|endoftext|>"
    batch = _word_batches(texts)
    _same_rows(ours(batch, is_split_into_words=True, **options),
               theirs(batch, is_split_into_words=True, **options))  # fmt: skip
    if prefix_space and "stride" not in options:  # (a template with pairs)
        second = [b[:4] for b in batch]
        _same_rows(ours(batch, second, is_split_into_words=True, **options),
                   theirs(batch, second, is_split_into_words=True, **options))  # fmt: skip


@pytest.mark.parametrize("options", OPTIONS[:8])
def test_word_and_sequence_ids_of_texts_match_transformers(
    bert: Any, texts: list[str], options: dict
) -> None:
    ours, theirs = bert
    _same_rows(ours(texts, **options), theirs(texts, **options))
    first, second = [t[:60] for t in texts[:6]], [t[:90] for t in texts[6:12]]
    _same_rows(ours(first, second, **options), theirs(first, second, **options))


def test_the_ner_recipe_gives_transformers_labels(bert: Any, texts: list[str]) -> None:
    """transformers' token-classification recipe, as its docs write it: tokenize words,
    label each word's first token through ``word_ids``, -100 elsewhere."""
    ours, theirs = bert
    words = [t.split() for t in texts[:10]]
    tags = [[len(w) % 5 for w in sentence] for sentence in words]

    def align(tok: Any) -> list[list[int]]:
        enc = tok(words, truncation=True, max_length=48, is_split_into_words=True)
        labels = []
        for i, sentence_tags in enumerate(tags):
            previous, row = None, []
            for word in enc.word_ids(batch_index=i):
                row.append(-100 if word is None or word == previous else sentence_tags[word])
                previous = word
            labels.append(row)
        return labels

    got = align(ours)
    assert got == align(theirs)
    assert sum(label != -100 for row in got for label in row) > 100


def test_word_ids_survive_tensors_moves_and_pickling(bert: Any) -> None:
    import pickle

    torch = pytest.importorskip("torch")
    ours, theirs = bert
    enc = ours(["New York is big", "Hi"], ["Yes", "no no"], padding=True, return_tensors="pt")
    want = theirs(["New York is big", "Hi"], ["Yes", "no no"], padding=True)
    for batch in (enc, enc.to("cpu"), pickle.loads(pickle.dumps(enc))):
        assert isinstance(batch["input_ids"], torch.Tensor)
        assert [batch.word_ids(i) for i in range(2)] == [want.word_ids(i) for i in range(2)]
        assert batch.sequence_ids(1) == want.sequence_ids(1)


def test_encode_batch_takes_words(bert: Any, texts: list[str]) -> None:
    """``encode_batch(is_split_into_words=True)``: HF tokenizers' ``encode_batch`` with
    ``is_pretokenized=True``, as id lists and as arrays with word and sequence ids."""
    tokenizers = pytest.importorskip("tokenizers")
    ours, _ = bert
    path = datasets.files("bert-base-uncased")["tokenizer.json"]
    theirs = tokenizers.Tokenizer.from_file(str(path))
    theirs.no_truncation()
    batch = _word_batches(texts)
    want = theirs.encode_batch(batch, is_pretokenized=True)
    got = ours.encode_batch(batch, is_split_into_words=True, truncation=False)
    assert got == [e.ids for e in want]
    arrays = ours.encode_batch(
        batch, is_split_into_words=True, padding=True, truncation=False, return_tensors="np",
        return_word_ids=True, return_sequence_ids=True,
    )  # fmt: skip
    for i, e in enumerate(want):
        n = len(e.ids)
        assert arrays["word_ids"][i, :n].tolist() == [-1 if w is None else w for w in e.word_ids]
        assert arrays.word_ids(i)[:n] == e.word_ids
        assert arrays.sequence_ids(i)[:n] == e.sequence_ids
        assert set(arrays["sequence_ids"][i, n:].tolist()) <= {-1}


def test_bad_words_name_the_fix(bert: Any) -> None:
    ours, _ = bert
    with pytest.raises(TypeError, match="split the text first"):
        ours("two words", is_split_into_words=True)
    with pytest.raises(TypeError, match=r"texts\[1\] must be a list of words"):
        ours([["a"], "b c"], is_split_into_words=True)
    with pytest.raises(TypeError, match=r"texts\[1\]\[2\] must be a str, got int"):
        ours([["a"], ["b", "c", 3]], is_split_into_words=True)
    with pytest.raises(lf.errors.EncodingError, match=r"texts\[0\]\[1\] holds a lone"):
        ours([["a", "b\ud800"]], is_split_into_words=True)
    with pytest.raises(TypeError, match="batch too"):
        ours([["a"], ["b"]], ["c", "d"], is_split_into_words=True)
    with pytest.raises(ConfigError, match="2 texts but 1 second"):
        ours([["a"], ["b"]], [["c"]], is_split_into_words=True)
    with pytest.raises(ConfigError, match="is_split_into_words=True"):
        ours([["a", "b", "c"]])  # words without the flag: read as a malformed pair
    padded = ours.pad([{"input_ids": [101, 102]}, {"input_ids": [101, 7, 102]}])
    with pytest.raises(ConfigError, match="holds no word_ids"):
        padded.word_ids(0)
    enc = ours(["a", "b"])
    with pytest.raises(ConfigError, match="past the 2 rows"):
        enc.word_ids(2)
    assert enc.sequence_ids(-1) == enc.sequence_ids(1)  # (from the end, as transformers)
    with pytest.raises(ConfigError, match="batch_index must be"):
        enc.sequence_ids(-3)
    assert ours([], is_split_into_words=True)["input_ids"] == [101, 102]  # one empty text


def test_what_an_audit_found_against_transformers(
    bert: Any, texts: list[str], tmp_path: Path, wiki_text: str
) -> None:
    """Each case where the call differed from transformers (2026-12-06 audit): the first
    word's offsets at window starts (byte-level, words), an empty second text of one text
    (dropped), ``(words, words)`` tuples (pairs), ``padding="do_not_pad"`` with
    ``max_length`` (no cut), the ``truncation_side`` attribute, and a row of ids as an
    array or tensor in ``convert_ids_to_tokens``."""
    torch = pytest.importorskip("torch")
    roberta, their_roberta = _byte_level(tmp_path, wiki_text, prefix_space=True)
    kw = {"is_split_into_words": True, "truncation": True, "max_length": 3,
          "return_overflowing_tokens": True, "return_offsets_mapping": True}  # fmt: skip
    for words in (["the big world"], ["x", "the big world"], ["", "the big world", "and"]):
        _same_rows(roberta(words, **kw), their_roberta(words, **kw))
    ours, theirs = bert
    _same_rows(ours("hello world", ""), theirs("hello world", ""))
    _same_rows(ours(["hello"], [], is_split_into_words=True),
               theirs(["hello"], [], is_split_into_words=True))  # fmt: skip
    _same_rows(ours(["a b", "c"], ["", "d"]), theirs(["a b", "c"], ["", "d"]))  # (kept)
    pairs = [(["New", "York"], ["is", "big"]), (["a"], ["b", "c"])]
    _same_rows(ours(pairs, is_split_into_words=True), theirs(pairs, is_split_into_words=True))
    options = {"padding": "do_not_pad", "max_length": 8}
    _same(ours(texts[:3], **options), theirs(texts[:3], **options))
    left = pickle_copy(ours)
    left.truncation_side = theirs.truncation_side = "left"
    try:
        _same(left(texts[:3], max_length=9), theirs(texts[:3], max_length=9))
        assert pickle_copy(left).truncation_side == "left"
    finally:
        theirs.truncation_side = "right"
    for kind in ("np", "pt"):
        row = ours(texts[:2], padding=True, return_tensors=kind)["input_ids"][0]
        assert ours.convert_ids_to_tokens(row) == theirs.convert_ids_to_tokens(row)
        # (one id of an array: transformers takes a Python int only)
        assert ours.convert_ids_to_tokens(row[1]) == theirs.convert_ids_to_tokens(int(row[1]))
    assert ours.convert_ids_to_tokens(torch.tensor(7592)) == "hello"
    with pytest.raises(ConfigError, match="one row"):
        ours.convert_ids_to_tokens(np.zeros((2, 2), np.int64))


def pickle_copy(tok: Any) -> Any:
    import pickle

    return pickle.loads(pickle.dumps(tok))


# ----------------------------------------------------------------- pad and the collators


def _features(tok: Any, texts: list[str], **extra: Any) -> list[dict[str, Any]]:
    enc = tok(texts, truncation=True, max_length=40, return_special_tokens_mask=True)
    return [{**{k: v[i] for k, v in enc.items()}, **{k: v[i] for k, v in extra.items()}}
            for i in range(len(texts))]  # fmt: skip


@pytest.mark.parametrize(
    "options",
    [{}, {"pad_to_multiple_of": 8}, {"padding": "max_length", "max_length": 48},
     {"return_tensors": "np"}, {"padding": "longest", "return_tensors": "np"}],
)  # fmt: skip
def test_data_collator_with_padding_matches_transformers(
    bert: Any, texts: list[str], options: dict
) -> None:
    """``transformers.DataCollatorWithPadding(tokenizer)`` calls ``tokenizer.pad``: with a
    lexforge tokenizer it gives what it gives with transformers' on the same file."""
    ours, theirs = bert
    features = _features(ours, texts, label=[i % 3 for i in range(len(texts))])
    got = transformers.DataCollatorWithPadding(ours, **options)(features)
    want = transformers.DataCollatorWithPadding(theirs, **options)(features)
    _same(got, want)


@pytest.mark.parametrize(
    "options",
    [{}, {"padding": False}, {"padding_side": "left", "return_tensors": "np"},
     {"return_attention_mask": False, "return_tensors": "pt"},
     {"padding": "max_length", "max_length": 50, "pad_to_multiple_of": 16}],
)  # fmt: skip
def test_pad_matches_transformers(bert: Any, texts: list[str], options: dict) -> None:
    if options.get("return_tensors") == "pt":
        pytest.importorskip("torch")
    ours, theirs = bert
    features = _features(ours, texts[:7], score=[0.5 * i for i in range(7)])
    if options.get("return_attention_mask") is False:  # (made only where missing)
        features = [{k: v for k, v in f.items() if k != "attention_mask"} for f in features]
    _same(ours.pad(features, **options), theirs.pad(features, **options))
    columns = {k: [f[k] for f in features] for k in features[0]}  # a dataset's slice
    _same(ours.pad(columns, **options), theirs.pad(columns, **options))
    _same(ours.pad(features[2]), theirs.pad(features[2]))  # one example, unbatched


def test_a_dataset_mapped_with_the_tokenizer_trains_with_the_collator(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """The transformers recipe as written: ``dataset.map`` with the tokenizer call (the
    tokenizer pickles for the map's fingerprint), ``DataCollatorWithPadding`` and
    ``Trainer`` on a lexforge head; the collated batches equal transformers' tokenizer's."""
    hf_datasets = pytest.importorskip("datasets")
    pytest.importorskip("accelerate")
    from lexforge.model import BertForSequenceClassification

    tok = lf.Tokenizer.from_file(tiny_checkpoint / "tokenizer.json")
    theirs = transformers.AutoTokenizer.from_pretrained(tiny_checkpoint)
    data = hf_datasets.Dataset.from_dict(
        {
            "text": ["good film", "bad film", "a truly good film", "awful"] * 4,
            "label": [1, 0, 1, 0] * 4,
        }
    )
    mapped = data.map(lambda b: tok(b["text"], truncation=True, max_length=16), batched=True)
    want = data.map(lambda b: theirs(b["text"], truncation=True, max_length=16), batched=True)
    assert mapped["input_ids"] == want["input_ids"]
    mapped = mapped.remove_columns("text")
    collate = transformers.DataCollatorWithPadding(tok)
    rows = [mapped[i] for i in range(5)]
    _same(collate(rows), transformers.DataCollatorWithPadding(theirs)(rows))
    model = BertForSequenceClassification.from_pretrained(tiny_checkpoint, num_labels=2)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=2, report_to=[],
        use_cpu=True, save_strategy="no",
    )  # fmt: skip
    trainer = transformers.Trainer(model=model, args=args, train_dataset=mapped,
                                   data_collator=collate)  # fmt: skip
    assert trainer.train().global_step == 2


def test_bad_pads_name_the_fix(bert: Any) -> None:
    ours, _ = bert
    rows = [{"input_ids": [101, 7, 102]}, {"input_ids": [101, 102]}]
    with pytest.raises(ConfigError, match="input_ids"):
        ours.pad([{"text": "not tokenized"}])
    with pytest.raises(ConfigError, match="max_length=2"):
        ours.pad(rows, padding="max_length", max_length=2)  # pad never cuts
    with pytest.raises(ConfigError, match="token_type_ids has 2 values"):
        ours.pad([{**rows[0], "token_type_ids": [0, 0]}])
    with pytest.raises(ConfigError, match=r"'labels'.*different lengths"):
        ours.pad([{**rows[0], "labels": [1, 2, 3]}, {**rows[1], "labels": [1, 2]}],
                 return_tensors="np")  # fmt: skip
    with pytest.raises(ConfigError, match=r"'words'.*text"):
        ours.pad([{**rows[0], "words": "a"}, {**rows[1], "words": "b"}], return_tensors="np")
    with pytest.raises(ConfigError, match="same fields"):
        ours.pad([rows[0], {**rows[1], "labels": 1}])
    with pytest.raises(ConfigError, match="padding=True"):
        ours.pad(rows, padding=False, return_tensors="np")
    gpt2 = lf.Tokenizer.from_file(datasets.files("gpt2")["encoder.json"])
    with pytest.raises(ConfigError, match="no padding token"):
        gpt2.pad(rows)
    assert gpt2.pad(rows, pad_token_id=50256)["input_ids"][1] == [101, 102, 50256]


# ----------------------------------------------------------------- tokens as strings


def _bpe_with_specials(tmp_path: Path, wiki_text: str) -> tuple[Any, None]:
    tok = lf.Tokenizer.train_bpe(
        texts=wiki_text.split("\n")[:800], vocab_size=600,
        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
    )  # fmt: skip
    tok.add_tokens(["<e1>"])
    tok.save(tmp_path / "bpe.json")
    return tok, None


@pytest.mark.parametrize("kind", ["bert", "minilm", "gpt2", "bpe"])
def test_tokens_as_strings_match_transformers(
    kind: str, texts: list[str], tmp_path: Path, wiki_text: str
) -> None:
    """``tokenize``, ``convert_ids_to_tokens`` and ``convert_tokens_to_ids`` spell tokens
    as transformers does (``##`` pieces, byte-level ``Ġ``), the unknown token's id for a
    token not in the vocabulary."""
    if kind == "bpe":
        ours, _ = _bpe_with_specials(tmp_path, wiki_text)
        path = tmp_path / "bpe.json"
    else:
        path = {
            "bert": datasets.files("bert-base-uncased")["tokenizer.json"],
            "minilm": datasets.files("all-MiniLM-L6-v2")["model_dir"] / "tokenizer.json",
            "gpt2": tmp_path / "gpt2.json",
        }[kind]
        if kind == "gpt2":
            lf.Tokenizer.from_file(datasets.files("gpt2")["encoder.json"]).save(path)
        ours = lf.Tokenizer.from_file(path)
    roles = {
        "[CLS]": "cls_token",
        "[SEP]": "sep_token",
        "[PAD]": "pad_token",
        "[MASK]": "mask_token",
        "[UNK]": "unk_token",
        "<|endoftext|>": "eos_token",
    }
    # transformers skips the special tokens it knows the roles of
    theirs = _theirs(path, **{
        roles[t]: t for t in ours.special_tokens if t in roles})  # fmt: skip
    sample = [t[:300] for t in texts] + ["naïve 👍 café <e1> [MASK]  x", "東京 tower"]
    for text in sample:
        assert ours.tokenize(text) == theirs.tokenize(text), text
        framed = ours.tokenize(text, "and a pair", add_special_tokens=True)
        assert framed == theirs.tokenize(text, "and a pair", add_special_tokens=True)
        ids = theirs(text, truncation=False)["input_ids"]
        assert ours(text)["input_ids"] == ids  # (special tokens in the text: special)
        assert ours.convert_ids_to_tokens(ids) == theirs.convert_ids_to_tokens(ids)
        assert ours.convert_ids_to_tokens(ids, skip_special_tokens=True) == (
            theirs.convert_ids_to_tokens(ids, skip_special_tokens=True)
        )
        tokens = theirs.convert_ids_to_tokens(ids)
        assert ours.convert_tokens_to_ids(tokens) == ids
    strays = ["zzqqxx", "[PAD]", "<|endoftext|>", "Ġ", "##s", "", "<e1>"]
    assert ours.convert_tokens_to_ids(strays) == theirs.convert_tokens_to_ids(strays)
    assert ours.convert_ids_to_tokens(5) == theirs.convert_ids_to_tokens(5)
    with pytest.raises(lf.errors.TokenIdError):
        ours.convert_ids_to_tokens([ours.vocab_size + 10])


@pytest.mark.parametrize("side", ["right", "left"])
def test_token_classification_collator_matches_transformers(bert: Any, side: str) -> None:
    """``DataCollatorForTokenClassification`` pads the labels on the tokenizer's
    ``padding_side`` (transformers' attribute), which ``pad`` and the call follow too; a
    side set on a tokenizer survives pickling (DataLoader workers)."""
    import pickle

    torch = pytest.importorskip("torch")
    ours, _ = bert
    ours = pickle.loads(pickle.dumps(ours))  # a copy: the fixture's stays as it is
    theirs = transformers.BertTokenizerFast(
        tokenizer_file=str(datasets.files("bert-base-uncased")["tokenizer.json"])
    )
    enc = ours(["John lives in Paris", "Hi", "the Eiffel tower is in Paris, France"])
    features = [{"input_ids": ids, "labels": [i % 3 for i in range(len(ids))]}
                for ids in enc["input_ids"]]  # fmt: skip
    ours.padding_side = theirs.padding_side = side
    got = transformers.DataCollatorForTokenClassification(ours)(features)
    want = transformers.DataCollatorForTokenClassification(theirs)(features)
    assert sorted(got) == sorted(want)
    assert all(torch.equal(got[k], want[k]) for k in want)
    _same(ours(["a b c", "d"], padding=True), theirs(["a b c", "d"], padding=True))
    assert pickle.loads(pickle.dumps(ours)).padding_side == side


@pytest.mark.parametrize("kind", ["bert", "gpt2", "bpe"])
def test_save_pretrained_writes_what_autotokenizer_reads(
    kind: str, tmp_path: Path, texts: list[str], wiki_text: str
) -> None:
    """``tok.save_pretrained(dir)`` (transformers' name, which ``Trainer`` calls on its
    ``processing_class``) writes a folder ``AutoTokenizer`` reads to the same call
    results; a file in the folder's place is refused."""
    if kind == "bpe":
        ours, _ = _bpe_with_specials(tmp_path, wiki_text)
    elif kind == "gpt2":
        ours = lf.Tokenizer.from_file(datasets.files("gpt2")["encoder.json"])
    else:
        ours = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    written = ours.save_pretrained(tmp_path / "tok")
    assert {Path(p).name for p in written} >= {"tokenizer.json", "tokenizer_config.json"}
    theirs = transformers.AutoTokenizer.from_pretrained(tmp_path / "tok")
    options = {"max_length": 48, "truncation": True, "return_offsets_mapping": True}
    # (a BPE tokenizer with [CLS] and [SEP] is saved framing texts with them, as BERT's)
    got, want = bert_framed(ours)(texts, **options), theirs(texts, **options)
    for name in ("input_ids", "attention_mask", "offset_mapping"):
        assert got[name] == want[name], name
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        ours.save_pretrained(tmp_path / "file")


def test_save_pretrained_is_all_or_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A save_pretrained whose write fails part way (a full disk at its third file, a
    folder where a file goes) leaves the earlier tokenizer's files as they were, none of
    them replaced and no staging folder left; the save then works once the way is clear,
    through a link as before, keeping a replaced file's mode."""
    import errno
    import json

    import lexforge.formats.hf_folder as hf_folder

    old = lf.Tokenizer.train_wordpiece(texts=["hello world foo bar"] * 50, vocab_size=120,
                                       show_progress=False)  # fmt: skip
    new = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    out = tmp_path / "tok"
    old.save_pretrained(out)
    (out / "tokenizer_config.json").chmod(0o640)
    files = lambda: {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}  # noqa: E731
    before = files()
    real = hf_folder.atomic_write

    def full_at_the_config(path: Path, data: str | bytes) -> None:
        if path.name == "tokenizer_config.json":
            raise lf.formats.write_failed(path, OSError(errno.ENOSPC, "No space left"))
        real(path, data)

    monkeypatch.setattr(hf_folder, "atomic_write", full_at_the_config)
    with pytest.raises(OSError, match=f"could not write {out / 'tokenizer_config.json'}: "
                                      "the disk is full"):  # fmt: skip
        new.save_pretrained(out)
    assert files() == before
    monkeypatch.setattr(hf_folder, "atomic_write", real)
    (out / "special_tokens_map.json").unlink()
    (out / "special_tokens_map.json").mkdir()
    with pytest.raises(OSError, match=r"special_tokens_map\.json: Is a directory"):
        new.save_pretrained(out)
    assert files() == {k: v for k, v in before.items() if k != "special_tokens_map.json"}
    assert sorted(p.name for p in out.iterdir()) == sorted(before)
    (out / "special_tokens_map.json").rmdir()
    (tmp_path / "elsewhere.json").write_text("{}")
    (out / "special_tokens_map.json").symlink_to(tmp_path / "elsewhere.json")
    new.save_pretrained(out)
    assert sorted(p.name for p in out.iterdir()) == sorted(before)
    assert (out / "special_tokens_map.json").is_symlink()
    assert json.loads((tmp_path / "elsewhere.json").read_text())["mask_token"] == "[MASK]"
    assert (out / "tokenizer_config.json").stat().st_mode & 0o777 == 0o640
    theirs = transformers.AutoTokenizer.from_pretrained(out)
    assert theirs("hello world")["input_ids"] == new("hello world")["input_ids"]


def test_trainer_saves_a_lexforge_tokenizer_with_its_checkpoints(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    pytest.importorskip("accelerate")
    from lexforge.model import BertForSequenceClassification

    tok = lf.Tokenizer.from_file(tiny_checkpoint / "tokenizer.json")
    model = BertForSequenceClassification.from_pretrained(tiny_checkpoint, num_labels=2)
    rows = [{**tok(f"word {i} and more"), "labels": i % 2} for i in range(8)]
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), report_to=[], use_cpu=True, max_steps=2,
        save_strategy="steps", save_steps=2, per_device_train_batch_size=4,
    )  # fmt: skip
    trainer = transformers.Trainer(model=model, args=args, train_dataset=rows,
                                   processing_class=tok)  # fmt: skip
    trainer.train()
    saved = transformers.AutoTokenizer.from_pretrained(tmp_path / "checkpoint-2")
    assert saved("word 3 and more")["input_ids"] == tok("word 3 and more")["input_ids"]


# ------------------------------------- transformers' special-token attributes and helpers


@pytest.mark.parametrize("kind", ["bert", "minilm", "gpt2", "bpe"])
def test_special_token_attributes_match_autotokenizer(
    kind: str, tmp_path: Path, texts: list[str], wiki_text: str
) -> None:
    """``mask_token``, ``pad_token_id``, ``all_special_ids``, ``special_tokens_map``,
    ``get_vocab``, ``batch_decode``, ``get_special_tokens_mask``: what ``AutoTokenizer``
    reads from the folder ``save_pretrained`` writes."""
    if kind == "bpe":
        ours, _ = _bpe_with_specials(tmp_path, wiki_text)
    elif kind == "gpt2":
        ours = lf.Tokenizer.from_file(datasets.files("gpt2")["encoder.json"])
    else:
        name = "bert-base-uncased" if kind == "bert" else "all-MiniLM-L6-v2"
        files = datasets.files(name)
        ours = lf.Tokenizer.from_file(files.get("tokenizer.json") or files["model_dir"])
    ours.save_pretrained(tmp_path / "tok")
    theirs = transformers.AutoTokenizer.from_pretrained(tmp_path / "tok")
    for role in ("unk", "sep", "pad", "cls", "mask", "bos", "eos"):
        assert getattr(ours, f"{role}_token") == getattr(theirs, f"{role}_token"), role
        assert getattr(ours, f"{role}_token_id") == getattr(theirs, f"{role}_token_id"), role
    assert ours.special_tokens_map == {
        k: v for k, v in theirs.special_tokens_map.items() if k != "additional_special_tokens"
    }
    assert ours.all_special_tokens == theirs.all_special_tokens
    assert ours.all_special_ids == theirs.all_special_ids
    assert ours.get_vocab() == theirs.get_vocab()
    assert ours.model_max_length == theirs.model_max_length  # (none set: transformers' 1e30)
    rows = bert_framed(ours)(texts[:6], max_length=40)["input_ids"]
    assert rows == theirs(texts[:6], max_length=40, truncation=True)["input_ids"]
    for skip in (False, True):
        assert ours.batch_decode(rows, skip_special_tokens=skip) == theirs.batch_decode(
            rows, skip_special_tokens=skip
        )
    for row in rows:
        mask = ours.get_special_tokens_mask(row, already_has_special_tokens=True)
        assert mask == theirs.get_special_tokens_mask(row, already_has_special_tokens=True)


def test_transformers_mlm_collator_takes_a_lexforge_tokenizer(
    bert: Any, texts: list[str], tmp_path: Path
) -> None:
    """``DataCollatorForLanguageModeling(tok)`` (``run_mlm.py``'s) masks as it does with
    transformers' own tokenizer of the same folder, with and without a
    ``special_tokens_mask`` in the features."""
    torch = pytest.importorskip("torch")
    ours, _ = bert
    ours.save_pretrained(tmp_path / "tok")
    theirs = transformers.AutoTokenizer.from_pretrained(tmp_path / "tok")
    for mask in (True, False):
        enc = ours(texts[:8], truncation=True, max_length=64, return_special_tokens_mask=mask)
        features = [{k: v[i] for k, v in enc.items()} for i in range(8)]
        got = transformers.DataCollatorForLanguageModeling(ours, seed=3)(features)
        want = transformers.DataCollatorForLanguageModeling(theirs, seed=3)(features)
        assert sorted(got) == sorted(want)
        assert all(torch.equal(got[k], want[k]) for k in want), mask
        assert int((got["labels"] != -100).sum()) > 20


def test_the_template_mask_of_unframed_ids(bert: Any, texts: list[str]) -> None:
    """``get_special_tokens_mask`` of ids not yet framed: where the template puts its
    tokens, as ``encode_batch``'s ``special_tokens_mask`` of the same texts says."""
    ours, _ = bert
    first, second = texts[3][:80], texts[4][:50]
    a = ours.encode(first, add_special_tokens=False)
    b = ours.encode(second, add_special_tokens=False)
    want = ours.encode_batch([first], [second], return_tensors="np",
                             return_special_tokens_mask=True)  # fmt: skip
    assert ours.get_special_tokens_mask(a, b) == want["special_tokens_mask"][0].tolist()
    assert ours.get_special_tokens_mask(a) == [1] + [0] * len(a) + [1]
    with pytest.raises(ConfigError, match="one framed sequence"):
        ours.get_special_tokens_mask(a, b, already_has_special_tokens=True)


def test_model_max_length_comes_from_a_model_folder(
    tiny_checkpoint: Path, texts: list[str], tmp_path: Path
) -> None:
    """A model folder's ``tokenizer_config.json`` gives ``model_max_length``, which
    ``truncation=True`` and ``padding="max_length"`` use without ``max_length``, as in
    transformers; a tokenizer file alone has none, and the call names the fix."""
    import pickle

    ours = lf.Tokenizer.from_file(tiny_checkpoint / "tokenizer.json")
    theirs = transformers.AutoTokenizer.from_pretrained(tiny_checkpoint)
    assert ours.model_max_length == theirs.model_max_length < 10**6
    for options in ({"truncation": True}, {"padding": "max_length", "truncation": True},
                    {"truncation": "only_first"}):  # fmt: skip
        pairs = [texts[-4][:100]] * 3 if options["truncation"] == "only_first" else None
        long = [t * 3 for t in texts[:3]]
        _same(ours(long, pairs, **options), theirs(long, pairs, **options))
    again = pickle.loads(pickle.dumps(ours))
    assert again.model_max_length == ours.model_max_length
    bare = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    with pytest.raises(ConfigError, match="model_max_length"):
        bare(texts[:2], truncation=True)
    with pytest.raises(ConfigError, match="model_max_length"):
        bare(texts[:2], padding="max_length")
    bare.model_max_length = 24
    assert [len(r) for r in bare(texts[:2], truncation=True)["input_ids"]] == [24, 24]
    bare.save_pretrained(tmp_path / "tok")
    assert transformers.AutoTokenizer.from_pretrained(tmp_path / "tok").model_max_length == 24
    # Trainer saves the model (its positions as the tokenizer's limit), then the tokenizer:
    # one that knows no limit keeps the folder's
    fresh = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    fresh.save_pretrained(tmp_path / "tok")
    assert transformers.AutoTokenizer.from_pretrained(tmp_path / "tok").model_max_length == 24
    bare.model_max_length = "long"  # type: ignore[assignment]
    with pytest.raises(ConfigError, match="model_max_length must be an integer"):
        bare(texts[:2], truncation=True)


def test_add_special_tokens_takes_transformers_role_dict(tmp_path: Path) -> None:
    """``tok.add_special_tokens({"pad_token": "[PAD]"})`` (the GPT-2 fine-tuning recipe)
    adds the token and gives it its role, as on transformers' tokenizer of the same folder;
    a role given a token lexforge would not find it by, or an unknown key, is refused (a
    dict's keys were added as tokens before)."""
    ours = lf.Tokenizer.from_file(datasets.files("gpt2")["encoder.json"])
    ours.save_pretrained(tmp_path / "tok")
    theirs = transformers.AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert (ours.eos_token, ours.bos_token) == (theirs.eos_token, theirs.bos_token)
    spec = {"pad_token": "[PAD]", "additional_special_tokens": ["<e1>", "<e2>"]}
    assert ours.add_special_tokens(spec) == theirs.add_special_tokens(spec) == 3
    assert (ours.pad_token, ours.pad_token_id) == (theirs.pad_token, theirs.pad_token_id)
    assert len(ours) == len(theirs)
    texts = ["Hello <e1>world<e2>", "a b c d e f"]
    _same(ours(texts, padding=True), theirs(texts, padding=True))
    assert ours.add_special_tokens({"pad_token": "[PAD]"}) == 0  # (already there)
    with pytest.raises(ConfigError, match="finds that role by the token's name"):
        ours.add_special_tokens({"mask_token": "<|endoftext|>"})
    with pytest.raises(ConfigError, match="unknown key 'cls_tok'"):
        ours.add_special_tokens({"cls_tok": "x"})
    assert "cls_tok" not in ours.special_tokens
    # padding with another role's token, the transformers way: the padding token is set
    spec = {"pad_token": "<|endoftext|>"}
    assert ours.add_special_tokens(spec) == theirs.add_special_tokens(spec) == 0
    assert (ours.pad_token, ours.pad_token_id) == (theirs.pad_token, theirs.pad_token_id)
    _same(ours(texts, padding=True), theirs(texts, padding=True))


def test_extra_special_tokens_are_saved_as_every_transformers_reads_them(
    tmp_path: Path,
) -> None:
    """Special tokens of no role are saved as ``additional_special_tokens`` (config and
    map), which transformers 4 reads and 5 takes as its ``extra_special_tokens``: a list
    under that key (5's spelling) made transformers 4.47-4.57's AutoTokenizer fail
    ('list' object has no attribute 'keys'). transformers 5 keeps them special."""
    ours = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    ours.add_special_tokens(["<ent>", "</ent>"])
    ours.save_pretrained(tmp_path / "tok")
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        saved = json.loads((tmp_path / "tok" / name).read_text())
        assert saved["additional_special_tokens"] == ["<ent>", "</ent>"]
        assert "extra_special_tokens" not in saved
    theirs = transformers.AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert {"<ent>", "</ent>"} <= set(theirs.all_special_tokens)
    ids = ours("a <ent> b </ent>")["input_ids"]
    assert theirs("a <ent> b </ent>")["input_ids"] == ids
    assert theirs.decode(ids, skip_special_tokens=True) == ours.decode(ids) == "a b"


def test_pad_token_set_to_eos_pads_as_transformers(tmp_path: Path, texts: list[str]) -> None:
    """GPT-2's ``tok.pad_token = tok.eos_token``: the call, ``pad`` (so
    ``DataCollatorWithPadding``) and ``encode_batch`` pad with its id, ``save_pretrained``
    writes it, pickling keeps it; another role cannot be set (lexforge's masking finds it
    by name) and says so; a token outside the vocabulary is refused."""
    import pickle

    torch = pytest.importorskip("torch")
    ours = lf.Tokenizer.from_file(datasets.files("gpt2")["encoder.json"])
    ours.save_pretrained(tmp_path / "tok")
    theirs = transformers.AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert ours.pad_token is None and theirs.pad_token is None
    ours.pad_token, theirs.pad_token = ours.eos_token, theirs.eos_token
    assert ours.pad_token_id == theirs.pad_token_id == 50256
    batch = [t[:120] for t in texts[:6]]
    _same(ours(batch, padding=True, return_tensors="np"),
          theirs(batch, padding=True, return_tensors="np"))  # fmt: skip
    features = [{"input_ids": r} for r in ours(batch)["input_ids"]]
    got = transformers.DataCollatorWithPadding(ours)(features)
    want = transformers.DataCollatorWithPadding(theirs)(features)
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert (ours.encode_batch(batch, padding=True, return_tensors="np")["input_ids"] == 50256).any()
    assert pickle.loads(pickle.dumps(ours)).pad_token_id == 50256
    ours.save_pretrained(tmp_path / "again")
    assert transformers.AutoTokenizer.from_pretrained(tmp_path / "again").pad_token_id == 50256
    with pytest.raises(ConfigError, match="not in the vocabulary"):
        ours.pad_token = "<nothing>"
    with pytest.raises(ConfigError, match="by its name"):
        ours.mask_token = "<|endoftext|>"
    ours.eos_token = ours.eos_token  # (as it is: fine)
    ours.pad_token = None
    assert ours.pad_token is None
    with pytest.raises(ConfigError, match="no padding token"):
        ours(batch, padding=True)
    bert = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    with pytest.raises(ConfigError, match=r"mask token is '\[MASK\]'"):
        bert.add_special_tokens({"mask_token": "<mask>"})
    assert "<mask>" not in bert.special_tokens


def test_more_of_transformers_tokenizer_surface(
    bert: Any, texts: list[str], tmp_path: Path
) -> None:
    """``decode`` of one id and ``clean_up_tokenization_spaces``, ``add_tokens(...,
    special_tokens=True)``, ``num_special_tokens_to_add``, ``convert_tokens_to_string``,
    ``model_input_names``, ``name_or_path``; a BatchEncoding's ``is_fast``,
    ``n_sequences``, ``data`` and ``convert_to_tensors``."""
    torch = pytest.importorskip("torch")
    ours, theirs = bert
    assert ours.decode(7592) == theirs.decode(7592) == "hello"
    ids = theirs("Hello , world ! i do not know", add_special_tokens=False)["input_ids"]
    for clean in (True, False):
        assert ours.decode(ids, clean_up_tokenization_spaces=clean) == theirs.decode(
            ids, clean_up_tokenization_spaces=clean
        )
    gpt2 = lf.Tokenizer.from_file(datasets.files("gpt2")["encoder.json"])
    assert gpt2.decode(gpt2.encode("Hi , you !"), clean_up_tokenization_spaces=True) == "Hi, you!"
    assert gpt2.decode(np.int64(15496)) == "Hello"
    for pair in (False, True):
        assert ours.num_special_tokens_to_add(pair) == theirs.num_special_tokens_to_add(pair)
    tokens = theirs.tokenize("unbelievable tokenization, naïve")
    assert ours.convert_tokens_to_string(tokens) == theirs.convert_tokens_to_string(tokens)
    assert ours.model_input_names == theirs.model_input_names
    assert ours.pad_token_type_id == theirs.pad_token_type_id == 0
    assert ours.name_or_path.endswith("tokenizer.json")
    copy = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    assert copy.add_tokens(["<e9>"], special_tokens=True) == 1
    assert "<e9>" in copy.special_tokens
    enc, want = ours(texts[:3], ["a", "b", "c"]), theirs(texts[:3], ["a", "b", "c"])
    assert enc.is_fast and enc.n_sequences == want.n_sequences == 2
    assert ours(texts[:2]).n_sequences == 1 and enc.data == dict(enc)
    padded = ours(texts[:3], padding=True)
    padded.convert_to_tensors("pt")
    assert isinstance(padded["input_ids"], torch.Tensor)
    assert padded.word_ids(1) == theirs(texts[:3], padding=True).word_ids(1)
    with pytest.raises(ConfigError, match="different lengths"):
        ours(texts[:3]).convert_to_tensors("np")


def _lookups_agree(ours: Any, theirs: Any, chars: int) -> None:
    """Every lookup of every row (tokens, words, characters) as transformers answers it;
    where it raises for a word the row lacks, ours says None (as word_to_tokens does)."""
    rows = len(theirs["input_ids"]) if isinstance(theirs["input_ids"][0], list) else 1
    rows = len(theirs["input_ids"]) if hasattr(theirs["input_ids"], "shape") else rows
    for i in range(rows):
        assert ours.tokens(i) == theirs.tokens(i), i
        for t in range(len(theirs.word_ids(i))):  # (transformers fails on negative ones)
            for name in ("token_to_word", "token_to_sequence", "token_to_chars"):
                assert getattr(ours, name)(i, t) == getattr(theirs, name)(i, t), (name, i, t)
        for s in (0, 1):
            for w in range(max((x for x in theirs.word_ids(i) if x is not None), default=0) + 2):
                for name in ("word_to_tokens", "word_to_chars"):
                    try:
                        want = getattr(theirs, name)(i, w, s)
                    except Exception:  # (transformers' word_to_chars raises)
                        want = None
                    assert getattr(ours, name)(i, w, s) == want, (name, i, w, s)
            for c in range(chars):
                for name in ("char_to_token", "char_to_word"):
                    assert getattr(ours, name)(i, c, s) == getattr(theirs, name)(i, c, s)


@pytest.mark.parametrize(
    "options",
    [{}, {"padding": True, "padding_side": "left", "return_tensors": "pt"},
     {"truncation": "only_first", "max_length": 24, "return_overflowing_tokens": True,
      "stride": 2, "return_offsets_mapping": True}],
)  # fmt: skip
def test_token_word_and_char_lookups_match_transformers(
    bert: Any, texts: list[str], tmp_path: Path, wiki_text: str, options: dict
) -> None:
    """``tokens``, ``token_to_word``/``_sequence``/``_chars``, ``word_to_tokens``/``_chars``,
    ``char_to_token``/``_word``: transformers' ``BatchEncoding`` lookups (its QA tutorials
    map answers with ``char_to_token``), on texts, pairs and texts split into words."""
    if options.get("return_tensors") == "pt":
        pytest.importorskip("torch")
    ours, theirs = bert
    first = [t[:70] for t in texts[:4]] + ["naïve café,  東京!", ""]
    second = [t[:30] for t in texts[4:10]]
    _lookups_agree(ours(first, second, **options), theirs(first, second, **options), 80)
    _lookups_agree(ours(first[0], **options), theirs(first[0], **options), 80)
    words = [t.split() for t in first]
    _lookups_agree(ours(words, is_split_into_words=True, **options),
                   theirs(words, is_split_into_words=True, **options), 12)  # fmt: skip
    roberta, their_roberta = _byte_level(tmp_path, wiki_text, prefix_space=True)
    _lookups_agree(roberta(first, second, **options), their_roberta(first, second, **options), 80)


def test_lookups_along_long_rows_match_transformers(bert: Any, wiki_text: str) -> None:
    """Lookups read one element of a row, or one pass over it, never a copy of it per
    lookup (which made a loop over a long row's tokens quadratic): a row of a few thousand
    tokens answers as transformers' does all along it, in a pair's second text and in the
    overflow windows of a long text."""
    ours, theirs = bert
    long = " ".join(wiki_text[:30_000].split()[:4_000])
    for args, options in [
        (([long],), {}),
        ((["Who wrote it?"], [long]), {}),
        (([long],), {"truncation": True, "max_length": 256, "stride": 64,
                     "return_overflowing_tokens": True, "return_offsets_mapping": True}),
    ]:  # fmt: skip
        enc, want = ours(*args, **options), theirs(*args, **options)
        rows = len(want["input_ids"])
        for i in (0, rows // 2, rows - 1):
            width = len(want["input_ids"][i])
            assert enc.word_ids(i) == want.word_ids(i) and enc.tokens(i) == want.tokens(i)
            for t in [*range(0, width, 7), width - 1, -1, -width]:
                for name in ("token_to_word", "token_to_sequence", "token_to_chars"):
                    # (transformers fails on negative indices: the same token counted on)
                    assert getattr(enc, name)(i, t) == getattr(want, name)(i, t % width)
            for s in (0, 1):
                words = [w for w in want.word_ids(i) if w is not None]
                for w in range(0, max(words, default=0) + 3, 5):
                    assert enc.word_to_tokens(i, w, s) == want.word_to_tokens(i, w, s), (i, w)
                for c in range(0, len(long) + 10, 37):
                    assert enc.char_to_token(i, c, s) == want.char_to_token(i, c, s), (i, c)
                    assert enc.char_to_word(i, c, s) == want.char_to_word(i, c, s), (i, c)


def test_lookups_name_what_is_missing(bert: Any) -> None:
    import pickle

    ours, _ = bert
    enc = ours(["New York", "x"], ["a b", "c"])
    assert enc.token_to_word(-2) == enc.token_to_word(len(enc["input_ids"][0]) - 2)
    with pytest.raises(ConfigError, match="past the"):
        enc.token_to_word(0, 40)
    copied = pickle.loads(pickle.dumps(enc))  # (without its tokenizer)
    assert copied.word_to_tokens(1, 1) == enc.word_to_tokens(1, 1)
    with pytest.raises(ConfigError, match="convert_ids_to_tokens"):
        copied.tokens(0)
    padded = ours.pad([{"input_ids": [101, 102]}])
    with pytest.raises(ConfigError, match="holds no offsets"):
        padded.char_to_token(0)


@pytest.mark.parametrize("kind", ["bert", "gpt2"])
def test_encode_returns_one_row_of_tensors(kind: str, tmp_path: Path) -> None:
    """``tok.encode(text, return_tensors="pt")``, the fill-mask tutorials' call: a (1, n)
    tensor of the ids, as transformers gives."""
    torch = pytest.importorskip("torch")
    if kind == "gpt2":
        ours = lf.Tokenizer.from_file(datasets.files("gpt2")["encoder.json"])
    else:
        ours = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    ours.save_pretrained(tmp_path / "tok")
    theirs = transformers.AutoTokenizer.from_pretrained(tmp_path / "tok")
    text = "The capital of France is Paris."
    for kindof in ("pt", "np"):
        got = ours.encode(text, return_tensors=kindof)
        want = theirs.encode(text, return_tensors=kindof)
        assert got.shape == want.shape and got.tolist() == want.tolist()
    assert isinstance(ours.encode(text, return_tensors="pt"), torch.Tensor)


def test_added_tokens_as_hf_added_token_objects(bert: Any, tmp_path: Path) -> None:
    """``tok.add_tokens([AddedToken("<e1>", lstrip=True), ...])``: each token with its own
    options (HF's ``AddedToken``, which transformers re-exports), as transformers adds
    them; a list of strings still takes the call's options."""
    tokenizers = pytest.importorskip("tokenizers")
    added_token = tokenizers.AddedToken
    ours = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    ours.save_pretrained(tmp_path / "tok")
    theirs = transformers.AutoTokenizer.from_pretrained(tmp_path / "tok")
    tokens = [added_token("<e1>", lstrip=True), added_token("newword", single_word=True), "zzq"]
    assert ours.add_tokens(tokens) == theirs.add_tokens(tokens) == 3
    special = [added_token("<s9>", special=True)]
    assert ours.add_special_tokens(special) == 1
    theirs.add_special_tokens({"additional_special_tokens": special})
    for text in ("a <e1> b newwords newword zzq", "x <s9> y", "a  <e1>"):
        assert ours(text)["input_ids"] == theirs(text)["input_ids"], text
    assert "<s9>" in ours.special_tokens and "<e1>" not in ours.special_tokens
    with pytest.raises(TypeError, match=r"got 3 \(or HF AddedToken objects"):
        ours.add_tokens([3])


def test_an_lstrip_special_token_is_spelled_as_itself(tmp_path: Path) -> None:
    """``tokenize`` spells a special token that takes the space before it as itself, as
    ``convert_ids_to_tokens`` does (its docstring); transformers gives the text it
    matched, the space included."""
    tok = lf.Tokenizer.train_bpe(
        texts=["Paris is the capital of France"] * 20, vocab_size=280,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
    ).with_template("<s>", "</s>", lstrip=["<mask>"])  # fmt: skip
    tokens = tok.tokenize("Paris is the <mask>")
    assert tokens[-1] == "<mask>" == tok.convert_ids_to_tokens(tok.mask_token_id)
    tok.save(tmp_path / "tokenizer.json")
    theirs = _theirs(tmp_path / "tokenizer.json")
    assert theirs.tokenize("Paris is the <mask>") == [*tokens[:-1], " <mask>"]


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_get_vocab_of_a_vocabulary_with_unused_ids_is_hfs(name: str, tmp_path: Path) -> None:
    """cl100k and o200k leave ids unused (100256; 199998, 199999): ``get_vocab`` raised
    ``TokenIdError`` at the first one. HF's reading of the same file is the oracle."""
    hf = pytest.importorskip("tokenizers")
    ours = lf.Tokenizer.from_file(datasets.files(name)["ranks"])
    ours.save(tmp_path / "tokenizer.json")
    theirs = hf.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    vocab = ours.get_vocab()
    assert vocab == theirs.get_vocab(with_added_tokens=True)
    assert len(vocab) < ours.vocab_size  # (the unused ids have no entry)
