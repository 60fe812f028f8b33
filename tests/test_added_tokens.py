"""Added tokens in a ``tokenizer.json`` (HF's ``add_tokens`` and ``add_special_tokens``,
with the ``lstrip``, ``rstrip``, ``single_word`` and ``normalized`` options), WordPiece and
byte-level BPE: ids, tokens, offsets, word ids, special_tokens_mask and ``decode`` (with and
without ``skip_special_tokens``) as HF ``tokenizers`` gives them on adversarial texts, batches
truncated and padded alike, and the files lexforge saves load in HF with the same ids."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

import lexforge as lf
from lexforge import _bytelevel, datasets
from lexforge.errors import ConfigError, SpecialTokenError, TokenizerFormatError

hf = pytest.importorskip("tokenizers")
np = pytest.importorskip("numpy")

AddedToken = hf.AddedToken

# the BERT tokens added: plain ones (normalized by default: "covid" is found in "COVID"),
# one matched as written, options of every kind, special or not
BERT_ADDED = [
    "covid", "<ent>", "COVID-19", AddedToken("Zeta", normalized=False),
    AddedToken("sw", single_word=True),
    AddedToken("xx", single_word=True, lstrip=True, rstrip=True),
    AddedToken("é"),  # normalizes to "e" under uncased BERT: every "e" is this token
]  # fmt: skip
BERT_SPECIAL = [
    AddedToken("<L>", lstrip=True, special=True),
    AddedToken("<R>", rstrip=True, special=True),
    AddedToken("[ENT]", normalized=True, special=True),  # found as "[ent]", decoded so too
]
BERT_TEXTS = [
    "", " ", "covid", "covid ", " covid", "COVID <ent> covidfoo Zeta zeta ZETA",
    "a  <L>  b <R>  c", "<R><R>  <L><L>", "<L>", "<R>", "sw swx xsw sw. (sw) _sw sw_ 1sw",
    "É e", "[CLS] covid [MASK] [SEP]", "covid-19 COVID-19 xx xxy  xx  z xx", "<ent><ent>covid",
    "Ünïcödé cafés 東京 covid 😀 covid", "[ENT] [ent] x[Ent]y",
    "\tcovid\n<L>\u3000<R>\u2000xx\u00a0sw",
    "covidcovid<L>covid", "xx<R>xx <L>xx",
]  # fmt: skip
BERT_PARTS = ["covid", "COVID", "<ent>", "<L>", "<R>", "xx", "sw", "Zeta", "[ENT]", "[SEP]",
              "é", " ", "  ", "\t", "x", "-19", ".", "東", "ü"]  # fmt: skip

GPT2_ADDED = [
    "  ", "   ", "\n\n", AddedToken("<ent>", single_word=True), AddedToken("hello", rstrip=True),
    AddedToken("Ġx", normalized=False), "é", "ĠCOVIDĠ", " new word", "😀x",
]  # fmt: skip
GPT2_SPECIAL = [
    "<|endoftext|>",
    AddedToken("<mask>", lstrip=True, normalized=False, special=True),
    AddedToken("<|sep|>", rstrip=True, single_word=True, special=True),
]
GPT2_TEXTS = [
    "", " ", "a   b  c    d", "x<ent> <ent> <ent>x _<ent> é<ent>", "hello   world hello",
    "Ġx yĠx", "é café <|endoftext|>  ", "is <mask> a  <mask>", "  hello", "ĠCOVIDĠ 開 a new word",
    "<|sep|>  x <|sep|>y y<|sep|> <|sep|>", "a\n\n\nb", "😀x😀😀x", "hello<mask>hello  <mask>",
]  # fmt: skip
GPT2_PARTS = ["  ", " ", "\n", "<ent>", "hello", "Ġx", "é", "ĠCOVIDĠ", " new word", "😀", "x",
              "<mask>", "<|sep|>", "<|endoftext|>", "word", "開"]  # fmt: skip


def _mixed(parts: list[str], n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(parts, k=rng.randint(1, 9))) for _ in range(n)]


def _load(theirs: Any, path: Path) -> lf.Tokenizer:
    theirs.save(str(path))
    return lf.Tokenizer.from_file(path)


def _kw(ours: lf.Tokenizer) -> dict[str, Any]:
    return {"allowed_special": "all"} if isinstance(ours, lf.BpeTokenizer) else {}


def _our_token(ours: lf.Tokenizer, tid: int) -> Any:
    return ours.id_to_token(tid)


def _their_token(ours: lf.Tokenizer, theirs: Any, tid: int) -> Any:
    """HF's token for ``tid`` as lexforge spells it: WordPiece's string; for byte-level
    BPE, a vocabulary token's bytes, an added token's text (what decode_bytes gives)."""
    token = theirs.id_to_token(tid)
    if isinstance(ours, lf.WordPieceTokenizer):
        return token
    added = {**ours.special_tokens, **ours.added_tokens}
    if tid in added.values() and ours.vocab().get(_bytelevel.decode(token) or b"") != tid:
        return str(token).encode()
    return _bytelevel.decode(token)


def hf_fields(ours: lf.Tokenizer, theirs: Any, text: str) -> dict[str, tuple[Any, Any]]:
    """Every field of ``text``'s encoding, and its decoding both ways, as (lexforge, HF)."""
    kw = _kw(ours)
    want = theirs.encode(text)
    got = ours.encode_batch(
        [text], return_tensors="np", return_offsets=True, return_word_ids=True,
        return_special_tokens_mask=True, **kw,
    )  # fmt: skip
    ids = got["input_ids"][0].tolist()
    fields = {
        "ids": (ids, want.ids),
        "encode": (ours.encode(text, **kw), want.ids),
        "offsets": ([tuple(o) for o in got["offsets"][0].tolist()], want.offsets),
        "word_ids": (got["word_ids"][0].tolist(), [-1 if w is None else w for w in want.word_ids]),
        "special_tokens_mask": (got["special_tokens_mask"][0].tolist(), want.special_tokens_mask),
        "tokens": (
            [_our_token(ours, i) for i in ids],
            [_their_token(ours, theirs, i) for i in ids],
        ),
    }
    for skip in (True, False):
        fields[f"decode(skip={skip})"] = (
            ours.decode(want.ids, skip_special_tokens=skip),
            theirs.decode(want.ids, skip_special_tokens=skip),
        )
    return fields


def assert_like_hf(ours: lf.Tokenizer, theirs: Any, texts: list[str]) -> None:
    """Every field of every text, one by one, and decode both ways."""
    for text in texts:
        for name, (got, want) in hf_fields(ours, theirs, text).items():
            assert got == want, (name, text)


def assert_saved_alike(ours: lf.Tokenizer, theirs: Any, texts: list[str], tmp_path: Path) -> None:
    """The file lexforge saves loads in HF with the same ids, keeps every added token and
    option, and a load of it saves back the same file."""
    ours.save(tmp_path / "ours.json")
    again = hf.Tokenizer.from_file(str(tmp_path / "ours.json"))
    for text in texts:
        assert again.encode(text).ids == theirs.encode(text).ids, text
        assert again.decode(theirs.encode(text).ids) == theirs.decode(theirs.encode(text).ids)
    saved = json.loads((tmp_path / "ours.json").read_text(encoding="utf-8"))
    original = json.loads(theirs.to_str())
    key = lambda t: t["id"]  # noqa: E731
    assert sorted(saved["added_tokens"], key=key) == sorted(original["added_tokens"], key=key)
    lf.Tokenizer.from_file(tmp_path / "ours.json").save(tmp_path / "twice.json")
    assert (tmp_path / "twice.json").read_text() == (tmp_path / "ours.json").read_text()


# ----------------------------------------------------------------- WordPiece


@pytest.fixture(scope="module")
def bert_hf() -> Any:
    """bert-base-uncased with tokens added by HF itself."""
    tok = hf.Tokenizer.from_file(str(datasets.files("bert-base-uncased")["tokenizer.json"]))
    tok.add_tokens(BERT_ADDED)
    tok.add_special_tokens(BERT_SPECIAL)
    return tok


def test_bert_added_tokens_match_hf(bert_hf: Any, tmp_path: Path) -> None:
    ours = _load(bert_hf, tmp_path / "tokenizer.json")
    assert isinstance(ours, lf.WordPieceTokenizer)
    assert set(ours.added_tokens) == {"covid", "<ent>", "COVID-19", "Zeta", "sw", "xx", "é"}
    assert {"<L>", "<R>", "[ENT]"} <= set(ours.special_tokens)
    texts = BERT_TEXTS + _mixed(BERT_PARTS, 300, 0)
    assert_like_hf(ours, bert_hf, texts)
    assert_saved_alike(ours, bert_hf, texts, tmp_path)


def test_bert_batches_with_added_tokens_match_hf(bert_hf: Any, tmp_path: Path) -> None:
    from test_wordpiece import assert_same

    ours = _load(bert_hf, tmp_path / "tokenizer.json")
    texts = BERT_TEXTS + _mixed(BERT_PARTS, 100, 1)
    pairs = texts[::-1]
    assert_same(ours, bert_hf, texts, None, padding=True)
    assert_same(ours, bert_hf, texts, pairs, padding=True)
    assert_same(ours, bert_hf, texts, pairs, max_length=12, truncation=True, padding="max_length")
    assert_same(ours, bert_hf, texts, None, max_length=6, truncation=True, padding=True,
                stride=2, return_overflowing_tokens=True)  # fmt: skip
    bert_hf.no_truncation()  # the fixture as it was
    bert_hf.no_padding()


def _small_wordpiece(normalizer: Any) -> Any:
    """A WordPiece built here: letters, their continuations, a few words, BERT's specials."""
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéü.,-!"
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *letters, *("##" + c for c in letters),
             "the", "##ing", "token", "covid"]  # fmt: skip
    tok = hf.Tokenizer(hf.models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = hf.pre_tokenizers.BertPreTokenizer()
    tok.post_processor = hf.processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )  # fmt: skip
    tok.decoder = hf.decoders.WordPiece()
    tok.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    return tok


@pytest.mark.parametrize("normalizer", ["cased", "none", "uncased"])
def test_small_wordpiece_added_tokens_match_hf(normalizer: str, tmp_path: Path) -> None:
    """A vocabulary built here, under a cased, an uncased or no normalizer: a normalized
    token ("Token") is found by its form, "covid" (in the vocabulary too) keeps its id."""
    norm = {
        "cased": hf.normalizers.BertNormalizer(lowercase=False, strip_accents=True),
        "uncased": hf.normalizers.BertNormalizer(lowercase=True),
        "none": None,
    }[normalizer]
    theirs = _small_wordpiece(norm)
    theirs.add_tokens(["Token", "covid", "éü", AddedToken("Ab", normalized=False),
                       AddedToken("ing", single_word=True, rstrip=True)])  # fmt: skip
    theirs.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])
    ours = _load(theirs, tmp_path / "tokenizer.json")
    parts = ["Token", "token", "TOKEN", "covid", "éü", "eu", "Ab", "ab", "ing", "the", " ",
             "<mask>", "[MASK]", "x", ".", "É"]  # fmt: skip
    texts = [
        "",
        "the tokening Token",
        "Ab ab AB",
        "éü éu eü",
        "is <mask> ing",
        *_mixed(parts, 200, 2),
    ]
    assert_like_hf(ours, theirs, texts)
    assert_saved_alike(ours, theirs, texts, tmp_path)


def test_all_mpnet_style_lstrip_mask(tmp_path: Path) -> None:
    """A WordPiece file with RoBERTa-style specials, ``<mask>`` taking the space before it
    (all-mpnet-base-v2's shape): it loads and encodes as in HF."""
    theirs = _small_wordpiece(hf.normalizers.BertNormalizer(lowercase=True))
    theirs.add_special_tokens(["<s>", "</s>", AddedToken("<mask>", lstrip=True, special=True)])
    ours = _load(theirs, tmp_path / "tokenizer.json")
    texts = ["the <mask> is", "<mask>", "  <mask>  <mask><mask>", "x\t<mask>.", "<s> a </s>"]
    assert_like_hf(ours, theirs, texts)
    assert_saved_alike(ours, theirs, texts, tmp_path)


# ----------------------------------------------------------------- byte-level BPE


@pytest.fixture(scope="module")
def gpt2_hf(gpt2_files: dict[str, Path]) -> Any:
    """GPT-2's own vocabulary, HF's ByteLevel pipeline, tokens added by HF."""
    bpe = hf.models.BPE.from_file(str(gpt2_files["encoder.json"]), str(gpt2_files["vocab.bpe"]))
    tok = hf.Tokenizer(bpe)
    tok.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = hf.decoders.ByteLevel()
    tok.post_processor = hf.processors.ByteLevel(trim_offsets=True, add_prefix_space=False)
    tok.add_special_tokens(GPT2_SPECIAL)
    tok.add_tokens(GPT2_ADDED)
    return tok


def test_gpt2_added_tokens_match_hf(gpt2_hf: Any, tmp_path: Path) -> None:
    """Whitespace runs (GPT-NeoX and Phi-2 add them), tokens in the vocabulary already
    ("hello", "é", "Ġx"), a token that overlaps the whitespace an rstrip token took."""
    ours = _load(gpt2_hf, tmp_path / "tokenizer.json")
    assert isinstance(ours, lf.BpeTokenizer)
    assert "   " in ours.added_tokens and "<mask>" in ours.special_tokens
    assert ours.added_tokens["hello"] == gpt2_hf.token_to_id("hello")
    texts = GPT2_TEXTS + _mixed(GPT2_PARTS, 300, 3)
    assert_like_hf(ours, gpt2_hf, texts)
    assert_saved_alike(ours, gpt2_hf, texts, tmp_path)
    # added tokens that are not special are found whatever allowed_special says
    assert ours.encode("a   b", allowed_special=(), disallowed_special=()) == (
        gpt2_hf.encode("a   b").ids
    )
    with pytest.raises(SpecialTokenError):
        ours.encode("a <mask>")
    ids = ours.encode("<|endoftext|>   y", disallowed_special=())
    assert ours.added_tokens["   "] in ids and ours.special_tokens["<|endoftext|>"] not in ids


def test_gpt2_batches_with_added_tokens_match_hf(gpt2_hf: Any, tmp_path: Path) -> None:
    from test_wordpiece import assert_same

    ours = _load(gpt2_hf, tmp_path / "tokenizer.json")
    texts = GPT2_TEXTS + _mixed(GPT2_PARTS, 100, 4)
    kw = {"allowed_special": "all", "pad_token_id": 0}  # HF pads with id 0 by default
    assert_same(ours, gpt2_hf, texts, None, padding=True, **kw)
    assert_same(ours, gpt2_hf, texts, texts[::-1], padding=True, **kw)
    assert_same(ours, gpt2_hf, texts, texts[::-1], max_length=10, truncation=True,
                padding="max_length", **kw)  # fmt: skip
    gpt2_hf.no_truncation()  # as assert_same left it: padded
    gpt2_hf.no_padding()
    flat, cu = ours.encode_batch_flat(texts, allowed_special="all")
    assert [flat[cu[i] : cu[i + 1]].tolist() for i in range(len(texts))] == [
        e.ids for e in gpt2_hf.encode_batch(texts)
    ]


@pytest.mark.parametrize("decoder", [True, False])
def test_trained_bpe_with_added_tokens(decoder: bool, tmp_path: Path) -> None:
    """A byte-level BPE trained here, with and without a decoder (HF then joins the
    tokens' spellings, an added token's text among them), a non-special lstrip token."""
    texts = [f"line {i} with words and numbers {i * 7} über café" for i in range(300)]
    trainer = hf.trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<s>", "</s>"], show_progress=False,
        initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(),
    )  # fmt: skip
    theirs = hf.Tokenizer(hf.models.BPE())
    theirs.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
    if decoder:
        theirs.decoder = hf.decoders.ByteLevel()
    theirs.train_from_iterator(texts, trainer=trainer)
    theirs.add_tokens(["words and", AddedToken(" café", lstrip=True), "ÜBER", "\t"])
    theirs.add_special_tokens([AddedToken("<sep>", rstrip=True, special=True)])
    ours = _load(theirs, tmp_path / "tokenizer.json")
    parts = ["words and", " café", "café", "ÜBER", "über", "\t", "<sep>", "<s>", " ", "line"]
    sample = ["", *texts[:20], *_mixed(parts, 200, 5)]
    assert_like_hf(ours, theirs, sample)
    assert_saved_alike(ours, theirs, sample, tmp_path)
    # a copy with a template keeps the added tokens and their options
    framed = ours.with_template("<s>", "</s>", lstrip=["<sep>"])
    assert framed.added_tokens == ours.added_tokens
    assert framed.encode(" x  café", add_special_tokens=False) == ours.encode(" x  café")


# ----------------------------------------------------------------- refused files


def _bert_doc() -> dict[str, Any]:
    path = datasets.files("bert-base-uncased")["tokenizer.json"]
    doc: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return doc


def _added(tid: int, content: str, **flags: Any) -> dict[str, Any]:
    entry = {"id": tid, "content": content, "single_word": False, "lstrip": False,
             "rstrip": False, "normalized": True, "special": False}  # fmt: skip
    return {**entry, **flags}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (_added(30522, "covid", rstrip="false"), r"added_tokens\[5\]\.rstrip: must be true or"),
        (_added(30522, "covid", single_word=1), r"added_tokens\[5\]\.single_word: must be true"),
        (_added(30522, "covid", special=None), r"added_tokens\[5\]\.special: must be true"),
        (_added(30522, ""), r"added_tokens\[5\]\.content: .*(empty|non-empty)"),
        (_added(30522, 7), r"added_tokens\[5\]\.content: 7 is not"),
        (_added(30600, "covid"), r"'covid' has id 30600, .* gives it 30522; give it id 30522"),
        (_added(30522, "\x00"), r"normalizes to nothing.*\"normalized\": false"),
    ],
)  # fmt: skip
def test_bad_added_tokens_are_refused(entry: dict[str, Any], message: str, tmp_path: Path) -> None:
    doc = _bert_doc()
    doc["added_tokens"].append(entry)
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match=message):
        lf.Tokenizer.from_file(path)


def test_an_added_token_listed_twice_is_refused(tmp_path: Path) -> None:
    doc = _bert_doc()
    doc["added_tokens"] += [_added(30522, "covid"), _added(30522, "covid", rstrip=True)]
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match=r"added_tokens\[6\]: 'covid' is listed twice"):
        lf.Tokenizer.from_file(path)


def test_core_refuses_clashing_added_tokens() -> None:
    """The core's own checks (a caller other than the file readers): clashing ids, a
    flag on an id that is no added token's, an unknown flag name."""
    vocab = [(bytes([b]), b) for b in range(256)]
    with pytest.raises(TokenizerFormatError, match="both have id 300"):
        lf._core.Bpe.from_merges(vocab, [], [("<s>", 300)], "gpt2", added_tokens=[("x y", 300)])
    with pytest.raises(ConfigError, match="not an added token's"):
        lf._core.Bpe.from_merges(vocab, [], [("<s>", 300)], "gpt2", rstrip=[5])
    core = lf._core.Bpe.from_merges(vocab, [], [], "gpt2", added_tokens=[("x y", 256)])
    with pytest.raises(ValueError, match="unknown flag"):
        core.flagged("strip")
    assert core.added_tokens() == [("x y", 256)] and core.vocab_size == 257
