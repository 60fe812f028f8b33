"""``MLMCollator``: padding against a readable reference and HF's ``tokenizer.pad`` (when
installed), masking statistics and invariants, rows of every kind, DataLoader workers, and
bad input."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

import lexforge as lf
from lexforge import datasets
from lexforge.errors import ConfigError

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def bert() -> Any:
    return lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])


@pytest.fixture(scope="module")
def examples(bert: Any) -> list[dict[str, list[int]]]:
    """600 examples of 1 to 120 words of real text, unpadded, as a tokenizer's lists."""
    words = datasets.corpus_text("wiki-leads").read_text(encoding="utf-8").split()
    rng = np.random.default_rng(0)
    texts, at = [], 0
    for _ in range(600):
        n = int(rng.integers(1, 121))
        texts.append(" ".join(words[at : at + n]))
        at += n
    enc = unpadded(bert, texts, max_length=128, truncation=True)
    keys = ("input_ids", "token_type_ids", "special_tokens_mask")
    return [{k: enc[k][i] for k in keys} for i in range(len(texts))]


def unpadded(bert: Any, texts: list[str], **kwargs: Any) -> dict[str, list[list[int]]]:
    """The texts' fields as one list of ints per text, unpadded (as a dataset map gives)."""
    enc = bert.encode_batch(
        texts, padding=True, return_tensors="np", return_special_tokens_mask=True,
        return_word_ids=True, **kwargs,
    )  # fmt: skip
    lengths = enc["attention_mask"].sum(axis=1)
    return {k: [row[:n].tolist() for row, n in zip(v, lengths, strict=True)]
            for k, v in enc.items()}  # fmt: skip


def reference_pad(rows: list[list[int]], fill: int, multiple: int, left: bool) -> np.ndarray:
    """The readable padding: each row, then ``fill`` up to the longest row rounded up."""
    width = max(len(r) for r in rows)
    width = (width + multiple - 1) // multiple * multiple
    return np.array([[fill] * (width - len(r)) + r if left else r + [fill] * (width - len(r))
                     for r in rows])  # fmt: skip


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("multiple", [None, 8])
def test_padding_matches_the_reference_and_hf(
    bert: Any, examples: list[dict[str, list[int]]], side: str, multiple: int | None
) -> None:
    part = examples[:64]
    collate = lf.MLMCollator(
        bert, mlm_probability=0.0, padding_side=side, pad_to_multiple_of=multiple
    )
    batch = collate(part)
    assert list(batch) == ["input_ids", "token_type_ids", "attention_mask", "labels"]
    left, m = side == "left", multiple or 1
    ids = [e["input_ids"] for e in part]
    assert (batch["input_ids"].numpy() == reference_pad(ids, 0, m, left)).all()
    types = [e["token_type_ids"] for e in part]
    assert (batch["token_type_ids"].numpy() == reference_pad(types, 0, m, left)).all()
    ones = [[1] * len(r) for r in ids]
    assert (batch["attention_mask"].numpy() == reference_pad(ones, 0, m, left)).all()
    assert (batch["labels"] == -100).all()
    assert all(v.dtype == torch.int64 for v in batch.values())

    transformers = pytest.importorskip("transformers")
    path = datasets.files("bert-base-uncased")["tokenizer.json"]
    hf_tok = transformers.BertTokenizerFast(tokenizer_file=str(path), padding_side=side)
    plain = [{k: v for k, v in e.items() if k != "special_tokens_mask"} for e in part]
    theirs = hf_tok.pad(plain, pad_to_multiple_of=multiple, return_tensors="pt")
    for key in ("input_ids", "token_type_ids", "attention_mask"):
        assert torch.equal(theirs[key], batch[key]), key
    # built from the transformers tokenizer instead: the same batch
    assert all(
        torch.equal(v, batch[k])
        for k, v in lf.MLMCollator(hf_tok, mlm_probability=0.0, pad_to_multiple_of=multiple)(
            part
        ).items()
    )


def test_masking_statistics_and_invariants(bert: Any, examples: list[dict[str, list[int]]]) -> None:
    collate = lf.MLMCollator(bert, seed=3)
    mask_id = bert.token_to_id("[MASK]")
    specials = np.array(sorted(bert.special_tokens.values()))
    picked_n = eligible_n = mask_n = kept_n = 0
    for start in range(0, len(examples), 100):
        part = examples[start : start + 100]
        batch = {k: v.numpy() for k, v in collate(part).items()}
        original = reference_pad([e["input_ids"] for e in part], 0, 1, False)
        flags = reference_pad([e["special_tokens_mask"] for e in part], 1, 1, False)
        labels, ids = batch["labels"], batch["input_ids"]
        picked = labels != -100
        eligible = (flags == 0) & ~np.isin(original, specials)
        assert not (picked & ~eligible).any(), "a special or padding position was picked"
        assert (labels[picked] == original[picked]).all()
        assert (ids[~picked] == original[~picked]).all()
        changed = picked & (ids != original) & (ids != mask_id)
        assert not np.isin(ids[changed], specials).any()
        picked_n += picked.sum()
        eligible_n += eligible.sum()
        mask_n += (ids[picked] == mask_id).sum()
        kept_n += (ids[picked] == original[picked]).sum()
    # about 36,000 eligible tokens: 5 standard deviations of each rate
    rate = picked_n / eligible_n
    assert abs(rate - 0.15) < 5 * np.sqrt(0.15 * 0.85 / eligible_n)
    assert abs(mask_n / picked_n - 0.8) < 5 * np.sqrt(0.16 / picked_n)
    assert abs(kept_n / picked_n - 0.1) < 5 * np.sqrt(0.09 / picked_n) + 1e-3
    # each call is a new step: two calls on one batch mask different positions
    first, second = collate(examples[:50])["labels"], collate(examples[:50])["labels"]
    assert not torch.equal(first, second)


def test_rows_of_every_kind_give_one_batch(bert: Any, examples: list[dict[str, list[int]]]) -> None:
    part = examples[:40]
    kinds = {
        "lists": part,
        "tuples": [{k: tuple(v) for k, v in e.items()} for e in part],
        "numpy": [{k: np.array(v, dtype=np.int32) for k, v in e.items()} for e in part],
        "torch": [{k: torch.tensor(v) for k, v in e.items()} for e in part],
        "mixed": [e if i % 2 else {k: np.array(v) for k, v in e.items()}
                  for i, e in enumerate(part)],
    }  # fmt: skip
    batches = {name: lf.MLMCollator(bert, seed=5)(rows) for name, rows in kinds.items()}
    for name, batch in batches.items():
        for key, value in batch.items():
            assert torch.equal(value, batches["lists"][key]), (name, key)
    # a batch as columns (a dataset slice) is the same batch
    columns = {k: [e[k] for e in part] for k in part[0]}
    as_columns = lf.MLMCollator(bert, seed=5)(columns)
    assert all(torch.equal(v, batches["lists"][k]) for k, v in as_columns.items())
    # a numpy-format slice of rows of different lengths holds 1-D object arrays of rows:
    # columns too (it was refused as one example, "pass [example]")
    ragged = {k: np.array([np.array(r) for r in v] + [None], dtype=object)[:-1]
              for k, v in columns.items()}  # fmt: skip
    assert ragged["input_ids"].ndim == 1
    as_objects = lf.MLMCollator(bert, seed=5)(ragged)
    assert all(torch.equal(v, batches["lists"][k]) for k, v in as_objects.items())
    # bare sequences are examples with input_ids alone
    bare = lf.MLMCollator(bert, seed=5)([e["input_ids"] for e in part])
    assert list(bare) == ["input_ids", "attention_mask", "labels"]
    plain = lf.MLMCollator(bert, seed=5)([{"input_ids": e["input_ids"]} for e in part])
    assert all(torch.equal(bare[k], plain[k]) for k in bare)


def test_given_masks_are_honoured(bert: Any, examples: list[dict[str, list[int]]]) -> None:
    part = [dict(e) for e in examples[:30]]
    rng = np.random.default_rng(1)
    for e in part:  # holes in the attention mask and extra never-mask flags
        n = len(e["input_ids"])
        e["attention_mask"] = (rng.random(n) > 0.2).astype(int).tolist()
        extra = (rng.random(n) < 0.2).astype(int)
        e["special_tokens_mask"] = np.maximum(e["special_tokens_mask"], extra).tolist()
    # every eligible position picked, none of the others
    batch = lf.MLMCollator(bert, mlm_probability=1.0)(part)
    attention = reference_pad([e["attention_mask"] for e in part], 0, 1, False)
    assert (batch["attention_mask"].numpy() == attention).all()
    flags = reference_pad([e["special_tokens_mask"] for e in part], 1, 1, False)
    original = reference_pad([e["input_ids"] for e in part], 0, 1, False)
    specials = np.array(sorted(bert.special_tokens.values()))
    eligible = (attention == 1) & (flags == 0) & ~np.isin(original, specials)
    assert ((batch["labels"].numpy() != -100) == eligible).all()


def test_whole_words_and_per_example_fields(bert: Any) -> None:
    texts = ["unbelievably tokenization", "hello", "transformers everywhere tonight"] * 20
    enc = unpadded(bert, texts)
    part = [
        {"input_ids": list(enc["input_ids"][i]), "word_ids": list(enc["word_ids"][i]),
         "label": i % 3, "score": i / 7}
        for i in range(len(texts))
    ]  # fmt: skip
    batch = lf.MLMCollator(bert, whole_word=True, mlm_probability=0.5, seed=2)(part)
    # word ids as transformers gives them (None at special tokens): the same batch
    with_none = [dict(e, word_ids=[None if w < 0 else w for w in e["word_ids"]]) for e in part]
    same = lf.MLMCollator(bert, whole_word=True, mlm_probability=0.5, seed=2)(with_none)
    assert all(torch.equal(same[k], batch[k]) for k in batch)
    words = reference_pad([list(map(int, e["word_ids"])) for e in part], -1, 1, False)
    picked = batch["labels"].numpy() != -100
    for r in range(len(part)):
        for w in set(words[r][words[r] >= 0].tolist()):
            at = picked[r][words[r] == w]
            assert at.all() or not at.any(), "a word was picked in part"
    assert picked.any()
    assert batch["label"].tolist() == [i % 3 for i in range(len(texts))]
    assert batch["label"].dtype == torch.int64
    # stacked as transformers' collators stack them: Python floats as float32
    assert torch.equal(batch["score"], torch.tensor([i / 7 for i in range(len(texts))]))
    assert batch["score"].dtype == torch.float32
    # a transformers tokenizer: its words from its vocabulary, as the lexforge one's (it
    # needed word_ids, and the error pointed at Masker.from_tokenizer, which refused it)
    transformers = pytest.importorskip("transformers")
    hf = transformers.PreTrainedTokenizerFast(
        tokenizer_file=str(datasets.files("bert-base-uncased")["tokenizer.json"]),
        unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]",
        mask_token="[MASK]",
    )  # fmt: skip
    bare = [{"input_ids": e["input_ids"]} for e in part]
    theirs = lf.MLMCollator(hf, whole_word=True, mlm_probability=0.5, seed=2)(bare)
    ours = lf.MLMCollator(bert, whole_word=True, mlm_probability=0.5, seed=2)(bare)
    assert all(torch.equal(theirs[k], ours[k]) for k in ours)
    assert lf.Masker.from_tokenizer(hf, whole_word=True).knows_words
    with pytest.raises(ConfigError, match="takes a lexforge tokenizer, or a transformers fast"):
        lf.Masker.from_tokenizer(object())


def test_data_loader_workers_numpy_output_and_pickle(
    bert: Any, examples: list[dict[str, list[int]]]
) -> None:
    collate = lf.MLMCollator(bert, seed=7)

    def run() -> list[Any]:
        torch.manual_seed(0)
        loader = torch.utils.data.DataLoader(
            examples[:64], batch_size=16, num_workers=2, collate_fn=collate
        )
        return [b["labels"] for b in loader]

    one, two = run(), run()
    assert all(torch.equal(a, b) for a, b in zip(one, two, strict=True))
    assert not torch.equal(one[0][:4], one[1][:4])  # batches mask anew

    copy = pickle.loads(pickle.dumps(lf.MLMCollator(bert, seed=7, return_tensors="np")))
    out = copy(examples[:8])
    assert isinstance(out["input_ids"], np.ndarray) and out["input_ids"].dtype == np.int64
    fresh = lf.MLMCollator(bert, seed=7)(examples[:8])
    assert all((out[k] == fresh[k].numpy()).all() for k in out)


def test_bad_input(bert: Any, examples: list[dict[str, list[int]]]) -> None:
    collate = lf.MLMCollator(bert)
    e0, e1 = examples[0], examples[1]
    cases: list[tuple[Any, type[Exception], str]] = [
        ([], ConfigError, "empty"),
        ([e0, {"input_ids": e1["input_ids"]}], ConfigError, r"\[1\] has fields \['input_ids'\]"),
        ([{"input_ids": [101]}, {"input_ids": [101], "label": 1}], ConfigError, "same fields"),
        ([{"input_ids": [101]}, [101, 102]], ConfigError, r"\[1\] has fields a list"),
        ({"input_ids": [[101], [101]], "label": [1]}, ConfigError, "columns differ in length"),
        ({"input_ids": []}, ConfigError, "empty"),
        ({"input_ids": [101, 102], "label": 1}, ConfigError, r"one example .* pass \[example\]"),
        ({"input_ids": [101, 102]}, ConfigError, "one example"),
        ([[101, 102], {"input_ids": [101]}], ConfigError, r"examples\[1\] a mapping"),
        ([{"input_ids": [101], "label": 2**70}], ConfigError, "does not fit int64"),
        ([{"input_ids": [101, 2.5, 102]}], ConfigError, r"\[0\]\['input_ids'\]\[1\] is 2.5"),
        ([{"input_ids": [101, None]}], ConfigError, "is None, not an integer"),
        ([{"input_ids": [101, 7592, 102], "text": "hello"}], ConfigError, "'text'.* is text"),
        ([{"input_ids": [101, 102], "labels": [101, 102]}], ConfigError, "drop that field"),
        ([{"input_ids": [101, 102], "attention_mask": [1]}], ConfigError, "1 attention_mask for 2"),
        ([{"input_ids": np.zeros((2, 3), dtype=int)}], ConfigError, r"shape \(2, 3\)"),
        ([{"input_ids": np.array([1.0, 2.0])}], ConfigError, "float64 values"),
        ([{"input_ids": "hello world"}], ConfigError, "is text"),
        ([{"text": "hello"}], ConfigError, "no 'input_ids'"),
        ([{"input_ids": [101, 10**6, 102]}], ConfigError, r"\[0, 1\] = 1000000 is outside the voc"),
        ([{"input_ids": [101, -3, 102]}], ConfigError, "-3 is outside the vocabulary"),
        ([{"input_ids": [101, 2**70]}], ConfigError, "not an integer within int64"),
    ]  # fmt: skip
    for batch, error, message in cases:
        with pytest.raises(error, match=message):
            collate(batch)
    with pytest.raises(ConfigError, match="return_tensors"):
        lf.MLMCollator(bert, return_tensors="tf")
    with pytest.raises(ConfigError, match="padding_side"):
        lf.MLMCollator(bert, padding_side="middle")
    with pytest.raises(ConfigError, match="pad_to_multiple_of"):
        lf.MLMCollator(bert, pad_to_multiple_of=0)
    with pytest.raises(ConfigError, match="pad_token_id=40000 is outside the vocabulary"):
        lf.MLMCollator(bert, pad_token_id=40_000)
    huge = lf.MLMCollator(bert, pad_to_multiple_of=2**60)
    for rows in ([[101, 102]], [np.array([101, 102])]):  # lists, and arrays
        with pytest.raises(ConfigError, match="more memory than can be allocated"):
            huge(rows)
    with pytest.raises(ConfigError, match="needs a tokenizer"):
        lf.MLMCollator()
    with pytest.raises(ConfigError, match="masker must be"):
        lf.MLMCollator(bert, masker="bert")  # type: ignore[arg-type]
    masker = lf.Masker.from_tokenizer(bert)
    with pytest.raises(ConfigError, match="no padding id"):
        lf.MLMCollator(masker=masker)
    ok = lf.MLMCollator(masker=masker, pad_token_id=0)([[101, 7592, 102], [101, 102]])
    assert ok["input_ids"].shape == (2, 3)


def test_pad_lists_reads_rows_as_they_were_sized() -> None:
    """Ids read through ``__index__`` run Python: an exception there is passed on as it
    is, and a row changed meanwhile is an error, never padding out of step with lengths."""
    from lexforge import _core

    class Boom:
        def __index__(self) -> int:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        _core.pad_lists([[1, Boom()]], 0, "input_ids")

    row: list[Any] = [1, 2]

    class Grows:
        def __index__(self) -> int:
            row.append(3)
            return 7

    row.append(Grows())
    with pytest.raises(ConfigError, match=r"examples\[0\]\['input_ids'\] changed length"):
        _core.pad_lists([row], 0, "input_ids")

    other: list[Any] = [5, 6, 7]

    class Shrinks:
        def __index__(self) -> int:
            other.pop()
            return 4

    with pytest.raises(ConfigError, match=r"examples\[1\]\['input_ids'\] changed length"):
        _core.pad_lists([[Shrinks()], other], 0, "input_ids", 1, 0, True)
    ids, lengths = _core.pad_lists([[1, 2, 3], (4,), [np.int64(5), True]], 9, "x", 4, 0, True)
    assert ids.tolist() == [[9, 1, 2, 3], [9, 9, 9, 4], [9, 9, 5, 1]]
    assert lengths.tolist() == [3, 1, 2]


def test_transformers_arguments_by_name_and_position(
    bert: Any, examples: list[dict[str, list[int]]]
) -> None:
    """transformers' collator's arguments, in its order, mean what they mean there (an
    audit found them refused with TypeError): mlm=False gives its causal labels, equal to
    transformers' own; the replacement shares follow mask_replace_prob and
    random_replace_prob as its do; whole_word_mask is whole_word; seed=None follows
    torch's global generator; and the batch moves with .to() as a BatchEncoding does."""
    transformers = pytest.importorskip("transformers")
    path = datasets.files("bert-base-uncased")["tokenizer.json"]
    hf_tok = transformers.BertTokenizerFast(tokenizer_file=str(path))
    part = [{"input_ids": e["input_ids"]} for e in examples[:64]]
    theirs = transformers.DataCollatorForLanguageModeling(hf_tok, mlm=False)(part)
    for tok in (bert, hf_tok):
        ours = lf.MLMCollator(tok, False)(part)
        for key in ("input_ids", "labels", "attention_mask"):
            assert torch.equal(ours[key], theirs[key]), key

    mask_id = bert.token_to_id("[MASK]")
    for mask, rand in ((0.0, 1.0), (0.5, 0.5), (1.0, 0.0)):
        torch.manual_seed(0)
        hf = transformers.DataCollatorForLanguageModeling(
            hf_tok, mlm_probability=0.5, mask_replace_prob=mask, random_replace_prob=rand
        )(examples)
        ours = lf.MLMCollator(bert, True, False, 0.5, mask, rand)(examples)
        for batch in (hf, ours):
            picked = batch["labels"] != -100
            got = batch["input_ids"][picked]
            assert abs((got == mask_id).float().mean().item() - mask) < 0.02, (mask, rand)
            changed = (got != batch["labels"][picked]) & (got != mask_id)
            assert abs(changed.float().mean().item() - rand) < 0.02, (mask, rand)

    words = lf.MLMCollator(bert, whole_word_mask=True, seed=1)(examples)
    alias = lf.MLMCollator(bert, whole_word=True, seed=1)(examples)
    assert torch.equal(words["labels"], alias["labels"])
    with pytest.raises(ConfigError, match="whole-word masking needs mlm=True"):
        lf.MLMCollator(bert, mlm=False, whole_word_mask=True)
    with pytest.raises(ConfigError, match=r"mlm=False makes causal labels .* no masker"):
        lf.MLMCollator(bert, mlm=False, masker=lf.Masker.from_tokenizer(bert))
    # seed=None: a rate schedule still follows the calls (it sat at its end rate)
    from lexforge.masking import linear_schedule

    ramp = lf.MLMCollator(bert, mlm_probability=linear_schedule(0.0, 0.5, 1000), seed=None)
    assert (ramp(examples)["labels"] != -100).float().mean().item() < 0.01

    follow = lf.MLMCollator(bert, seed=None)
    torch.manual_seed(5)
    a = follow(examples[:64])["labels"]
    b = follow(examples[:64])["labels"]
    torch.manual_seed(5)
    assert torch.equal(follow(examples[:64])["labels"], a)  # the same torch seed: same masks
    assert not torch.equal(a, b)  # the generator moved on: new masks

    moved = follow(examples[:8]).to("cpu")
    assert isinstance(moved, dict) and moved["input_ids"].device.type == "cpu"
