"""Parity with the established libraries on real multi-MB corpora: GPT-2's own files, the
cl100k and o200k rank files, and tokenizers we train and save, against tiktoken and HF
``tokenizers`` (skipped when they are not installed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lexforge as lf
from lexforge import datasets
from lexforge.errors import SpecialTokenError
from test_wordpiece import assert_same, hf_rows

tiktoken = pytest.importorskip("tiktoken")
hf = pytest.importorskip("tokenizers")

CL100K = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""  # noqa: E501
GPT2 = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
TRICKY = [
    "",
    " ",
    "  \n\n  \t x",
    "I'VE we'll THEY'RE don't ſ's",
    "HELLOworld CamelCase mIxEd ǅungla",
    "1234567 ١٢٣٤ ²³ Ⅻ",
    "e\u0301 a\u0300\u0300 !\u0301 \u20dd",
    "中文字符测试，标点。",
    "emoji 😀👍🏽 family 👨\u200d👩\u200d👧",
    "tabs\tand\r\nwindows\r\nlines",
    "trailing spaces   ",
    "<|endoftext|> inside",
    "a" * 5000,
    "  " * 3000 + "end",
]


@pytest.fixture(scope="module")
def corpus(wiki_text: str) -> list[str]:
    """About 5.5 MB: English leads by line and in whole 64 KB blocks, French leads, news,
    Chinese newspaper text, and hand-made edge cases."""
    blocks = [wiki_text[i : i + 65536] for i in range(0, len(wiki_text), 65536)]
    french = list(datasets.load_corpus("wiki-leads", lang="fr"))[:1500]
    chinese = list(datasets.load_corpus("peoples-daily"))[:2000]
    return wiki_text.split("\n") + blocks + french + chinese + TRICKY


def tiktoken_encoding(name: str, files: dict[str, Path]) -> object:
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks, load_tiktoken_bpe

    if name == "gpt2":
        ranks = data_gym_to_mergeable_bpe_ranks(str(files["vocab.bpe"]), str(files["encoder.json"]))
        return tiktoken.Encoding(
            "gpt2", pat_str=GPT2, mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 50256}
        )
    patterns = {
        "cl100k_base": CL100K,
        "o200k_base": lf.Tokenizer.from_tiktoken(files["ranks"]).pattern,
    }
    tok = lf.Tokenizer.from_tiktoken(files["ranks"])
    return tiktoken.Encoding(
        name,
        pat_str=patterns[name],
        mergeable_ranks=load_tiktoken_bpe(str(files["ranks"])),
        special_tokens=tok.special_tokens,
    )


def test_gpt2_matches_tiktoken_and_hf(gpt2_files: dict[str, Path], corpus: list[str]) -> None:
    ours = lf.Tokenizer.from_file(gpt2_files["encoder.json"])
    theirs = tiktoken_encoding("gpt2", gpt2_files)
    expected = theirs.encode_ordinary_batch(corpus)  # type: ignore[attr-defined]
    assert ours.encode_batch(corpus, disallowed_special=()) == expected
    bpe = hf.models.BPE.from_file(str(gpt2_files["encoder.json"]), str(gpt2_files["vocab.bpe"]))
    hf_tok = hf.Tokenizer(bpe)
    hf_tok.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf_ids = [e.ids for e in hf_tok.encode_batch(corpus)]
    assert hf_ids == expected
    assert ours.encode("<|endoftext|>", allowed_special="all") == [50256]


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_rank_files_match_tiktoken(
    name: str, corpus: list[str], rank_files: dict[str, Path]
) -> None:
    ours = lf.Tokenizer.from_file(rank_files[name])
    theirs = tiktoken_encoding(name, {"ranks": rank_files[name]})
    assert ours.encode_batch(corpus, disallowed_special=()) == theirs.encode_ordinary_batch(corpus)  # type: ignore[attr-defined]
    text = "a <|endoftext|> b <|endofprompt|>"
    assert ours.encode(text, allowed_special="all") == theirs.encode(text, allowed_special="all")  # type: ignore[attr-defined]


def test_special_token_policy_matches_tiktoken(rank_files: dict[str, Path]) -> None:
    """Every combination of allowed/disallowed sets, tiktoken's precedence included: "all"
    disallowed means all but the allowed; a set named explicitly is checked as given."""
    ours = lf.Tokenizer.from_file(rank_files["cl100k_base"])
    theirs: Any = tiktoken_encoding("cl100k_base", {"ranks": rank_files["cl100k_base"]})
    eot, fim = "<|endoftext|>", "<|fim_prefix|>"
    sets: list[Any] = ["all", set(), {eot}, {fim}, {eot, fim}]
    for text in (f"a {eot} b", f"{fim}x", "plain", f"{eot}{fim}"):
        for allowed in sets:
            for disallowed in sets:
                try:
                    want: Any = theirs.encode(
                        text, allowed_special=allowed, disallowed_special=disallowed
                    )
                except ValueError:
                    want = ValueError
                try:
                    got: Any = ours.encode(
                        text, allowed_special=allowed, disallowed_special=disallowed
                    )
                except SpecialTokenError:
                    got = ValueError
                assert got == want, (text, allowed, disallowed)


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_rank_files_saved_as_tokenizer_json_match_in_hf(
    name: str, corpus: list[str], rank_files: dict[str, Path], tmp_path: Path
) -> None:
    ours = lf.Tokenizer.from_file(rank_files[name])
    ours.save(tmp_path / "tokenizer.json")
    hf_tok = hf.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    sample = corpus[::7]
    assert [e.ids for e in hf_tok.encode_batch(sample)] == ours.encode_batch(
        sample, disallowed_special=()
    )
    assert lf.Tokenizer.from_file(tmp_path / "tokenizer.json").encode_batch(
        sample, disallowed_special=()
    ) == (ours.encode_batch(sample, disallowed_special=()))


@pytest.mark.parametrize("pattern", ["gpt2", "cl100k", "o200k"])
def test_trained_tokenizer_loads_in_hf_with_identical_ids(
    pattern: str, corpus: list[str], tmp_path: Path
) -> None:
    ours = lf.Tokenizer.train_bpe(
        texts=corpus[:20000],
        vocab_size=4096,
        special_tokens=["<|endoftext|>", "<pad>"],
        pattern=pattern,
        show_progress=False,
    )
    ours.save(tmp_path / "tokenizer.json")
    hf_tok = hf.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    texts = [*corpus[20000:], "x<|endoftext|>y<pad>"]
    assert [e.ids for e in hf_tok.encode_batch(texts)] == ours.encode_batch(
        texts, allowed_special="all"
    )
    assert (
        hf_tok.decode(ours.encode("round trip ünï"), skip_special_tokens=False) == "round trip ünï"
    )
    if pattern == "gpt2":
        with pytest.warns(UserWarning, match="<pad>"):  # the files cannot mark it special
            ours.save(tmp_path, format="gpt2")
        bpe = hf.models.BPE.from_file(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
        gpt2_style = hf.Tokenizer(bpe)
        gpt2_style.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
        assert [e.ids for e in gpt2_style.encode_batch(texts[:-1])] == ours.encode_batch(
            texts[:-1], disallowed_special=()
        )


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.characters(exclude_categories=["Cn", "Cs"]), max_size=100))
def test_random_text_matches_tiktoken(
    text: str, rank_files: dict[str, Path], gpt2_files: dict[str, Path]
) -> None:
    for name, ours, theirs in _pairs(rank_files, gpt2_files):
        assert ours.encode_ordinary(text) == theirs.encode_ordinary(text), name  # type: ignore[attr-defined]


_PAIRS: list[tuple[str, lf.Tokenizer, object]] = []


def _pairs(
    rank_files: dict[str, Path], gpt2_files: dict[str, Path]
) -> list[tuple[str, lf.Tokenizer, object]]:
    if not _PAIRS:
        _PAIRS.append(
            (
                "gpt2",
                lf.Tokenizer.from_file(gpt2_files["encoder.json"]),
                tiktoken_encoding("gpt2", gpt2_files),
            )
        )
        for name, path in rank_files.items():
            _PAIRS.append(
                (name, lf.Tokenizer.from_file(path), tiktoken_encoding(name, {"ranks": path}))
            )
    return _PAIRS


@pytest.mark.parametrize("prefix", [False, True], ids=["plain", "prefix-kept"])
@pytest.mark.parametrize("trim", [False, True], ids=["spans", "trimmed"])
def test_byte_level_offsets_match_hf(
    trim: bool, prefix: bool, corpus: list[str], tmp_path: Path
) -> None:
    """HF's ByteLevel post-processor decides whether a span holds its token's spaces
    (``trim_offsets``; ``add_prefix_space`` there keeps one before the first token)."""
    trainer = hf.trainers.BpeTrainer(
        vocab_size=1500,
        special_tokens=["<|endoftext|>", "<sp> "],
        initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    trained = hf.Tokenizer(hf.models.BPE())
    trained.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
    trained.decoder = hf.decoders.ByteLevel()
    trained.post_processor = hf.processors.ByteLevel(trim_offsets=trim, add_prefix_space=prefix)
    trained.train_from_iterator(corpus[:3000] + ["a   b  \n  c   "] * 50, trainer=trainer)
    trained.save(str(tmp_path / "tokenizer.json"))
    ours = lf.Tokenizer.from_file(tmp_path / "tokenizer.json")
    texts = [*TRICKY, *corpus[3000:3400], "  lead and trail  ", "x<sp> y <|endoftext|>  z"]
    for text in texts:
        want = trained.encode(text)
        ids, offsets = ours.encode_with_offsets(text, allowed_special="all")
        assert ids.tolist() == want.ids, text
        assert [tuple(o) for o in offsets.tolist()] == want.offsets, text
    # saved again, the file still says so (HF reading ours gives the same spans)
    ours.save(tmp_path / "again.json")
    again = hf.Tokenizer.from_file(str(tmp_path / "again.json"))
    assert [e.offsets for e in again.encode_batch(texts[:50])] == [
        e.offsets for e in trained.encode_batch(texts[:50])
    ]
    if trim:  # a rank file has no place for it: said, not lost silently
        with pytest.warns(UserWarning, match="trim_offsets"):
            ours.save(tmp_path / "ranks.tiktoken", format="tiktoken")


# ---------------------------------------------------------------- templates and lstrip
BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MASKED = [
    "The capital of France is [MASK].",
    "is   [MASK] x",
    "[MASK]",
    " \n[MASK]",
    "a[MASK]b",
    "é\u3000[MASK][MASK] [MASK] 東京 [SEP]x",
    "[CLS] already [SEP] framed [PAD]",
]


@pytest.fixture(scope="module")
def unframed(corpus: list[str]) -> lf.BpeTokenizer:
    """A BPE trained here with BERT's special tokens, no template."""
    return lf.Tokenizer.train_bpe(  # type: ignore[return-value]
        texts=corpus[:4000], vocab_size=2000, special_tokens=BERT_SPECIALS
    )


@pytest.fixture(scope="module")
def framed(unframed: lf.BpeTokenizer) -> lf.BpeTokenizer:
    """``unframed`` framed as BERT frames text, its [MASK] taking the space before."""
    return unframed.with_template("[CLS]", "[SEP]", lstrip=["[MASK]"])


def test_template_and_lstrip_match_hf(
    framed: lf.BpeTokenizer, corpus: list[str], tmp_path: Path
) -> None:
    """The file HF reads frames each text as ours does ([CLS] text [SEP], offsets (0, 0)),
    and [MASK] takes the whitespace before it in both, spans trimmed alike."""
    framed.save(tmp_path / "tokenizer.json")
    theirs = hf.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    texts = [*TRICKY, *MASKED, *corpus[4000:4300]]
    for text in texts:
        want = theirs.encode(text)
        ids, offsets = framed.encode_with_offsets(text, allowed_special="all")
        assert ids.tolist() == want.ids, text
        assert [tuple(o) for o in offsets.tolist()] == want.offsets, text
        bare = theirs.encode(text, add_special_tokens=False).ids
        assert framed.encode(text, allowed_special="all", add_special_tokens=False) == bare
    # every encode method frames alike; a pair is framed as BERT's (type ids 0 then 1)
    plain = [t for t in texts if "[" not in t and "<|" not in t]
    want_ids = [e.ids for e in theirs.encode_batch(plain)]
    assert framed.encode_batch(plain) == want_ids
    flat, cu = framed.encode_batch_flat(plain)
    assert [flat[cu[i] : cu[i + 1]].tolist() for i in range(len(plain))] == want_ids
    assert [framed.encode_to_numpy(t).tolist() for t in plain[:20]] == want_ids[:20]
    assert [framed.encode_bytes(t.encode()) for t in plain[:20]] == want_ids[:20]
    pair = theirs.encode("first part", "second")
    cls_id, sep_id = framed.token_to_id("[CLS]"), framed.token_to_id("[SEP]")
    first, second = (framed.encode(t, add_special_tokens=False) for t in ("first part", "second"))
    assert pair.ids == [cls_id, *first, sep_id, *second, sep_id]
    assert pair.type_ids == [0] * (len(first) + 2) + [1] * (len(second) + 1)
    # read back: the same template, lstrip and file
    again = lf.Tokenizer.from_file(tmp_path / "tokenizer.json")
    assert isinstance(again, lf.BpeTokenizer)
    assert again.template == (["[CLS]"], ["[SEP]"]) and again.lstrip == ["[MASK]"]
    again.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text() == (tmp_path / "tokenizer.json").read_text()
    # a format with no place for them says so
    with pytest.warns(UserWarning, match="template.*lstrip"):
        again.save(tmp_path / "ranks.tiktoken", format="tiktoken")


@pytest.mark.parametrize("framing", ["template", "none"])
def test_model_input_batches_match_hf(
    framing: str, framed: lf.BpeTokenizer, unframed: lf.BpeTokenizer, corpus: list[str],
    tmp_path: Path,
) -> None:  # fmt: skip
    """BPE batches as model inputs, every field as HF's: pairs (framed [CLS] A [SEP] B
    [SEP], or back to back without a template), each truncation strategy on both sides,
    stride windows, padding; offsets trimmed with a template, whole spans without."""
    tok = framed if framing == "template" else unframed
    tok.save(tmp_path / "tokenizer.json")
    theirs = hf.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    texts = [*TRICKY, *MASKED, *corpus[4300:4500]]
    questions = [t[:40] for t in texts]
    contexts = texts[::-1]
    kw: dict[str, Any] = {"allowed_special": "all"}
    assert_same(tok, theirs, texts, None, padding=True, **kw)
    assert_same(tok, theirs, questions, contexts, padding=True, **kw)
    for strategy in ("longest_first", "only_first", "only_second"):
        # the sequence that is not cut leaves room for the other: at most 15 tokens
        short = [i for i, q in enumerate(questions) if len(tok.encode(q, **kw)) <= 15]
        q, c = [questions[i] for i in short], [contexts[i] for i in short]
        a, b = (q, c) if strategy != "only_first" else (c, q)
        for side in ("right", "left"):
            assert_same(
                tok, theirs, a, b, max_length=40, truncation=strategy, padding="max_length",
                truncation_side=side, padding_side=side, **kw,
            )  # fmt: skip
    docs = [" ".join(corpus[i : i + 6]) for i in range(4500, 4800, 6)]
    for stride in (0, 7):
        windows = {"max_length": 48, "stride": stride, "return_overflowing_tokens": True}
        assert_same(tok, theirs, docs, None, truncation=True, padding=True, **windows, **kw)
        assert_same(tok, theirs, q[: len(docs)], docs[: len(q)], truncation="only_second",
                    padding=True, **windows, **kw)  # fmt: skip
    # id lists, one text with a pair, and padding on the lists: the same rows
    rows = tok.encode_batch(questions, contexts, max_length=40, truncation=True, **kw)
    assert rows == [e.ids for e in hf_rows(theirs, questions, contexts, max_length=40,
                                           truncation=True)]  # fmt: skip
    assert tok.encode(questions[-1], contexts[-1], allowed_special="all") == (
        theirs.encode(questions[-1], contexts[-1]).ids
    )


def test_file_truncation_and_padding_apply_as_in_hf(
    framed: lf.BpeTokenizer, corpus: list[str], tmp_path: Path
) -> None:
    """A tokenizer.json that sets truncation and padding: encode and encode_batch apply
    them as HF does, False turns them off, and a save keeps them."""
    framed.save(tmp_path / "tokenizer.json")
    theirs = hf.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    theirs.enable_truncation(32, stride=4)
    theirs.enable_padding(pad_id=0, pad_token="[PAD]", length=40)
    theirs.save(str(tmp_path / "defaults.json"))
    ours = lf.Tokenizer.from_file(tmp_path / "defaults.json")
    texts = [*TRICKY, *MASKED, *corpus[4800:5000]]
    want = [e.ids for e in theirs.encode_batch(texts)]
    assert all(len(ids) == 40 for ids in want)
    assert ours.encode_batch(texts, allowed_special="all") == want
    assert [ours.encode(t, allowed_special="all") for t in texts] == want
    batch = ours.encode_batch(texts, allowed_special="all", return_tensors="np")
    assert batch["input_ids"].tolist() == want
    assert batch["attention_mask"].tolist() == [
        e.attention_mask for e in theirs.encode_batch(texts)
    ]
    # turned off: the plain framed ids
    plain = ours.encode_batch(texts, allowed_special="all", truncation=False, padding=False)
    assert plain == framed.encode_batch(texts, allowed_special="all")
    assert ours.encode(texts[-1], truncation=False, padding=False) == framed.encode(texts[-1])
    # kept by a save, and by with_template
    ours.save(tmp_path / "again.json")
    again = json.loads((tmp_path / "again.json").read_text())
    saved = json.loads((tmp_path / "defaults.json").read_text())
    assert again["truncation"] == saved["truncation"] and again["padding"] == saved["padding"]
    copy = ours.with_template("[CLS]", "[SEP]", lstrip=["[MASK]"])
    assert copy.encode_batch(texts, allowed_special="all") == want
    with pytest.warns(UserWarning, match="truncation and padding"):
        ours.save(tmp_path / "ranks.tiktoken", format="tiktoken")


@pytest.mark.parametrize("kind", ["roberta", "sequence"])
def test_hf_framed_files_load(kind: str, corpus: list[str], tmp_path: Path) -> None:
    """Files HF builds: RoBERTa's processor (<s> A </s>, pairs <s> A </s></s> B </s>) and
    a Sequence of ByteLevel and TemplateProcessing; <mask> with lstrip in both."""
    trainer = hf.trainers.BpeTrainer(
        vocab_size=1500,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    trained = hf.Tokenizer(hf.models.BPE())
    trained.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
    trained.decoder = hf.decoders.ByteLevel()
    trained.train_from_iterator(corpus[:3000], trainer=trainer)
    trained.add_special_tokens([hf.AddedToken("<mask>", lstrip=True, normalized=False)])
    if kind == "roberta":
        trained.post_processor = hf.processors.RobertaProcessing(
            ("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=False
        )
    else:
        trained.post_processor = hf.processors.Sequence([
            hf.processors.ByteLevel(trim_offsets=True),
            hf.processors.TemplateProcessing(
                single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1",
                special_tokens=[("<s>", 0), ("</s>", 2)],
            ),
        ])  # fmt: skip
    trained.save(str(tmp_path / "tokenizer.json"))
    ours = lf.Tokenizer.from_file(tmp_path / "tokenizer.json")
    assert isinstance(ours, lf.BpeTokenizer)
    assert ours.template == (["<s>"], ["</s>"]) and ours.lstrip == ["<mask>"]
    for text in [*TRICKY, *(t.replace("[MASK]", "<mask>") for t in MASKED), *corpus[3000:3200]]:
        want = trained.encode(text)
        ids, offsets = ours.encode_with_offsets(text, allowed_special="all")
        assert ids.tolist() == want.ids, text
        assert [tuple(o) for o in offsets.tolist()] == want.offsets, text


def test_robertas_processor_is_written_back_as_itself(corpus: list[str], tmp_path: Path) -> None:
    """A file with RoBERTa's processor, read and saved again, keeps it: HF reading the
    saved file encodes as HF reading the original does, type ids of a pair's overflow
    windows included (a TemplateProcessing of the same pieces numbers those otherwise)."""
    trainer = hf.trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<s>", "<pad>", "</s>"],
        initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )  # fmt: skip
    trained = hf.Tokenizer(hf.models.BPE())
    trained.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
    trained.train_from_iterator(corpus[:1000], trainer=trainer)
    trained.post_processor = hf.processors.RobertaProcessing(
        ("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=True
    )
    trained.save(str(tmp_path / "original.json"))
    lf.Tokenizer.from_file(tmp_path / "original.json").save(tmp_path / "saved.json")
    saved = json.loads((tmp_path / "saved.json").read_text(encoding="utf-8"))
    assert saved["post_processor"] == json.loads(trained.to_str())["post_processor"]
    original, again = (
        hf.Tokenizer.from_file(str(tmp_path / f)) for f in ("original.json", "saved.json")
    )
    for tok in (original, again):
        tok.enable_truncation(12, stride=2)
    for i, text in enumerate(corpus[1000:1020]):
        for special in (True, False):
            want, got = (
                t.encode(text, corpus[1100 + i], add_special_tokens=special)
                for t in (original, again)
            )
            rows = [(e.ids, e.type_ids, e.offsets) for e in (want, *want.overflowing)]
            assert [(e.ids, e.type_ids, e.offsets) for e in (got, *got.overflowing)] == rows


def test_trimmed_offsets_of_truncation_windows(corpus: list[str], tmp_path: Path) -> None:
    """HF trims offsets per row: under RoBERTa's trim_offsets and add_prefix_space, the
    first token of every truncation window (left or right, overflow windows, the second
    text of a pair) keeps its one leading space, as a text's first token does. The oracle
    is HF's encode with the same truncation."""
    trainer = hf.trainers.BpeTrainer(
        vocab_size=800, special_tokens=["<s>", "<pad>", "</s>"],
        initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )  # fmt: skip
    trained = hf.Tokenizer(hf.models.BPE())
    trained.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
    trained.train_from_iterator(corpus[:1000], trainer=trainer)
    trained.post_processor = hf.processors.RobertaProcessing(
        ("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=True
    )
    trained.save(str(tmp_path / "tokenizer.json"))
    ours = lf.Tokenizer.from_file(tmp_path / "tokenizer.json")
    texts = [*TRICKY, "a b c d e f g h", *corpus[1000:1040]]
    cases = [("right", 0, False), ("left", 0, False), ("right", 2, False), ("left", 3, False),
             ("right", 0, True), ("right", 2, True)]  # fmt: skip
    for side, stride, pairs in cases:
        trained.enable_truncation(14, stride=stride, direction=side)
        for i, text in enumerate(texts):
            pair = texts[-1 - i] if pairs else None
            want = trained.encode(text, pair)
            rows = [want.offsets] + [o.offsets for o in want.overflowing]
            got = ours.encode_batch(
                [text], None if pair is None else [pair], max_length=14, truncation=True,
                stride=stride, truncation_side=side, return_overflowing_tokens=True,
                return_offsets=True, return_tensors="np", padding=True,
            )  # fmt: skip
            offsets = [[tuple(o) for o in row] for row in got["offsets"].tolist()]
            real = got["attention_mask"].sum(1).tolist()
            assert [row[:n] for row, n in zip(offsets, real, strict=True)] == rows, (text, side)


@pytest.mark.parametrize("which", ["tiny", "wiki"])
def test_bpe_training_equals_hfs_trainer(which: str, corpus: list[str]) -> None:
    """The merges HF's BpeTrainer learns (with GPT-2's byte alphabet), count ties included:
    HF numbers its alphabet by the byte-level characters' code points ("Ġ", the space, is
    U+0120, after every printable byte), and breaks ties by the smallest pair of those ids.
    In the first 3,000 wiki-leads lines two pairs tie at merge 44."""
    from lexforge import _bytelevel

    texts, vocab_size = (["ab", " cd"], 258) if which == "tiny" else (corpus[:3000], 2000)
    trainer = hf.trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )  # fmt: skip
    theirs = hf.Tokenizer(hf.models.BPE())
    theirs.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
    theirs.train_from_iterator(texts, trainer=trainer)
    want = [tuple(m.split(" ") if isinstance(m, str) else m)
            for m in json.loads(theirs.to_str())["model"]["merges"]]  # fmt: skip
    ours = lf.Tokenizer.train_bpe(texts=texts, vocab_size=vocab_size, show_progress=False)
    got = [(_bytelevel.encode(a), _bytelevel.encode(b)) for a, b in ours.merges()]
    assert got == want


def test_max_token_length_allows_tokens_of_that_length_where_hf_stops_one_short() -> None:
    """A documented difference: ``max_token_length=n`` makes tokens of up to n bytes (its
    docstring); HF's BpeTrainer makes them shorter than n once a merge joins longer parts.
    Without the option the merges are HF's (above)."""
    from lexforge import _bytelevel

    texts = ["abcde"] * 10
    for n in (3, 4, 5):
        trainer = hf.trainers.BpeTrainer(
            vocab_size=262, initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False, max_token_length=n,
        )  # fmt: skip
        theirs = hf.Tokenizer(hf.models.BPE())
        theirs.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
        theirs.train_from_iterator(texts, trainer=trainer)
        want = ["".join(m.split(" ") if isinstance(m, str) else m)
                for m in json.loads(theirs.to_str())["model"]["merges"]]  # fmt: skip
        ours = lf.Tokenizer.train_bpe(
            texts=texts, vocab_size=262, max_token_length=n, show_progress=False
        )
        got = [_bytelevel.encode(a + b) for a, b in ours.merges()]
        assert max(map(len, got)) == n and max(map(len, want)) == n - 1
        assert got[:2] == want[:2] == ["ab", "cd"]  # pairs of single bytes: alike
