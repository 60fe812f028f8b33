"""MLM masking: statistics on over a million real tokens, determinism across threads and
runs, the readable reference, HF's collator (when installed), and bad input."""

from __future__ import annotations

import pickle
import random
from typing import Any

import numpy as np
import pytest

import lexforge as lf
from lexforge import datasets
from lexforge.errors import ConfigError
from lexforge.masking import continuation_ids, linear_schedule, word_end_ids
from lexforge.model.similarity import words_of
from lexforge.reference.masking import mask_row


@pytest.fixture(scope="module")
def bert() -> lf.WordPieceTokenizer:
    return lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])  # type: ignore[return-value]


@pytest.fixture(scope="module")
def batch(bert: lf.WordPieceTokenizer) -> Any:
    """About 1.2 M real tokens: 10,000 rows of 128 (runs of 100 words of English news and
    encyclopedia text), padded, with word ids."""
    words: list[str] = []
    for name in ("wiki-leads", "bbc-news"):
        words += datasets.corpus_text(name).read_text(encoding="utf-8").split()
    rows = [" ".join(words[i : i + 100]) for i in range(0, len(words), 100)][:10_000]
    return bert.encode_batch(
        rows, max_length=128, truncation=True, padding="max_length", return_tensors="np",
        return_special_tokens_mask=True, return_word_ids=True,
    )  # fmt: skip


def masked(bert: lf.WordPieceTokenizer, batch: Any, **kw: Any) -> tuple[np.ndarray, np.ndarray]:
    return lf.mask_tokens(
        batch["input_ids"],
        vocab_size=bert.vocab_size,
        mask_token_id=bert.token_to_id("[MASK]"),
        special_ids=bert.special_tokens.values(),
        **kw,
    )


def eligible(bert: lf.WordPieceTokenizer, batch: Any) -> np.ndarray:
    """Positions that may be picked: not special by the mask nor by id ([UNK] included)."""
    specials = list(bert.special_tokens.values())
    return ~batch["special_tokens_mask"].astype(bool) & ~np.isin(batch["input_ids"], specials)


def check_invariants(
    bert: lf.WordPieceTokenizer, batch: Any, ids: np.ndarray, labels: np.ndarray
) -> None:
    original = batch["input_ids"]
    special = ~eligible(bert, batch)
    picked = labels != -100
    assert not (picked & special).any(), "a special or padding token was picked"
    assert (labels[picked] == original[picked]).all()
    assert (ids[~picked] == original[~picked]).all()
    specials = np.array(sorted(bert.special_tokens.values()))
    changed = picked & (ids != original) & (ids != bert.token_to_id("[MASK]"))
    assert not np.isin(ids[changed], specials).any(), "a random replacement is special"


def test_bernoulli_statistics(bert: lf.WordPieceTokenizer, batch: Any) -> None:
    ids, labels = masked(bert, batch, seed=3)
    check_invariants(bert, batch, ids, labels)
    n = eligible(bert, batch).sum()
    assert n > 1_000_000
    picked = labels != -100
    assert abs(picked.sum() / n - 0.15) < 0.002
    original = batch["input_ids"]
    mask_share = (ids[picked] == bert.token_to_id("[MASK]")).mean()
    kept_share = (ids[picked] == original[picked]).mean()
    assert abs(mask_share - 0.8) < 0.005 and abs(kept_share - 0.1) < 0.005
    assert abs(1 - mask_share - kept_share - 0.1) < 0.005


def test_exact_counts(bert: lf.WordPieceTokenizer, batch: Any) -> None:
    ids, labels = masked(bert, batch, mode="exact", mlm_probability=0.2, seed=1)
    check_invariants(bert, batch, ids, labels)
    real = eligible(bert, batch).sum(axis=1)
    assert ((labels != -100).sum(axis=1) == np.round(0.2 * real)).all()  # half to even


@pytest.mark.parametrize("mode", ["bernoulli", "exact", "span"])
def test_whole_words(bert: lf.WordPieceTokenizer, batch: Any, mode: str) -> None:
    ids, labels = masked(
        bert, batch, mode=mode, whole_word=True, word_ids=batch["word_ids"], seed=5
    )
    check_invariants(bert, batch, ids, labels)
    words, picked = batch["word_ids"], labels != -100
    for row in range(0, 10_000, 7):
        for w in np.unique(words[row][words[row] >= 0]):
            flags = picked[row][words[row] == w]
            assert flags.all() or not flags.any()
    share = picked.sum() / eligible(bert, batch).sum()
    assert abs(share - 0.15) < 0.01


def test_span_masking_picks_runs(bert: lf.WordPieceTokenizer, batch: Any) -> None:
    _, labels = masked(bert, batch, mode="span", seed=2)
    picked = labels != -100
    real = eligible(bert, batch).sum(axis=1)
    assert (picked.sum(axis=1) <= np.round(0.15 * real)).all()
    runs = np.diff(picked.astype(np.int8), axis=1)
    starts = (runs == 1).sum()
    assert picked.sum() / max(starts, 1) > 2.5  # mean span length ~ geometric(0.2), clipped


def test_deterministic_for_any_thread_count(bert: lf.WordPieceTokenizer, batch: Any) -> None:
    runs = [masked(bert, batch, seed=9, step=4, num_threads=n) for n in (1, 2, 4, 4)]
    for ids, labels in runs[1:]:
        assert (ids == runs[0][0]).all() and (labels == runs[0][1]).all()
    other = masked(bert, batch, seed=9, step=5)
    assert (other[1] != runs[0][1]).any()
    ww = [
        masked(
            bert, batch, mode="exact", whole_word=True, word_ids=batch["word_ids"], num_threads=n
        )
        for n in (1, 4)
    ]
    assert (ww[0][1] == ww[1][1]).all()


def test_agrees_with_the_reference(bert: lf.WordPieceTokenizer, batch: Any) -> None:
    rows = slice(0, 2000)
    part = {k: v[rows] for k, v in batch.items()}
    mask_id = bert.token_to_id("[MASK]")
    specials = set(bert.special_tokens.values())

    def reference(mode: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = random.Random(seed)
        kw = {"special_ids": specials, "vocab_size": bert.vocab_size, "mask_token_id": mask_id}
        out = [
            mask_row(row.tolist(), special=flags.astype(bool).tolist(), mode=mode, rng=rng, **kw)
            for row, flags in zip(part["input_ids"], part["special_tokens_mask"], strict=True)
        ]
        return np.array([o for o, _ in out]), np.array([lab for _, lab in out])

    original = part["input_ids"]
    for (ids, labels), (ref_ids, ref_labels) in (
        (masked(bert, part, seed=11), reference("bernoulli", 11)),
        (masked(bert, part, mode="exact"), reference("exact", 12)),
    ):
        picked, ref_picked = labels != -100, ref_labels != -100
        assert abs(picked.mean() - ref_picked.mean()) < 0.005
        for a, b in ((ids, picked), (ref_ids, ref_picked)):
            assert abs((a[b] == mask_id).mean() - 0.8) < 0.02
            assert abs((a[b] == original[b]).mean() - 0.1) < 0.02
    # exact mode: identical per-row counts
    assert ((labels != -100).sum(axis=1) == (ref_labels != -100).sum(axis=1)).all()


def test_matches_hf_collator_statistics(bert: lf.WordPieceTokenizer, batch: Any) -> None:
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")

    class Shim:  # the collator only needs these from a tokenizer
        mask_token = "[MASK]"
        mask_token_id = bert.token_to_id("[MASK]")
        pad_token_id = 0

        def __len__(self) -> int:
            return bert.vocab_size

        def convert_tokens_to_ids(self, token: str) -> int:
            return bert.token_to_id(token)

    collator = transformers.DataCollatorForLanguageModeling(
        Shim(), mlm_probability=0.15, return_tensors="pt"
    )
    torch.manual_seed(0)
    inputs = torch.from_numpy(batch["input_ids"][:4000].copy())
    special = torch.from_numpy(batch["special_tokens_mask"][:4000].astype(bool))
    hf_ids, hf_labels = collator.torch_mask_tokens(inputs.clone(), special_tokens_mask=special)
    ours_ids, ours_labels = masked(bert, {k: v[:4000] for k, v in batch.items()})
    hf_picked, ours_picked = hf_labels.numpy() != -100, ours_labels != -100
    assert abs(hf_picked.mean() - ours_picked.mean()) < 0.003
    orig = batch["input_ids"][:4000]
    for ids, picked in ((hf_ids.numpy(), hf_picked), (ours_ids, ours_picked)):
        assert abs((ids[picked] == bert.token_to_id("[MASK]")).mean() - 0.8) < 0.01
        assert abs((ids[picked] == orig[picked]).mean() - 0.1) < 0.01


def test_a_flagged_ordinary_token_is_picked_where_it_is_not_flagged(
    bert: lf.WordPieceTokenizer, batch: Any
) -> None:
    """special_tokens_mask excludes the positions it flags, as HF's does: an ordinary id
    flagged somewhere (a prompt kept unmasked) made that id unpickable everywhere in the
    batch (an audit: 0.000 against HF's 0.150). Ids flagged everywhere they occur ([CLS],
    [SEP], padding) stay special: never drawn as random replacements either."""
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    ids = batch["input_ids"][:3000].copy()
    special = batch["special_tokens_mask"][:3000].astype(bool)
    the = bert.token_to_id("the")
    special[:, 1] = True  # the first word of every row is flagged...
    ids[:, 1] = the  # ... and is "the", which is unflagged in most rows elsewhere
    loose = (ids == the) & ~special
    assert loose.sum() > 2000

    class Shim:  # the collator only needs these from a tokenizer
        mask_token = "[MASK]"
        mask_token_id = bert.token_to_id("[MASK]")
        pad_token_id = 0

        def __len__(self) -> int:
            return bert.vocab_size

        def convert_tokens_to_ids(self, token: str) -> int:
            return bert.token_to_id(token)

    collator = transformers.DataCollatorForLanguageModeling(Shim(), mlm_probability=0.5)
    torch.manual_seed(0)
    _, hf_labels = collator.torch_mask_tokens(
        torch.from_numpy(ids), special_tokens_mask=torch.from_numpy(special)
    )
    out, labels = lf.mask_tokens(
        ids, vocab_size=bert.vocab_size, mask_token_id=Shim.mask_token_id,
        special_tokens_mask=special, mlm_probability=0.5, step=1,
    )  # fmt: skip
    hf_rate = (hf_labels.numpy() != -100)[loose].mean()
    ours_rate = (labels != -100)[loose].mean()
    assert abs(hf_rate - 0.5) < 0.05 and abs(ours_rate - hf_rate) < 0.06
    assert not (labels != -100)[special].any()  # flagged positions never picked
    randomised = (labels != -100) & (out != ids) & (out != Shim.mask_token_id)
    assert randomised.sum() > 100
    assert not np.isin(out[randomised], [0, 101, 102]).any()  # flagged everywhere: special


def test_schedule_and_torch_in_out(bert: lf.WordPieceTokenizer, batch: Any) -> None:
    schedule = linear_schedule(0.3, 0.15, 100)
    ids = batch["input_ids"][:3000]
    _, early = masked(bert, {"input_ids": ids}, mlm_probability=schedule, step=0)
    _, late = masked(bert, {"input_ids": ids}, mlm_probability=schedule, step=500)
    assert (early != -100).mean() > 1.7 * (late != -100).mean()
    torch = pytest.importorskip("torch")
    out, labels = lf.mask_tokens(
        torch.from_numpy(ids),
        vocab_size=bert.vocab_size,
        mask_token_id=103,
        special_ids=[0, 101, 102],
    )
    assert isinstance(out, torch.Tensor) and labels.dtype == torch.int64


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint32, np.uint16, np.int16, np.uint64])
def test_dtypes_are_kept(dtype: Any, bert: lf.WordPieceTokenizer, batch: Any) -> None:
    ids = batch["input_ids"][:100].astype(dtype)
    out, labels = lf.mask_tokens(
        ids, vocab_size=bert.vocab_size, mask_token_id=103, special_ids=[0, 101, 102]
    )
    assert out.dtype == dtype and labels.dtype == np.int64
    ref, _ = lf.mask_tokens(
        ids.astype(np.int64),
        vocab_size=bert.vocab_size,
        mask_token_id=103,
        special_ids=[0, 101, 102],
    )
    assert (out.astype(np.int64) == ref).all()


def test_maskers_and_schedules_pickle(bert: lf.WordPieceTokenizer, batch: Any) -> None:
    import pickle

    schedule = linear_schedule(0.3, 0.15, 10)
    assert pickle.loads(pickle.dumps(schedule))(4) == schedule(4) == pytest.approx(0.24)
    masker = lf.Masker.from_tokenizer(bert, mlm_probability=schedule, seed=3, whole_word=True)
    copy = pickle.loads(pickle.dumps(masker))
    word_ids = np.where(batch["input_ids"] > 0, np.arange(batch["input_ids"].shape[1]), -1)
    for step in (0, 7):
        a = masker(batch["input_ids"], step=step, word_ids=word_ids)
        b = copy(batch["input_ids"], step=step, word_ids=word_ids)
        assert all((x == y).all() for x, y in zip(a, b, strict=True))


def test_byte_order_and_one_row(bert: lf.WordPieceTokenizer, batch: Any) -> None:
    ids = batch["input_ids"][:50]
    options = {"vocab_size": bert.vocab_size, "mask_token_id": 103, "special_ids": [0, 101, 102]}
    want, want_labels = lf.mask_tokens(ids, **options)
    for dtype in (">i8", ">i4", ">u2"):
        swapped = ids.astype(dtype)
        special = (ids == 0).astype(">i8")
        out, labels = lf.mask_tokens(swapped, special_tokens_mask=special, **options)
        assert out.dtype == np.dtype(dtype).newbyteorder("=") and (out == want).all()
        assert (labels == want_labels).all()
    out, labels = lf.mask_tokens(ids[3], **options)  # a row comes back as a row
    assert out.shape == labels.shape == ids[3].shape
    first, first_labels = lf.mask_tokens(ids[3:4], **options)
    assert (out == first[0]).all() and (labels == first_labels[0]).all()


def test_bad_input() -> None:
    ids = np.array([[101, 5, 6, 102]], dtype=np.int64)
    ok = {"vocab_size": 200, "mask_token_id": 103, "special_ids": [101, 102]}
    with pytest.raises(ConfigError, match="integers"):
        lf.mask_tokens(ids.astype(np.float32), **ok)
    with pytest.raises(ConfigError, match="shape"):
        lf.mask_tokens(ids[None], **ok)
    with pytest.raises(ConfigError, match=r"input_ids\[0, 2\] = 500 is outside"):
        lf.mask_tokens(np.array([[101, 5, 500, 102]]), **ok)
    with pytest.raises(ConfigError, match="outside"):
        lf.mask_tokens(np.array([[101, -1, 5, 102]]), **ok)
    with pytest.raises(ConfigError, match="mask_token_id"):
        lf.mask_tokens(ids, vocab_size=100, mask_token_id=103, special_ids=[101])
    with pytest.raises(ConfigError, match=r"mlm_probability=1\.5"):
        lf.mask_tokens(ids, mlm_probability=1.5, **ok)
    with pytest.raises(ConfigError, match="exceeds 1"):
        lf.mask_tokens(ids, mask_probability=0.9, random_probability=0.2, **ok)
    with pytest.raises(ConfigError, match="special_tokens_mask= or special_ids="):
        lf.mask_tokens(ids, vocab_size=200, mask_token_id=103)
    with pytest.raises(ConfigError, match="word_ids"):
        lf.mask_tokens(ids, whole_word=True, **ok)
    with pytest.raises(ConfigError, match="mode"):
        lf.mask_tokens(ids, mode="bogus", **ok)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="special_tokens_mask has shape"):
        lf.mask_tokens(ids, special_tokens_mask=np.zeros((1, 3)), vocab_size=200, mask_token_id=103)
    # numbers past what the core holds: errors naming the option, not OverflowError
    for bad, name in [({"vocab_size": 2**32}, "vocab_size"), ({"seed": 2**64}, "seed"),
                      ({"num_threads": -1}, "num_threads"), ({"max_span": 0}, "max_span"),
                      ({"mask_token_id": True}, "mask_token_id"),
                      ({"whole_word": 1}, "whole_word must be True or False"),
                      ({"whole_word": None}, "whole_word must be True or False"),
                      ({"mode": None}, "mode must be"), ({"mode": 1}, "mode must be")]:  # fmt: skip
        with pytest.raises(ConfigError, match=name):
            lf.mask_tokens(ids, **{**ok, **bad})
    not_numbers: list[tuple[dict[str, Any], str]] = [
        ({"mlm_probability": "0.2"}, "mlm_probability must be a number"),
        ({"mlm_probability": lambda step: "0.2"}, "schedule's rate must be a number"),
        ({"mask_probability": None}, "mask_probability must be a number"),
    ]
    for bad, name in not_numbers:
        with pytest.raises(ConfigError, match=name):
            lf.mask_tokens(ids, **{**ok, **bad})
    with pytest.raises(ConfigError, match="word_ids must be integers"):  # not cut to words
        lf.mask_tokens(ids, whole_word=True, word_ids=np.array([[0.5, 0.7, 1.0, 2.0]]), **ok)
    with pytest.raises(ConfigError, match="step must be at most"):
        lf.Masker(**ok)(ids, step=2**64)
    torch = pytest.importorskip("torch")
    bf16 = torch.tensor(ids, dtype=torch.bfloat16)  # NumPy has none: it was a raw TypeError
    meta = torch.empty(ids.shape, dtype=torch.int64, device="meta")
    for tensor, message in ((bf16, "input_ids must be integers, got dtype float32"),
                            (meta, "meta tensor")):  # fmt: skip
        with pytest.raises(ConfigError, match=message):
            lf.Masker(**ok)(tensor)
    # a float mask reads as nonzero = special, as a tensor too (bf16 included)
    special = np.zeros(ids.shape, dtype=np.float32)
    special[:, 0] = 1.0
    want = lf.Masker(**ok)(ids, special_tokens_mask=special)
    for dtype in (torch.float32, torch.bfloat16):
        got = lf.Masker(**ok)(ids, special_tokens_mask=torch.tensor(special, dtype=dtype))
        assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    with pytest.raises(ConfigError, match="continuation_ids must be at least 0"):
        lf.Masker(**ok, whole_word=True, continuation_ids=[-1])
    with pytest.raises(ConfigError, match="rectangular"):  # ragged rows need padding
        lf.mask_tokens([[101, 5, 102], [101, 102]], **ok)
    with pytest.raises(ConfigError, match="special_ids holds 205, outside the vocabulary"):
        lf.mask_tokens(ids, **{**ok, "special_ids": [101, 205]})
    # uint16 ids cannot hold a [MASK] id past 65,535: refused, not wrapped into another id
    big = {"vocab_size": 70_000, "mask_token_id": 69_999, "special_ids": [101, 102]}
    with pytest.raises(ConfigError, match="uint16, which cannot hold ids up to 69999"):
        lf.mask_tokens(ids.astype(np.uint16), **big)
    out, _ = lf.mask_tokens(ids.astype(np.uint32), mlm_probability=1.0, **big)
    assert out.dtype == np.uint32 and set(out[0, 1:3]) <= {69_999, 5, 6} | set(range(103, 70_000))
    # dtypes the core does not take natively go through int64 and come back as they were
    with pytest.raises(ConfigError, match="int8, which cannot hold ids up to 199"):
        lf.mask_tokens(ids.astype(np.int8), **ok)
    # past int32's range the fix named is int64 alone (not the int32 the ids already are)
    wide = {"vocab_size": 2**31 + 10, "mask_token_id": 103, "special_ids": [101, 102]}
    with pytest.raises(ConfigError, match=r"int32, which cannot .*: pass int64 ids$"):
        lf.mask_tokens(ids.astype(np.int32), **wide)
    tiny = {"vocab_size": 120, "mask_token_id": 103, "special_ids": [101, 102]}
    for dtype in (np.int8, np.uint8):
        out, labels = lf.mask_tokens(ids.astype(dtype), mlm_probability=1.0, seed=3, **tiny)
        ref, ref_labels = lf.mask_tokens(ids, mlm_probability=1.0, seed=3, **tiny)
        assert out.dtype == dtype and (out == ref).all() and (labels == ref_labels).all()
    # a uint64 id past int64's range is named as it is, not wrapped to a negative number
    huge = np.array([[101, 5, 2**63 + 7, 102]], dtype=np.uint64)
    with pytest.raises(ConfigError, match=r"input_ids\[0, 2\] = 9223372036854775815 is outside"):
        lf.mask_tokens(huge, **ok)


def test_masker_from_tokenizer_and_mask_only(bert: lf.WordPieceTokenizer, batch: Any) -> None:
    masker = lf.Masker.from_tokenizer(bert, seed=4)
    ids, labels = masker(batch["input_ids"], step=2)
    check_invariants(bert, batch, ids, labels)
    # the one-off function with the same options is the same computation
    again = lf.mask_tokens(
        batch["input_ids"], vocab_size=bert.vocab_size, mask_token_id=bert.token_to_id("[MASK]"),
        special_ids=bert.special_tokens.values(), seed=4, step=2,
    )  # fmt: skip
    assert (again[0] == ids).all() and (again[1] == labels).all()
    # only a special-tokens mask: the ids under it are never drawn as replacements either
    rows = batch["input_ids"][:3000]
    flags = batch["special_tokens_mask"][:3000]
    out, lab = lf.mask_tokens(
        rows, special_tokens_mask=flags, vocab_size=bert.vocab_size, mask_token_id=103,
        mask_probability=0.0, random_probability=1.0,
    )  # fmt: skip
    picked = lab != -100
    assert not (picked & (flags != 0)).any()
    assert not np.isin(out[picked], np.unique(rows[flags != 0])).any()
    # with special ids as well (here without the padding id): still never drawn
    out, lab = lf.mask_tokens(
        rows, special_tokens_mask=flags, special_ids=[101, 102], vocab_size=bert.vocab_size,
        mask_token_id=103, mask_probability=0.0, random_probability=1.0,
    )  # fmt: skip
    picked = lab != -100
    assert 0 in rows[flags != 0] and picked.any()
    assert not np.isin(out[picked], np.unique(rows[flags != 0])).any()
    with pytest.raises(ConfigError, match="no mask token"):
        lf.Masker.from_tokenizer(lf.Tokenizer.from_gpt2(*_gpt2_files()))


def _gpt2_files() -> tuple[Any, Any]:
    files = datasets.files("gpt2")
    return files["encoder.json"], files["vocab.bpe"]


def test_whole_words_from_the_vocabulary(bert: lf.WordPieceTokenizer, batch: Any) -> None:
    """Without word ids, WordPiece's ## pieces define the words: the same words, so the same
    masks as with the tokenizer's word ids."""
    with_ids = lf.Masker.from_tokenizer(bert, whole_word=True, mode="exact", seed=3)
    by_vocab = lf.Masker.from_tokenizer(bert, whole_word=True, mode="exact", seed=3)
    ids = batch["input_ids"][:2000]
    a = with_ids(ids, word_ids=batch["word_ids"][:2000], step=1)
    b = by_vocab(ids, step=1)
    assert (a[0] == b[0]).all() and (a[1] == b[1]).all()
    gpt2 = lf.Tokenizer.from_gpt2(*_gpt2_files())
    cont = set(continuation_ids(gpt2))
    pieces = gpt2.encode(" antidisestablishmentarianism, wonderful")
    flags = [i in cont for i in pieces]
    # " ant" starts a word, its other pieces continue it, "," and " wonderful" do not
    assert flags == [False] + [True] * (len(pieces) - 3) + [False, False]
    # text without spaces: each CJK ideograph and punctuation mark is a word, as for BERT's
    # pre-tokenizer (the oracle); letters of other scripts continue their words, whether
    # GPT-2 has them as whole characters or as single bytes (Hangul, some Cyrillic)
    names = {i: t for t, i in gpt2.vocab().items()}
    for text in ["今天天气很好，我们去公园吧！", "Привет, мир! Ωμέγα 한국어 텍스트 café naïve"]:
        words: list[bytes] = []
        for i in gpt2.encode(text, add_special_tokens=False):
            if i in cont and words:
                words[-1] += names[i]
            else:
                words.append(names[i])
        assert [w.decode().strip().lower() for w in words] == words_of(text)


def test_byte_level_words_end_at_punctuation_and_line_starts() -> None:
    """Rows of lines encoded one by one and put end to end (as pretraining packs them): a
    line's first word has no space before it, and was joined to the token before ("." +
    "The"), as was a word after an opening bracket, or after a curly quote, which GPT-2
    spells in two tokens (the word used to join the quote: the per-id tables cannot see a
    character split across tokens; the masker now reads the vocabulary's bytes). The
    words from the vocabulary are the pre-tokenizer's (its word ids, the oracle): the
    same masks either way. (Not checked: CJK, where each ideograph is a word, as for
    BERT.)"""
    gpt2 = lf.Tokenizer.from_gpt2(*_gpt2_files())
    lines = [
        "The cat sat on the mat.", "Then it ran (quickly) home, again!", "Prices rose 3.5%",
        '"Quoted" words [in brackets] and {braces}.', "Ωμέγα ends here; да.",
        "Wonderful antidisestablishmentarianism...", "#hashtags & @names?",
        "\u201cHello\u201d he said\u2014then don\u2019t\u2026",
        "na\u00efve caf\u00e9 \u00abok\u00bb \u00bd \u20ac5!",
    ] * 3  # fmt: skip
    ids: list[int] = []
    words: list[int] = []
    for line in lines:
        found = gpt2.word_ids(line, add_special_tokens=False)
        words += [w + (words[-1] + 1 if words else 0) for w in found]
        ids += gpt2.encode(line, add_special_tokens=False)
    assert len(ids) == len(words)
    rows, row_words = np.array([ids] * 64), np.array([words] * 64)
    kwargs = {"whole_word": True, "mode": "exact", "mask_token_id": 0}
    by_vocab = lf.Masker.from_tokenizer(gpt2, seed=5, **kwargs)
    by_words = lf.Masker.from_tokenizer(gpt2, seed=5, **kwargs)
    for step in range(3):
        a = by_words(rows, word_ids=row_words, step=step)
        b = by_vocab(rows, step=step)
        assert (a[0] == b[0]).all() and (a[1] == b[1]).all()
    # the per-id tables alone (as before the bytes): the word after a curly quote joins it
    tables = lf.Masker(vocab_size=gpt2.vocab_size, special_ids=[], seed=5, **kwargs,
                       continuation_ids=continuation_ids(gpt2),
                       word_end_ids=word_end_ids(gpt2))  # fmt: skip
    assert not (tables(rows, step=0)[1] == by_words(rows, word_ids=row_words, step=0)[1]).all()
    again = pickle.loads(pickle.dumps(by_vocab))  # the bytes travel with it
    assert (again(rows, step=1)[1] == by_vocab(rows, step=1)[1]).all()
    with pytest.raises(ConfigError, match=r"token_bytes must hold one bytes object per id"):
        lf.Masker(vocab_size=3, mask_token_id=0, special_ids=[], token_bytes=[b"a", "b", b"c"])
    with pytest.raises(ConfigError, match=r"one bytes object per id \(3\), got 2"):
        lf.Masker(vocab_size=3, mask_token_id=0, special_ids=[], token_bytes=[b"a", b"b"])


def test_word_starts_split_lines_that_end_in_letters() -> None:
    """Lines encoded one by one and put end to end: after a line ending in a letter, the next
    line's first word (no space before it) continues the word before by its ids alone.
    ``word_starts`` at each line's first token makes the words the pre-tokenizer's (its
    word ids, the oracle), for every mode; it changes nothing for single tokens."""
    gpt2 = lf.Tokenizer.from_gpt2(*_gpt2_files())
    lines = ["The cat sat on the mat", "Then it ran home", "Wonderful antidisestablishment",
             "Quietly, it slept", "Ωμέγα ends here"] * 4  # fmt: skip
    ids: list[int] = []
    words: list[int] = []
    starts: list[bool] = []
    for line in lines:
        found = gpt2.word_ids(line, add_special_tokens=False)
        words += [w + (words[-1] + 1 if words else 0) for w in found]
        encoded = gpt2.encode(line, add_special_tokens=False)
        starts += [True] + [False] * (len(encoded) - 1)
        ids += encoded
    rows, row_words = np.array([ids] * 64), np.array([words] * 64)
    row_starts = np.array([starts] * 64)
    for mode in ("bernoulli", "exact", "span"):
        kwargs = {"whole_word": True, "mode": mode, "mask_token_id": 0, "seed": 5}
        masker = lf.Masker.from_tokenizer(gpt2, **kwargs)
        for step in range(2):
            want = masker(rows, word_ids=row_words, step=step)
            for flags in (row_starts, row_starts.astype(np.int32), row_starts.astype(np.float32)):
                got = masker(rows, word_starts=flags, step=step)
                assert (got[0] == want[0]).all() and (got[1] == want[1]).all(), mode
            joined = masker(rows, step=step)  # "mat" + "Then": one word
            assert not (joined[1] == want[1]).all(), mode
            # word ids alone say where words are
            both = masker(rows, word_ids=row_words, word_starts=~row_starts, step=step)
            assert (both[1] == want[1]).all()
        single = lf.Masker.from_tokenizer(gpt2, **{**kwargs, "whole_word": False})
        a, b = single(rows, step=1), single(rows, word_starts=row_starts, step=1)
        assert (a[0] == b[0]).all() and (a[1] == b[1]).all()
    with pytest.raises(ConfigError, match=r"word_starts has shape \(64, 3\)"):
        masker(rows, word_starts=row_starts[:, :3])
    with pytest.raises(ConfigError, match="word_starts must be bool or 0/1 numbers"):
        masker(rows, word_starts=np.full(rows.shape, "1"))
    one = lf.mask_tokens(rows[0], vocab_size=gpt2.vocab_size, mask_token_id=0, special_ids=[0],
                         whole_word=True, mode="exact", word_starts=row_starts[0],
                         continuation_ids=continuation_ids(gpt2))  # fmt: skip
    assert one[1].shape == (len(ids),)


@pytest.mark.parametrize(
    ("args", "message"),
    [((0.3, 0.1, "10"), "steps must be an integer"), ((0.3, 0.1, 0), "steps must be at least 1"),
     ((0.3, 0.1, 2.5), "steps must be an integer"),
     (("0.3", 0.1, 10), "start rate must be a number"),
     ((0.3, 1.5, 10), r"end rate must be in \[0, 1\]"), ((-0.1, 0.1, 10), "start rate must be in"),
     ((True, 0.1, 10), "start rate must be a number")],
)  # fmt: skip
def test_schedule_arguments_are_checked(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        linear_schedule(*args)
    with pytest.raises(ConfigError, match=message):
        lf.masking.cosine_schedule(*args)


def test_an_empty_list_of_rows_says_how_to_pass_an_empty_batch() -> None:
    with pytest.raises(ConfigError, match=r"empty list reads as floats.*np\.empty"):
        lf.mask_tokens([], vocab_size=100, mask_token_id=4, special_ids=[0])
    out, labels = lf.mask_tokens(np.empty((0, 5), np.int64), vocab_size=100, mask_token_id=4,
                                 special_ids=[0])  # fmt: skip
    assert out.shape == labels.shape == (0, 5)


def test_masks_word_ids_and_schedules_of_the_wrong_kind() -> None:
    """A mask of text marked every position ("0" != 0: nothing masked); word ids past
    int64 wrapped to "no word"; a schedule's first rate got a raw ValueError."""
    ids = np.arange(8, dtype=np.int64)[None].repeat(2, 0) + 10
    for mask in (np.full(ids.shape, "0"), [[None] * 8] * 2):
        with pytest.raises(ConfigError, match="special_tokens_mask must be bool or 0/1"):
            lf.mask_tokens(ids, vocab_size=100, mask_token_id=4, special_tokens_mask=mask)
    words = np.zeros(ids.shape, np.uint64)
    words[0, 3] = 2**63
    with pytest.raises(ConfigError, match="word_ids holds 9223372036854775808, past int64"):
        lf.mask_tokens(ids, vocab_size=100, mask_token_id=4, special_ids=[0], word_ids=words,
                       whole_word=True)  # fmt: skip
    for rate in ("0.15x", None, [0.15], "0.15"):
        with pytest.raises(ConfigError, match="schedule's rate must be a number"):
            lf.Masker(vocab_size=100, mask_token_id=4, special_ids=[0],
                      mlm_probability=lambda step, r=rate: r)  # fmt: skip


def test_ids_outside_the_vocabulary_under_the_special_mask_are_input_ids_fault() -> None:
    """mask_tokens takes the ids under special_tokens_mask as special ids: -100 padding
    there was blamed on special_ids, an argument the caller never passed."""
    for bad in (-100, 10):
        with pytest.raises(ConfigError, match=rf"^input_ids\[0, 2\] = {bad} is outside"):
            lf.mask_tokens(np.array([[7, 8, bad]]), vocab_size=10, mask_token_id=1,
                           special_tokens_mask=np.array([[0, 0, 1]]))  # fmt: skip


def test_a_schedule_step_of_the_wrong_kind_is_refused() -> None:
    """``schedule_step`` is checked as ``step`` is: a str raised a raw TypeError, a
    negative or fractional step was taken as a point of the schedule."""
    masker = lf.Masker(vocab_size=100, mask_token_id=4, special_ids=[0],
                       mlm_probability=linear_schedule(0.3, 0.1, 10))  # fmt: skip
    ids = np.arange(8, dtype=np.int64)[None] + 10
    for bad, message in (("x", "must be an integer"), (1.5, "must be an integer"),
                         (-5, "must be at least 0"), (int, "must be an integer")):  # fmt: skip
        with pytest.raises(ConfigError, match=f"schedule_step {message}"):
            masker(ids, step=1, schedule_step=bad)
    a, b = masker(ids, step=1, schedule_step=3), masker(ids, step=1, schedule_step=3)
    assert (a[0] == b[0]).all() and (a[1] == b[1]).all()


def test_special_ids_may_be_arrays_and_a_lone_id_is_named() -> None:
    """``special_ids or ()`` took an array's truth value: one padding id 0 read as no
    special ids (the padding was predicted), two ids raised NumPy's 'ambiguous'."""
    torch = pytest.importorskip("torch")
    ids = np.array([[7, 5, 6, 0, 0]])
    opts: dict[str, Any] = {"vocab_size": 200, "mask_token_id": 103, "mlm_probability": 1.0}
    for special in (np.array([0]), torch.tensor([0]), np.array([0, 101]), torch.tensor([0, 1])):
        _, labels = lf.mask_tokens(ids, special_ids=special, step=0, **opts)
        assert labels.tolist() == [[7, 5, 6, -100, -100]], special
        _, labels = lf.Masker(special_ids=special, **opts)(ids, step=0)
        assert labels.tolist() == [[7, 5, 6, -100, -100]], special
    for lone in (0, np.int64(0), "0"):
        with pytest.raises(ConfigError, match="special_ids must be a collection of ids"):
            lf.mask_tokens(ids, special_ids=lone, step=0, **opts)
    np_size = {**opts, "vocab_size": np.int64(200)}  # -100 under the mask is input_ids' fault
    with pytest.raises(ConfigError, match=r"input_ids\[0, 4\] = -100 is outside the vocab"):
        lf.mask_tokens(np.array([[7, 5, 6, 0, -100]]), special_tokens_mask=ids == 0, step=0,
                       **np_size)  # fmt: skip
    with pytest.raises(ConfigError, match=r"special_tokens_mask has shape \(5,\), input_ids"):
        lf.mask_tokens(np.repeat(ids, 2, 0), special_tokens_mask=ids[0] == 0, step=0, **opts)


def test_calls_without_a_step_draw_new_positions() -> None:
    """Every call defaulted to step 0, so a loop calling ``masker(batch)`` masked the same
    positions in each batch (HF's collator draws afresh). A Masker now counts its calls;
    mask_tokens stays a function of its arguments and warns when a seed repeats."""
    rng = np.random.default_rng(0)
    batches = [rng.integers(5, 1000, size=(4, 64)) for _ in range(4)]
    masker = lf.Masker(vocab_size=1000, mask_token_id=1, special_ids=[0, 1, 2, 3], seed=5)
    picked = [masker(b)[1] != -100 for b in batches]
    assert all((picked[0] != p).any() for p in picked[1:])
    fresh = lf.Masker(vocab_size=1000, mask_token_id=1, special_ids=[0, 1, 2, 3], seed=5)
    assert all(  # the count is the step: a run is reproducible
        np.array_equal(fresh(b)[0], masker(b, step=step)[0]) for step, b in enumerate(batches)
    )
    opts: dict[str, Any] = {"vocab_size": 1000, "mask_token_id": 1, "special_ids": [0]}
    lf.mask_tokens(batches[0], seed=987_654, **opts)
    with pytest.warns(UserWarning, match="same positions on every call with seed=987654"):
        lf.mask_tokens(batches[1], seed=987_654, **opts)


def test_mask_streams_are_not_the_shard_order_streams() -> None:
    """Row r of step s drew Rng(seed, s, r), and an epoch's shard order Rng(seed, e, 3):
    row 3's single pick was always the last shard of that epoch's order."""
    n, same = 50, 0
    ids = np.full((4, n), 7, dtype=np.int64)
    for seed in range(40):
        masker = lf.Masker(vocab_size=100, mask_token_id=1, special_ids=[0, 1], mode="exact",
                           mlm_probability=1 / n, seed=seed)  # fmt: skip
        labels = masker(ids, step=seed % 5)[1]
        order = lf._core.shard_order(n, seed, seed % 5)
        same += int(np.flatnonzero(labels[3] != -100)[0]) == order[-1]
    assert same < 10, same  # independent: about 40 / 50


class _Labels:
    """A collate_fn masking stacked rows with an unstepped masker: the labels."""

    def __init__(self, masker: lf.Masker) -> None:
        self.masker = masker

    def __call__(self, rows: list[Any]) -> Any:
        import torch

        return self.masker(torch.stack(rows))[1]


def test_an_unstepped_masker_in_loader_workers_masks_each_epoch_anew(
    bert: lf.WordPieceTokenizer,
) -> None:
    """As a DataLoader's collate_fn without ``step``: a worker's copy counted from 0 again
    each epoch, so every epoch repeated the first one's masks (HF's collator masks anew);
    and a masker called once in the main process first masked differently under fork
    (which inherits the count) than under spawn. Now the pass's seed, drawn by torch
    from the loader's generator, goes into the step: new masks each epoch, the same for
    any worker count and start method under the same generator seed."""
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    gen = torch.Generator().manual_seed
    rows = [torch.randint(1000, 30000, (48,), generator=gen(i)) for i in range(12)]

    def epochs(workers: int, context: str | None = None, seed: int = 0) -> list[list[Any]]:
        masker = lf.Masker.from_tokenizer(bert, seed=5)
        masker(torch.stack(rows[:4]))  # a call in the main process first
        loader = DataLoader(rows, batch_size=4, collate_fn=_Labels(masker), num_workers=workers,
                            multiprocessing_context=context, generator=gen(seed))  # fmt: skip
        return [list(loader), list(loader)]

    def same(a: list[Any], b: list[Any]) -> bool:
        return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))

    def joined(passes: list[list[Any]]) -> list[Any]:
        return passes[0] + passes[1]

    first, second = epochs(2, "fork")
    assert not same(first, second)
    for batch in first + second:  # still BERT's masking: about 15% of the tokens
        assert 0 < int((batch != -100).sum()) < batch.numel() // 2
    assert same(first + second, joined(epochs(2, "fork")))  # reproducible
    assert same(first + second, joined(epochs(3, "fork")))  # any worker count
    assert same(first + second, joined(epochs(1, "spawn")))  # any start method
    assert same(first + second, joined(epochs(0)))  # no workers: the same masks
    assert not same(first, epochs(2, "fork", seed=1)[0])  # another seed, other masks


def test_persistent_workers_mask_each_pass_alike_for_any_worker_count(
    bert: lf.WordPieceTokenizer,
) -> None:
    """Persistent workers keep their first pass's seed: each counted its batches on from
    pass to pass, so a pass's masks depended on how the batches had fallen to the workers
    (1 and 2 workers gave other masks from the second epoch on, with 9 batches a pass).
    The passes are numbered now: every worker count gives the same masks, new each pass,
    as a loader of fresh workers does in its first pass."""
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    gen = torch.Generator().manual_seed
    rows = [torch.randint(1000, 30000, (24,), generator=gen(i)) for i in range(27)]

    def passes(workers: int, persistent: bool = True) -> list[list[Any]]:
        masker = lf.Masker.from_tokenizer(bert, seed=5)
        loader = DataLoader(rows, batch_size=3, collate_fn=_Labels(masker), num_workers=workers,
                            persistent_workers=persistent, generator=gen(0))  # fmt: skip
        return [list(loader) for _ in range(3)]

    def same(a: list[Any], b: list[Any]) -> bool:
        return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))

    one = passes(1)
    assert not same(one[0], one[1]) and not same(one[1], one[2])  # new masks each pass
    for workers in (2, 4):  # neither divides the 9 batches of a pass
        other = passes(workers)
        assert all(same(a, b) for a, b in zip(one, other, strict=True)), workers
    assert same(one[0], passes(2, persistent=False)[0])  # the first pass: as fresh workers


class _MaskedItems:
    """A dataset masking each of its rows as it is read (per-item masking)."""

    def __init__(self, masker: lf.Masker, rows: list[Any]) -> None:
        self.masker, self.rows = masker, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> Any:
        return self.masker(self.rows[i])[1]


def test_a_dataset_masking_its_items_masks_each_item_anew_for_any_worker_count(
    bert: lf.WordPieceTokenizer,
) -> None:
    """Items masked one by one inside a loader's batch are numbered within the batch:
    rows of one length get their own masks, the same for any number of workers."""
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    row = torch.randint(1000, 30000, (64,), generator=torch.Generator().manual_seed(0))
    rows = [row.clone() for _ in range(12)]  # one row twelve times: only the step differs

    def labels(workers: int) -> list[Any]:
        data = _MaskedItems(lf.Masker.from_tokenizer(bert, seed=5), rows)
        loader = DataLoader(data, batch_size=4, num_workers=workers,
                            generator=torch.Generator().manual_seed(3))  # fmt: skip
        return [torch.stack(list(b)) for b in loader]

    zero = labels(0)
    picked = {tuple((r != -100).nonzero().flatten().tolist()) for b in zero for r in b}
    assert len(picked) == 12  # every item its own positions
    for workers in (1, 3):
        assert all(torch.equal(a, b) for a, b in zip(zero, labels(workers), strict=True))
