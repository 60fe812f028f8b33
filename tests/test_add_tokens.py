"""``add_tokens`` and ``add_special_tokens``, in place, as HF's ``Tokenizer`` does them:
random sequences of calls (new words, vocabulary tokens, tokens added before, special
tokens added again as words, empty ones; random options) on WordPiece and byte-level BPE
tokenizers (a tiktoken rank file's, whose special tokens sit past the ranks with a gap,
among them), each applied to lexforge and to HF ``tokenizers``, must give the same counts,
vocabulary size, ids, special-token masks and decoded text, and a saved file HF reads
alike. HF's oracle is the tokenizer its own ``to_str`` gives back: when a call defines a
token added before anew (another kind or options), HF's tokenizer in memory keeps part of
the old definition (it may still skip a token no longer special, or match its old
normalized form) while what it saves holds the new one, as lexforge's does. Where no token
is defined anew, its tokenizer in memory must agree too; and where ids have a gap, HF's
file gives the tokens added past it other ids when read back, so there its tokenizer in
memory is the oracle (lexforge's file keeps the ids: it lists such tokens in
``model.vocab``)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

import lexforge as lf
from lexforge.errors import ConfigError, EncodingError

hf = pytest.importorskip("tokenizers")

from test_copies import _corpus, _hf_bpe, _hf_wordpiece  # noqa: E402

POOL = [
    "hello", "[E1]", "[/E1]", "<ent>", "naïve", "Straße", "the", " world", "é", "xyzzy", "",
    "[MASK]", "[CLS]", "qu ux", "東京", "##ing", "a", "ĠThe", "<|x|>",
]  # fmt: skip
# (no two tokens that normalize alike, such as "hello" and "Hello": which one HF matches
# depends on how its table was built; see test_vocab_folders)
FILLER = ["the ", "word", " ", "x", "Hello", ",", "é", "ing", "  "]


@pytest.fixture(scope="module")
def bases(wiki_text: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Tokenizer files as JSON text: BERT's, a trained BPE framed as BERT, and HF-built
    BPE and WordPiece files with normalizers, added tokens, truncation and padding."""
    from lexforge import datasets

    corpus = _corpus(wiki_text)
    tmp = tmp_path_factory.mktemp("add")
    trained = lf.Tokenizer.train_bpe(
        texts=corpus, vocab_size=700, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    )
    plain = lf.Tokenizer.train_bpe(texts=corpus, vocab_size=600)
    with pytest.warns(UserWarning):  # (a rank file records no pattern)
        plain.save(tmp / "ranks.tiktoken", format="tiktoken")
    # special tokens past the ranks, with a gap, as tiktoken's encodings have them
    ranks = lf.Tokenizer.from_tiktoken(
        tmp / "ranks.tiktoken", pattern="gpt2", special_tokens={"<|endoftext|>": 601, "<|x|>": 604}
    )
    return {
        "bert": datasets.files("bert-base-uncased")["tokenizer.json"].read_text(encoding="utf-8"),
        "ranks": ranks.to_str(),
        "trained-bpe": trained.with_template("[CLS]", "[SEP]").to_str(),
        "hf-bpe": _hf_bpe(corpus, tmp / "bpe.json").read_text(encoding="utf-8"),
        "hf-wordpiece": _hf_wordpiece(corpus, tmp / "wp.json").read_text(encoding="utf-8"),
    }


def _check_seed(seed: int, bases: dict[str, str], tmp_path: Path) -> None:
    rng = random.Random(seed)
    name = rng.choice(sorted(bases))
    ours, theirs = lf.Tokenizer.from_str(bases[name]), hf.Tokenizer.from_str(bases[name])
    theirs.no_truncation()
    theirs.no_padding()
    defined = {t.content: t for t in theirs.get_added_tokens_decoder().values()}
    anew = False  # a token added before defined again otherwise
    used: list[str] = []
    for _ in range(rng.randrange(1, 4)):
        tokens = rng.sample(POOL, rng.randrange(1, 4))
        special = rng.random() < 0.5
        flags = {k: rng.random() < 0.3 for k in ("lstrip", "rstrip", "single_word")}
        flags["normalized"] = rng.random() < 0.5 if rng.random() < 0.5 else not special
        add = ours.add_special_tokens if special else ours.add_tokens
        try:
            count = add(tokens, **flags)
        except ConfigError as e:
            # a special token spelled as a vocabulary token that merges make, whose text is
            # other bytes (a byte-level spelling such as "ĠThe"): one id, two texts; or a
            # token of the template (BERT's [CLS]) made an ordinary word
            assert ("cannot hold both" in str(e) and "ĠThe" in tokens) or (
                "the template" in str(e) and not special
            ), (seed, e)
            return
        entries = [hf.AddedToken(t, special=special, **flags) for t in tokens]
        for entry in entries:
            old = defined.get(entry.content)
            anew |= old is not None and repr(old) != repr(entry)
            defined[entry.content] = entry
        want = (theirs.add_special_tokens if special else theirs.add_tokens)(entries)
        assert count == want, (seed, name, tokens)
        used += [t for t in tokens if t]
    # one past the largest id (HF's get_vocab_size counts tokens: fewer, with id gaps)
    assert ours.vocab_size == len(ours) == max(theirs.get_vocab().values()) + 1, (seed, name)
    reloaded = hf.Tokenizer.from_str(theirs.to_str())
    reloaded.no_truncation()
    reloaded.no_padding()
    ours.save(tmp_path / "ours.json")
    saved = hf.Tokenizer.from_file(str(tmp_path / "ours.json"))
    saved.no_truncation()
    saved.no_padding()
    # a file must list in model.vocab the tokens added past an id gap, for HF to read their
    # ids back; with ignore_merges, HF's model then makes such a token from a whole
    # pre-token too (where single_word kept it from being found), as no tokenizer in
    # memory does: there the saved file is not compared
    doc = json.loads(ours.to_str())
    listed = set(doc["model"]["vocab"]) & {*ours.added_tokens, *ours.special_tokens}
    made = {t for t in listed if doc["model"]["vocab"][t] not in ours.vocab().values()}
    compare_saved = not (made and doc["model"].get("ignore_merges"))
    kw: dict[str, Any] = {"allowed_special": "all"} if isinstance(ours, lf.BpeTokenizer) else {}
    parts = used + FILLER
    texts = ["".join(rng.choice(parts) for _ in range(rng.randrange(1, 8))) for _ in range(20)]
    for text in texts:
        # HF's file of a vocabulary with id gaps (special tokens past tiktoken's ranks)
        # renumbers the tokens added past the gap when HF reads it back: there HF's
        # tokenizer in memory (and the file lexforge saves) is the oracle
        renumbered = theirs.encode(text).ids != reloaded.encode(text).ids
        oracles = ([] if anew else [theirs]) + ([] if renumbered and not anew else [reloaded])
        if renumbered and anew:
            oracles = []  # both of HF's quirks at once: only the saved file is checked
        batch = ours.encode_batch(
            [text], truncation=False, padding=False, return_tensors="np",
            return_special_tokens_mask=True, **kw,
        )  # fmt: skip
        ids = batch["input_ids"][0].tolist()
        if compare_saved:
            assert saved.encode(text).ids == ids, (seed, name, text)
        for oracle in oracles:
            want = oracle.encode(text)
            assert ids == want.ids, (seed, name, text, anew)
            assert batch["special_tokens_mask"][0].tolist() == want.special_tokens_mask
            for skip in (True, False):
                assert ours.decode(ids, skip_special_tokens=skip) == oracle.decode(
                    ids, skip_special_tokens=skip
                ), (seed, name, text, skip, anew)


def test_random_additions_match_hf(bases: dict[str, str], tmp_path: Path) -> None:
    for seed in range(100):
        _check_seed(seed, bases, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("block", range(10))
def test_random_additions_match_hf_long(block: int, bases: dict[str, str], tmp_path: Path) -> None:
    for seed in range(1000 + 100 * block, 1100 + 100 * block):
        _check_seed(seed, bases, tmp_path)


def test_counts_ids_and_decoding_of_entity_markers(bases: dict[str, str]) -> None:
    """The usual use: entity markers added as special tokens to BERT's vocabulary."""
    tok, theirs = lf.Tokenizer.from_str(bases["bert"]), hf.Tokenizer.from_str(bases["bert"])
    size = tok.vocab_size
    for words, special in [(["hello", "", "hello"], False), (["[E1]", "[E2]", "[E1]"], True),
                           (["[E2]"], True)]:  # fmt: skip
        add = (tok.add_special_tokens, theirs.add_special_tokens) if special else (
            tok.add_tokens, theirs.add_tokens)  # fmt: skip
        assert add[0](words) == add[1](words), words
    assert len(tok) == theirs.get_vocab_size() == size + 2
    assert tok.token_to_id("hello") == theirs.token_to_id("hello") < size  # in the vocabulary
    assert tok.special_tokens["[E1]"] == size and tok.special_tokens["[E2]"] == size + 1
    ids = tok.encode("Marie [E1] Curie [E2]")
    assert ids == theirs.encode("Marie [E1] Curie [E2]").ids
    for skip in (True, False):
        assert tok.decode(ids, skip_special_tokens=skip) == theirs.decode(
            ids, skip_special_tokens=skip
        )
    bpe = lf.Tokenizer.from_str(bases["trained-bpe"])
    bpe.add_special_tokens(["<e>"])
    with pytest.raises(lf.SpecialTokenError):
        bpe.encode("a <e> b")  # byte-level BPE's rule for special tokens in text holds
    assert bpe.special_tokens["<e>"] in bpe.encode("a <e> b", allowed_special={"<e>"})


def test_a_rank_file_with_a_hole_gives_added_tokens_a_free_id(
    wiki_text: str, tmp_path: Path
) -> None:
    """A rank file missing a rank (ids 0..N with one gap) holds N tokens, so N, HF's next
    id, is its last token's: the added token takes N + 1, and every token keeps its own id
    in memory, in the saved file and in HF reading that file. (HF's own add_tokens gives
    the new token id N too, so HF's tokenizer is no oracle here: the rank file is.)"""
    plain = lf.Tokenizer.train_bpe(texts=_corpus(wiki_text)[:400], vocab_size=400)
    with pytest.warns(UserWarning):  # (a rank file records no pattern)
        plain.save(tmp_path / "full.tiktoken", format="tiktoken")
    lines = (tmp_path / "full.tiktoken").read_text(encoding="ascii").splitlines()
    del lines[300]  # rank 300 gone; ranks 301..399 keep theirs
    (tmp_path / "holed.tiktoken").write_text("\n".join(lines) + "\n", encoding="ascii")
    with pytest.warns(UserWarning, match="no rank holds the id"):
        tok = lf.Tokenizer.from_tiktoken(tmp_path / "holed.tiktoken", pattern="gpt2")
    before = tok.vocab()
    assert tok.add_tokens(["<new>", "<newer>"]) == 2
    new, newer = tok.token_to_id("<new>"), tok.token_to_id("<newer>")
    assert {new, newer}.isdisjoint(before.values()) and new != newer
    assert all(tok.token_to_id(t) == i for t, i in before.items())
    last = max(before.values())
    tok.save(tmp_path / "added.json")
    theirs = hf.Tokenizer.from_file(str(tmp_path / "added.json"))
    for reader in (tok, lf.Tokenizer.from_file(tmp_path / "added.json")):
        assert reader.encode("<new> x <newer>")[0] == new
        assert reader.decode([last]) == theirs.decode([last]) == plain.decode([last])
        assert reader.decode([new, newer]) == theirs.decode([new, newer]) == "<new><newer>"
    assert theirs.encode("<new> x <newer>").ids == tok.encode("<new> x <newer>")


def test_bad_additions_are_named(bases: dict[str, str]) -> None:
    tok = lf.Tokenizer.from_str(bases["bert"])
    with pytest.raises(TypeError, match="list of strings"):
        tok.add_tokens("hello")
    with pytest.raises(TypeError, match="must be strings, got 3"):
        tok.add_tokens(["a", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="lstrip must be True or False"):
        tok.add_special_tokens(["[X]"], lstrip=1)  # type: ignore[arg-type]
    # a token with no UTF-8 form: named as encode names a text (it was a bare
    # UnicodeEncodeError from the codec)
    for add in (tok.add_tokens, tok.add_special_tokens):
        with pytest.raises(EncodingError, match=r"^tokens\[1\] holds a lone surrogate '\\ud800'"):
            add(["ok", "x\ud800"])
    assert tok.vocab_size == 30522  # nothing added by a refused call


@pytest.mark.parametrize("base", ["bert", "ranks"])
def test_a_call_that_changes_nothing_returns_hfs_zero_without_a_rebuild(
    bases: dict[str, str], base: str
) -> None:
    """Tokens added already with the same kind and options, and empty ones: HF's count
    (0), and the tokenizer as it was, its core kept (a rebuild took 0.2 s for cl100k); a
    token added again with other options still counts, as in HF."""
    ours, theirs = lf.Tokenizer.from_str(bases[base]), hf.Tokenizer.from_str(bases[base])
    new = hf.AddedToken("<ent>", lstrip=True)
    assert ours.add_tokens([new, "[E1]"]) == theirs.add_tokens([new, "[E1]"]) == 2
    assert ours.add_special_tokens(["<|s|>"]) == theirs.add_special_tokens(["<|s|>"]) == 1
    core = ours._core
    again = [hf.AddedToken("<ent>", lstrip=True), "[E1]", ""]
    assert ours.add_tokens(again) == theirs.add_tokens(again) == 0
    assert ours.add_special_tokens(["<|s|>", ""]) == theirs.add_special_tokens(["<|s|>", ""]) == 0
    assert ours._core is core
    text = "a <ent> b[E1]c d"  # (a rank file's special tokens are not allowed in text)
    assert (
        ours.encode(text, add_special_tokens=False)
        == theirs.encode(text, add_special_tokens=False).ids
    )
    other = [hf.AddedToken("<ent>", rstrip=True)]
    assert ours.add_tokens(other) == theirs.add_tokens(other) == 1
    assert ours._core is not core


@pytest.mark.parametrize("seed", range(40))
def test_new_tokens_added_in_place_equal_the_rebuild(
    seed: int, bases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Byte-level BPE adds new tokens (none added before, none a vocabulary token) in a
    copy of the core's tables, WordPiece past its last id in a core sharing the model's;
    the oracle is the rebuild through the tokenizer.json document that every other call
    takes: the same counts, ids, saved document, encodings and decoding, over random calls
    (new words, repeats, vocabulary tokens, special and not, random options), each made on
    both."""
    from lexforge import datasets

    rng = random.Random(seed)
    name = rng.choice(["ranks", "trained-bpe", "hf-bpe", "bert", "hf-wordpiece", "vocab.txt"])
    if name == "vocab.txt":  # (a folder's vocab.txt, its config's special tokens)
        path = datasets.files("bert-base-uncased")["vocab.txt"]
        fast, slow = lf.Tokenizer.from_file(path), lf.Tokenizer.from_file(path)
    else:
        fast, slow = lf.Tokenizer.from_str(bases[name]), lf.Tokenizer.from_str(bases[name])
    fresh = [f"<new{i}>" for i in range(8)]
    pool = [*POOL, *fresh, "wörd", "ŝ", "Ġthe"]
    in_place = type(fast)._add_new
    taken: list[int | None] = []

    def spy(self: Any, added: list[Any]) -> int | None:
        taken.append(in_place(self, added))
        return taken[-1]

    for call in range(rng.randrange(1, 6)):
        # (the first call's tokens are all new: the path under test is taken at least once)
        tokens = rng.sample(fresh if call == 0 else pool, rng.randrange(1, 4))
        special = rng.random() < 0.4
        flags = {k: rng.random() < 0.3 for k in ("lstrip", "rstrip", "single_word", "normalized")}
        results = []
        for tok, is_fast in ((fast, True), (slow, False)):
            with monkeypatch.context() as m:
                m.setattr(type(tok), "_add_new", spy if is_fast else lambda self, added: None)
                add = tok.add_special_tokens if special else tok.add_tokens
                try:
                    results.append(add(tokens, **flags))
                except ConfigError as e:
                    results.append(str(e))
        assert results[0] == results[1], (seed, name, tokens)
        assert fast.to_str() == slow.to_str(), (seed, name, tokens)
    assert taken[0] is not None  # the first call's new tokens, added in place
    kw = {"allowed_special": "all"} if isinstance(fast, lf.BpeTokenizer) else {}
    texts = ["".join(rng.choice([*pool, *FILLER]) for _ in range(rng.randrange(1, 9)))
             for _ in range(15)]  # fmt: skip
    for text in texts:
        ids = fast.encode(text, **kw)
        assert ids == slow.encode(text, **kw), (seed, name, text)
        for skip in (True, False):
            assert fast.decode(ids, skip_special_tokens=skip) == slow.decode(
                ids, skip_special_tokens=skip
            )
    assert fast.get_vocab() == slow.get_vocab()
