"""Copies of tokenizers: pickled and copied (``DataLoader`` workers started with
``spawn``, ``multiprocessing``, ``copy.deepcopy``), and written to and read from the text
of a ``tokenizer.json`` (``to_str``/``from_str``, as HF's ``Tokenizer``). The oracle is the
original object: every kind lexforge builds or reads (trained, HF ``tokenizer.json`` with
normalizers, pre-tokenizers, added-token flags, templates, truncation and padding; BERT
``vocab.txt`` folders; GPT-2 files; tiktoken rank files) must give, after a round trip, the
same vocabulary, special and added tokens, ids, type ids, masks, offsets, word ids,
overflow windows, decoded text and saved file as before; and HF ``tokenizers`` reads the
text as lexforge does."""

from __future__ import annotations

import copy
import json
import multiprocessing
import pickle
from pathlib import Path
from typing import Any

import pytest

import lexforge as lf

hf = pytest.importorskip("tokenizers")
np = pytest.importorskip("numpy")

from test_parity import TRICKY  # noqa: E402

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
TEXTS = [
    *TRICKY, "École naïve Straße İstanbul ﬁne ＡＢＣ", "Paris is the [MASK] of France.",
    "an <mask> and [SEP] inside", "  lead and trail  ", "x\u0301\u0323 q 中文 한국어 😀👍🏽",
]  # fmt: skip


def _corpus(wiki_text: str) -> list[str]:
    return [line for line in wiki_text.split("\n")[:1500] if line]


def _hf_wordpiece(corpus: list[str], path: Path) -> Path:
    """An HF WordPiece file with general normalizers and pre-tokenizers, added tokens with
    every flag, a template, and truncation and padding set."""
    tok = hf.Tokenizer(hf.models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=12))
    tok.normalizer = hf.normalizers.Sequence(
        [hf.normalizers.NFD(), hf.normalizers.Lowercase(), hf.normalizers.StripAccents()]
    )
    tok.pre_tokenizer = hf.pre_tokenizers.Sequence(
        [hf.pre_tokenizers.Whitespace(), hf.pre_tokenizers.Digits(individual_digits=True)]
    )
    tok.decoder = hf.decoders.WordPiece()
    trainer = hf.trainers.WordPieceTrainer(
        vocab_size=800, special_tokens=SPECIALS, show_progress=False
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    tok.add_tokens(["école", hf.AddedToken("Straße", normalized=False, single_word=True)])
    tok.add_special_tokens([hf.AddedToken("<mask>", lstrip=True, rstrip=True)])
    tok.post_processor = hf.processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )  # fmt: skip
    tok.enable_truncation(24, stride=3)
    tok.enable_padding(pad_id=0, pad_token="[PAD]", pad_to_multiple_of=8)
    tok.save(str(path))
    return path


def _hf_bpe(corpus: list[str], path: Path) -> Path:
    """An HF byte-level BPE file with NFC, a space before each text, added tokens with
    flags, RoBERTa's framing, and truncation set."""
    tok = hf.Tokenizer(hf.models.BPE())
    tok.normalizer = hf.normalizers.NFC()
    tok.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = hf.decoders.ByteLevel()
    trainer = hf.trainers.BpeTrainer(
        vocab_size=900, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )  # fmt: skip
    tok.train_from_iterator(corpus, trainer=trainer)
    tok.add_special_tokens([hf.AddedToken("<mask>", lstrip=True, normalized=False)])
    tok.add_tokens([hf.AddedToken("naïve", rstrip=True), "Straße"])
    tok.post_processor = hf.processors.RobertaProcessing(
        ("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=True
    )
    tok.enable_truncation(20)
    tok.save(str(path))
    return path


def _vocab_folder(path: Path) -> Path:
    """A cased vocab.txt folder whose added_tokens.json and config add tokens."""
    path.mkdir()
    vocab = [*SPECIALS, *"abcdefghijklmnopqrstuvwxyz", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ", ".", ","]
    vocab += ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"] + ["the", "Paris", "##is"]
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (path / "added_tokens.json").write_text(json.dumps({"<new>": len(vocab)}))
    (path / "tokenizer_config.json").write_text(
        json.dumps({"do_lower_case": False, "eos_token": "<eos>"})
    )
    return path


@pytest.fixture(scope="module")
def tokenizers(
    wiki_text: str, gpt2_files: dict[str, Path], rank_files: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:  # fmt: skip
    from lexforge import datasets

    corpus = _corpus(wiki_text)
    tmp = tmp_path_factory.mktemp("pickle")
    trained_bpe = lf.Tokenizer.train_bpe(
        texts=corpus, vocab_size=700, special_tokens=SPECIALS, show_progress=False
    )
    return {
        "bert-base-uncased": lf.Tokenizer.from_file(
            datasets.files("bert-base-uncased")["tokenizer.json"]
        ),
        "hf-wordpiece-pipeline": lf.Tokenizer.from_file(_hf_wordpiece(corpus, tmp / "wp.json")),
        "hf-wordpiece-pipeline source": (tmp / "wp.json").read_text(encoding="utf-8"),
        "vocab-folder": lf.Tokenizer.from_file(_vocab_folder(tmp / "folder")),
        "trained-wordpiece": lf.Tokenizer.train_wordpiece(
            texts=corpus, vocab_size=600, show_progress=False
        ),
        "trained-bpe": trained_bpe,
        "trained-bpe-framed": trained_bpe.with_template("[CLS]", "[SEP]", lstrip=["[MASK]"]),
        "trained-bpe-regex": lf.Tokenizer.train_bpe(
            texts=corpus[:500],
            vocab_size=400,
            pattern=r"\w+|\s+|[^\w\s]+",
            show_progress=False,
        ),
        "hf-bpe-prefix-space": lf.Tokenizer.from_file(_hf_bpe(corpus, tmp / "bpe.json")),
        "hf-bpe-prefix-space source": (tmp / "bpe.json").read_text(encoding="utf-8"),
        "gpt2": lf.Tokenizer.from_gpt2(gpt2_files["encoder.json"], gpt2_files["vocab.bpe"]),
        "cl100k": lf.Tokenizer.from_tiktoken(rank_files["cl100k_base"], pattern="cl100k"),
    }


def _batch(tok: Any, **options: Any) -> dict[str, Any]:
    """Pairs truncated and padded, and single texts cut into overflow windows."""
    fields = {"return_offsets": True, "return_word_ids": True,
              "return_special_tokens_mask": True, "pad_token_id": 0, **options}  # fmt: skip
    pairs = tok.encode_batch(
        TEXTS, [*TEXTS[1:], TEXTS[0]], max_length=16, truncation=True, padding=True,
        return_tensors="np", **fields,
    )  # fmt: skip
    windows = tok.encode_batch(
        TEXTS, max_length=16, truncation=True, padding="max_length", stride=2,
        return_overflowing_tokens=True, return_tensors="np", **fields,
    )  # fmt: skip
    return {
        **{k: np.asarray(v).tolist() for k, v in pairs.items()},
        **{"windows " + k: np.asarray(v).tolist() for k, v in windows.items()},
    }


def assert_same(tok: Any, copied: Any, tmp_path: Path) -> None:
    from lexforge.bpe import BpeTokenizer

    assert type(copied) is type(tok) and repr(copied) == repr(tok)
    assert copied.vocab_size == tok.vocab_size and copied.vocab() == tok.vocab()
    assert copied.special_tokens == tok.special_tokens
    assert copied.added_tokens == tok.added_tokens
    options: dict[str, Any] = {}
    if isinstance(tok, BpeTokenizer):
        options = {"allowed_special": "all"}
        for text in TEXTS:
            want = tok.encode_with_offsets(text, allowed_special="all")
            got = copied.encode_with_offsets(text, allowed_special="all")
            assert [a.tolist() for a in got] == [a.tolist() for a in want], text
    assert copied.encode_batch(TEXTS, **options) == tok.encode_batch(TEXTS, **options)
    assert _batch(copied, **options) == _batch(tok, **options)
    ids = [i for row in tok.encode_batch(TEXTS, **options) for i in row]
    for skip in (True, False):
        assert copied.decode(ids, skip_special_tokens=skip) == tok.decode(
            ids, skip_special_tokens=skip
        )
    tok.save(tmp_path / "a.json")
    copied.save(tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


KINDS = [
    "bert-base-uncased", "hf-wordpiece-pipeline", "vocab-folder", "trained-wordpiece",
    "trained-bpe", "trained-bpe-framed", "trained-bpe-regex", "hf-bpe-prefix-space", "gpt2",
    "cl100k",
]  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_pickled_tokenizers_are_the_same_tokenizer(
    kind: str, tokenizers: dict[str, Any], tmp_path: Path
) -> None:
    tok = tokenizers[kind]
    assert_same(tok, pickle.loads(pickle.dumps(tok, protocol=pickle.HIGHEST_PROTOCOL)), tmp_path)


@pytest.mark.parametrize("kind", ["hf-wordpiece-pipeline", "hf-bpe-prefix-space", "cl100k"])
def test_copies_and_old_protocols(kind: str, tokenizers: dict[str, Any], tmp_path: Path) -> None:
    tok = tokenizers[kind]
    assert_same(tok, copy.copy(tok), tmp_path)
    assert_same(tok, copy.deepcopy(tok), tmp_path)
    assert_same(tok, pickle.loads(pickle.dumps(tok, protocol=2)), tmp_path)


def _encode_in_worker(tok: Any, texts: list[str]) -> list[list[int]]:
    return [tok.encode(t, allowed_special="all") if hasattr(tok, "pattern") else tok.encode(t)
            for t in texts]  # fmt: skip


def test_a_spawned_process_gets_the_same_tokenizer(tokenizers: dict[str, Any]) -> None:
    """What a ``DataLoader(num_workers=..., multiprocessing_context="spawn")`` does: the
    tokenizer travels pickled into a fresh interpreter."""
    chosen = [tokenizers[k] for k in ("hf-wordpiece-pipeline", "trained-bpe-framed")]
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        got = pool.starmap(_encode_in_worker, [(tok, TEXTS) for tok in chosen])
    assert got == [_encode_in_worker(tok, TEXTS) for tok in chosen]


def _count_in_worker(texts: list[str]) -> lf.WordCounts:
    return lf.WordCounts.from_texts(texts, special_tokens=["[SEP]"], num_threads=1)


def test_word_counts_pickle_and_merge_across_processes(wiki_text: str, tmp_path: Path) -> None:
    """Counts made in worker processes travel back pickled; merged, they are the counts of
    the whole corpus, and train the same tokenizer."""
    corpus = [t.replace(". ", ". [SEP] ") for t in _corpus(wiki_text)[:600]]
    whole = lf.WordCounts.from_texts(corpus, special_tokens=["[SEP]"])
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        parts = pool.map(_count_in_worker, [corpus[:300], corpus[300:]])
    merged = parts[0]
    merged.merge(parts[1])
    assert merged.items() == whole.items() and merged.total == whole.total
    assert merged.pattern == whole.pattern and merged.special_tokens == ["[SEP]"]
    lf.Tokenizer.from_counts(whole, vocab_size=500).save(tmp_path / "a.json")
    lf.Tokenizer.from_counts(merged, vocab_size=500).save(tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()

    bert = lf.WordCounts.bert(lowercase=False, strip_accents=True, special_tokens=["[MASK]"])
    bert.add_texts(TEXTS)
    for copied in (pickle.loads(pickle.dumps(bert)), copy.deepcopy(bert)):
        assert copied.items() == bert.items() and copied.normalizer == bert.normalizer
        assert copied.pattern is None and copied.special_tokens == ["[MASK]"]
        copied.merge(bert)  # made alike: merging is allowed
        assert copied.total == 2 * bert.total


@pytest.mark.parametrize("kind", KINDS)
def test_the_json_text_is_the_saved_file_and_loads_back(
    kind: str, tokenizers: dict[str, Any], tmp_path: Path
) -> None:
    tok = tokenizers[kind]
    text = tok.to_str()
    assert "\n" not in text and json.loads(tok.to_str(pretty=True)) == json.loads(text)
    tok.save(tmp_path / "tokenizer.json")
    assert json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8")) == json.loads(text)
    assert_same(tok, lf.Tokenizer.from_str(text), tmp_path)


@pytest.mark.parametrize("kind", ["hf-wordpiece-pipeline", "hf-bpe-prefix-space", "trained-bpe"])
def test_hf_reads_the_json_text_and_its_own_loads_in_lexforge(
    kind: str, tokenizers: dict[str, Any]
) -> None:
    tok = tokenizers[kind]
    theirs = hf.Tokenizer.from_str(tok.to_str())
    options = {"allowed_special": "all"} if hasattr(tok, "pattern") else {}
    want = [e.ids for e in theirs.encode_batch(TEXTS)]
    assert tok.encode_batch(TEXTS, **options) == want
    back = lf.Tokenizer.from_str(theirs.to_str())
    assert back.encode_batch(TEXTS, **options) == want
    if f"{kind} source" in tokenizers:  # a file HF wrote comes back with HF's vocabularies
        source = hf.Tokenizer.from_str(tokenizers[f"{kind} source"])
        for added in (False, True):
            assert theirs.get_vocab(with_added_tokens=added) == source.get_vocab(
                with_added_tokens=added
            )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"model": {"type": "BPE", "vocab": {}', r"<string>:1:\d+: invalid JSON .*ends early"),
        ("{'model': 1}", r"<string>:1:2: invalid JSON .*fix the JSON syntax"),
        ("[1, 2]", "its top level is list, not an object"),
        ('{"hello": 0, "world": 1}', 'no "model" object.*use Tokenizer.from_file'),
        ('{"model": {"type": "Unigram", "vocab": []}}', "<string>.*Unigram"),
    ],
)
def test_bad_json_text_is_named(text: str, message: str) -> None:
    from lexforge.errors import TokenizerFormatError

    with pytest.raises(TokenizerFormatError, match=message):
        lf.Tokenizer.from_str(text)


def test_from_str_takes_text_only() -> None:
    with pytest.raises(TypeError, match="decode it first"):
        lf.Tokenizer.from_str(b"{}")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"for a file, use Tokenizer\.from_file"):
        lf.Tokenizer.from_str(Path("tokenizer.json"))  # type: ignore[arg-type]


def test_a_model_with_its_tokenizer_copies(tiny_checkpoint: Path) -> None:
    """A model from ``from_pretrained`` carries its tokenizer: ``copy.deepcopy`` (EMA
    weights, ``torch.optim.swa_utils.AveragedModel``, model soups) and ``torch.save`` of
    the whole model copy it too (both raised TypeError before tokenizers pickled)."""
    import io

    torch = pytest.importorskip("torch")
    from lexforge.model import BertForMaskedLM

    model = BertForMaskedLM.from_pretrained(tiny_checkpoint)
    want = model.tokenizer.encode("Paris is the capital.")
    ids = torch.tensor([want])
    logits = model(ids).logits
    averaged = torch.optim.swa_utils.AveragedModel(model)
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    for copied in (copy.deepcopy(model), averaged.module, torch.load(buffer, weights_only=False)):
        assert copied.tokenizer is not model.tokenizer
        assert copied.tokenizer.encode("Paris is the capital.") == want
        torch.testing.assert_close(copied.eval()(ids).logits, logits)
