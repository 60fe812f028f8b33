"""A ``vocab.txt`` folder's added and named special tokens, against transformers (the
oracle: ``AutoTokenizer.from_pretrained`` on the same folder): the config's
``added_tokens_decoder`` or the older ``added_tokens.json``, special tokens that the
``tokenizer_config.json``/``special_tokens_map.json`` name but ``vocab.txt`` lacks (new ids),
``additional_special_tokens`` and transformers 5's ``extra_special_tokens``. Random folders
(differential fuzz), the files transformers itself writes, the model loader, and bad files."""

from __future__ import annotations

import json
import random
import warnings
from pathlib import Path
from typing import Any

import pytest

import lexforge as lf
from lexforge.errors import TokenizerFormatError

transformers = pytest.importorskip("transformers")

_TEXT = (
    "The film opens in Paris, where a young writer meets an old friend. Critics called it "
    "a quiet triumph; others found the pacing slow. The director's earlier work won prizes "
    "at Cannes and Venice. Box office returns were modest but steady through the winter. "
    "Café owners near the set said the crew ate there daily, ordering soup and bread."
)
# (no two that normalize alike: which of "covid" and "Covid" HF tokenizers matches in an
# uncased text depends on how its table was built, not on the ids or the order listed)
_NEW = ["covid", "ZORBLAX", "<ent>", "[E1]", "x-ray", "ñandú", "中文词", "##zz", "a b"]
_SPECIAL_FORMS = ["<mask>", "<pad>", "<s>", "</s>", "<unk>", "[NEW]", "<e1>", "<e2>"]


def _vocab(cased: bool) -> list[str]:
    tok = lf.Tokenizer.train_wordpiece(
        texts=[_TEXT] * 20, vocab_size=300, lowercase=not cased, show_progress=False
    )
    vocab = tok.vocab()
    tokens = sorted(vocab, key=vocab.__getitem__)
    return tokens + [f"[unused{i}]" for i in range(300 - len(tokens))]  # 300, as BERT pads


@pytest.fixture(scope="module")
def vocabs() -> dict[bool, list[str]]:
    return {cased: _vocab(cased) for cased in (False, True)}


def _folder(rng: random.Random, root: Path, tokens: list[str]) -> dict[str, Any]:
    """A random vocab.txt folder as transformers would read it; returns what it holds."""
    root.mkdir()
    (root / "vocab.txt").write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    # (without do_lower_case transformers lowercases, lexforge follows the vocabulary's
    # letters: not what this test is about)
    config: dict[str, Any] = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": rng.random() < 0.5,
    }
    named: dict[str, Any] = {}
    for role in ("mask_token", "pad_token", "bos_token", "unk_token"):
        if rng.random() < 0.2:
            # an unknown token that vocab.txt lacks cannot cover words: keep [UNK] there
            choices = ["[UNK]"] if role == "unk_token" else [*_SPECIAL_FORMS, "[MASK]"]
            named[role] = rng.choice(choices)
    extras = rng.sample([*_SPECIAL_FORMS, tokens[7], tokens[40]], rng.randint(0, 3))
    extras = [e for e in extras if e not in named.values()]
    # the names go in the config, the map, or both
    where = rng.choice(["config", "map", "both"])
    if extras:
        # (transformers 5 leaves an added_tokens.json entry that the map alone names under
        # its older key "additional_special_tokens" not special; 4.x made it special, and
        # so does lexforge: the name says so)
        keys = ["extra_special_tokens"] + ["additional_special_tokens"] * (where != "map")
        named[rng.choice(keys)] = extras
    if where in ("config", "both"):
        config.update(named)
    if where in ("map", "both"):
        (root / "special_tokens_map.json").write_text(json.dumps(named))
    # added tokens past the vocabulary, in one of transformers' two ways of saving them
    new = list(dict.fromkeys(rng.sample(_NEW + _SPECIAL_FORMS, rng.randint(0, 5))))
    if rng.random() < 0.5:
        # (which of them are special follows the names, as transformers decides)
        legacy = {t: len(tokens) + i for i, t in enumerate(new)}
        if rng.random() < 0.3 and tokens[9] not in legacy:  # a vocabulary token listed too
            legacy[tokens[9]] = 9
        (root / "added_tokens.json").write_text(json.dumps(legacy))
    else:
        decoder: dict[str, Any] = {}
        entries = [(len(tokens) + i, t) for i, t in enumerate(new)]
        if rng.random() < 0.5:
            entries.append((tokens.index("[PAD]"), "[PAD]"))
        for tid, text in entries:
            special = rng.random() < 0.4
            decoder[str(tid)] = {
                "content": text, "special": special,
                "lstrip": rng.random() < 0.3, "rstrip": rng.random() < 0.3,
                "single_word": rng.random() < 0.3,
                "normalized": rng.random() < (0.2 if special else 0.8),
            }  # fmt: skip
        config["added_tokens_decoder"] = decoder
    (root / "tokenizer_config.json").write_text(json.dumps(config))
    return {"new": new, "named": named}


def _texts(rng: random.Random, tokens: list[str], held: dict[str, Any]) -> list[str]:
    words = [t for t in tokens if not t.startswith("##") and t.isalpha()]
    pieces = held["new"] + [v for v in held["named"].values() if isinstance(v, str)]
    pieces += [e for k, v in held["named"].items() if isinstance(v, list) for e in v]
    out = []
    for _ in range(12):
        parts = []
        for _ in range(rng.randint(1, 9)):
            part = rng.choice(pieces) if pieces and rng.random() < 0.4 else rng.choice(words)
            part = (
                rng.choice([part, part.upper(), part.capitalize()]) if rng.random() < 0.3 else part
            )
            parts.append(part)
            parts.append(rng.choice([" ", " ", "  ", "", ", ", "\t"]))
        out.append("".join(parts).strip() or "x")
    return out


def _check(seed: int, root: Path, vocabs: dict[bool, list[str]]) -> None:
    rng = random.Random(seed)
    tokens = vocabs[rng.random() < 0.5]
    held = _folder(rng, root / str(seed), tokens)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = transformers.AutoTokenizer.from_pretrained(str(root / str(seed)))
    ours = lf.Tokenizer.from_file(root / str(seed))
    assert ours.vocab() == theirs.get_vocab(), (seed, held)
    for text in _texts(rng, tokens, held):
        want = theirs(text)["input_ids"]
        assert ours.encode(text) == want, (seed, held, text)
        for skip in (True, False):
            assert ours.decode(want, skip_special_tokens=skip) == theirs.decode(
                want, skip_special_tokens=skip
            ), (seed, held, text, skip)


@pytest.mark.parametrize("block", range(3))
def test_random_folders_load_as_transformers_loads_them(
    block: int, tmp_path: Path, vocabs: dict[bool, list[str]]
) -> None:
    for seed in range(block * 100, block * 100 + 100):
        _check(seed, tmp_path, vocabs)


@pytest.mark.slow
@pytest.mark.parametrize("block", range(10))
def test_random_folders_load_as_transformers_loads_them_long(
    block: int, tmp_path: Path, vocabs: dict[bool, list[str]]
) -> None:
    for seed in range(10_000 + block * 500, 10_000 + block * 500 + 500):
        _check(seed, tmp_path, vocabs)


def test_the_files_transformers_writes_load_as_it_loads_them(tmp_path: Path) -> None:
    """transformers' own save of a slow BERT tokenizer with added tokens (vocab.txt,
    added_tokens.json and a config holding added_tokens_decoder), read through both of its
    files: the config's table, and added_tokens.json once the table is gone."""
    legacy_class = getattr(transformers, "BertTokenizerLegacy", None) or transformers.BertTokenizer
    (tmp_path / "vocab.txt").write_text("\n".join(_vocab(False)) + "\n", encoding="utf-8")
    slow = legacy_class(str(tmp_path / "vocab.txt"), do_lower_case=True)
    slow.add_tokens(["covid", transformers.AddedToken("<ent>", lstrip=True, normalized=False)])
    slow.add_special_tokens({"additional_special_tokens": ["<sp1>"]})
    slow.save_pretrained(str(tmp_path / "saved"))
    assert (tmp_path / "saved" / "added_tokens.json").is_file()
    config_path = tmp_path / "saved" / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "BertTokenizer"
    texts = ["Covid in paris <ent>here", "the film<sp1> covid,covid", "x <ent> <sp1>"]
    for variant in ("decoder", "legacy"):
        if variant == "legacy":
            del config["added_tokens_decoder"]
        config_path.write_text(json.dumps(config))
        theirs = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "saved"))
        ours = lf.Tokenizer.from_file(tmp_path / "saved" / "vocab.txt")
        assert ours.vocab() == theirs.get_vocab(), variant
        for text in texts:
            assert ours.encode(text) == theirs(text)["input_ids"], (variant, text)
    assert ours.token_to_id("<sp1>") is not None and "<sp1>" in ours.special_tokens


def test_an_unnamed_default_special_in_added_tokens_json_stays_normalized(
    tmp_path: Path,
) -> None:
    """A vocab.txt without [MASK] whose added_tokens.json adds it, in a folder that names no
    mask token: transformers makes it special (BERT's default) but keeps it normalized, as
    added_tokens.json's unnamed tokens are, so an uncased text's "[mask]" is found too."""
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nmask\n[\n]\n")
    (tmp_path / "added_tokens.json").write_text(json.dumps({"[MASK]": 8, "Foo": 9}))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    theirs = transformers.BertTokenizer.from_pretrained(str(tmp_path))
    ours = lf.Tokenizer.from_file(tmp_path)
    assert "[MASK]" in ours.special_tokens
    for text in ("hello [MASK]", "hello [mask] [Mask]", "foo FOO hello"):
        want = theirs(text)["input_ids"]
        assert ours.encode(text) == want, text
        assert ours.decode(want, skip_special_tokens=True) == theirs.decode(
            want, skip_special_tokens=True
        )
    assert ours.encode("[mask]", add_special_tokens=False) == [8]


def test_a_checkpoint_folder_with_added_tokens_keeps_its_tokenizer(tmp_path: Path) -> None:
    """A model folder saved with a vocab.txt and an added_tokens.json (older transformers):
    from_pretrained gives the model its tokenizer, whose ids cover the embeddings."""
    torch = pytest.importorskip("torch")
    tokens = _vocab(False)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    (folder / "added_tokens.json").write_text(json.dumps({"covid": len(tokens)}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    config = transformers.BertConfig(
        vocab_size=len(tokens) + 1, hidden_size=32, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
    )  # fmt: skip
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(str(folder))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "loads without a tokenizer"
        model = lf.model.BertModel.from_pretrained(folder)
    assert model.tokenizer is not None
    theirs = transformers.AutoTokenizer.from_pretrained(str(folder))
    text = "Covid in Paris, covid"
    assert model.tokenizer.encode(text) == theirs(text)["input_ids"]
    assert len(tokens) in model.tokenizer.encode(text)
    words = model.embed_words([text])[0]
    assert words.words == ["Covid", "in", "Paris", ",", "covid"]
    assert words.vectors.shape == (5, 32)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"added_tokens.json": [["covid", 300]]},
            r"added_tokens\.json: the file: must be an object",
        ),
        ({"added_tokens.json": {"covid": "300"}}, r"the id of 'covid' is not an integer"),
        ({"added_tokens.json": {"covid": 305}}, r"'covid' has id 305, but .* gives it 300"),
        ({"added_tokens.json": {"covid": 300, "zz": 300}}, r"'zz' has id 300, but .* gives it 301"),
        ({"added_tokens.json": {"[CLS]": 300}}, r"'\[CLS\]' has id 300, but it is line 3 of"),
        ({"added_tokens.json": {"covid": 7}}, r"'covid' has id 7, which vocab\.txt gives to"),
        ({"added_tokens.json": {"": 300}}, r"needs text"),
        (
            {"tokenizer_config.json": {"added_tokens_decoder": []}},
            r"added_tokens_decoder: must be an object",
        ),
        (
            {"tokenizer_config.json": {"added_tokens_decoder": {"x": {"content": "a"}}}},
            r'added_tokens_decoder\["x"\]: the key must be a token id',
        ),
        (
            {"tokenizer_config.json": {"added_tokens_decoder": {"300": {"content": 5}}}},
            r'added_tokens_decoder\["300"\]\.content: must be the token',
        ),
        (
            {
                "tokenizer_config.json": {
                    "added_tokens_decoder": {"300": {"content": "a", "lstrip": "no"}}
                }
            },
            r'added_tokens_decoder\["300"\]\.lstrip: must be true or false',
        ),
        (
            {"tokenizer_config.json": {"added_tokens_decoder": {"302": {"content": "covid"}}}},
            r'added_tokens_decoder\["302"\]: .* gives it 300',
        ),
        (
            {
                "tokenizer_config.json": {
                    "added_tokens_decoder": {"300": {"content": "a"}, "301": {"content": "a"}}
                }
            },
            r"'a': listed twice, with ids 300 and 301",
        ),
    ],
)
def test_bad_added_token_files_are_named(
    tmp_path: Path, files: dict[str, Any], message: str
) -> None:
    tokens = _vocab(False)
    assert len(tokens) == 300
    (tmp_path / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    for name, doc in files.items():
        (tmp_path / name).write_text(json.dumps(doc))
    with pytest.raises(TokenizerFormatError, match=message):
        lf.Tokenizer.from_file(tmp_path / "vocab.txt")
