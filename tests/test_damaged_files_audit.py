"""Files damaged on disk where the other tests do not look, found by mutating the files
lexforge writes: each is refused with lexforge's typed error naming the file, never a raw
``UnicodeDecodeError``, ``KeyError`` or ``tokenize.TokenError``, nor read as less than it
held. A checkpoint's ``state.json`` that is not UTF-8, or whose optimizer group lacks a
setting Adam reads, or holds another than the run's options give; a resumed run's
``log.jsonl`` line whose fields are not numbers (left out of the curves, as a line that
does not parse is); a shard's ``.npy`` header cut short; a word-count file cut after a
count, or whose special tokens are one string; Parquet column names and strings that are
not UTF-8 (Arrow reads them unchecked). Oracles: Python's UTF-8 decoder, numpy's and
Arrow's readers and torch's AdamW, each failing on the file (or taking its setting)."""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lexforge as lf
from lexforge.errors import CheckpointError, ConfigError, CorpusError, ShardError

WORDS = ("the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "away", "house", "tree")
SMALL = {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "intermediate_size": 32,
         "max_position_embeddings": 32}  # fmt: skip
# resumed runs go on past the steps the run planned, which is warned of
pytestmark = pytest.mark.filterwarnings("ignore:.*recomputes the learning-rate schedule")
RUN = {"batch_size": 4, "max_seq_len": 24, "save_every": 1, "keep": 2, "progress": False}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("damaged")
    rng = random.Random(0)
    docs = [
        "\n".join(" ".join(rng.choice(WORDS) for _ in range(6)) + "." for _ in range(3))
        for _ in range(20)
    ]
    text = root / "train.txt"
    text.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    tok = lf.Tokenizer.train_wordpiece(files=[text], vocab_size=80, show_progress=False)
    shards = lf.build_shards(text, root / "shards", tok, progress=False)
    return {"root": root, "tok": tok, "shards": shards}


@pytest.fixture(scope="module")
def run(corpus: dict[str, Any]) -> Path:
    """A finished two-step run, with its checkpoints (copied by each test)."""
    pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    out = corpus["root"] / "run"
    lf.pretrain(corpus["shards"], out, model=_config(corpus), steps=2, **RUN)
    return out


def _config(corpus: dict[str, Any]) -> Any:
    from lexforge.model import BertConfig

    return BertConfig(vocab_size=corpus["tok"].vocab_size, **SMALL)


def _resume(corpus: dict[str, Any], out: Path) -> Any:
    return lf.pretrain(corpus["shards"], out, model=_config(corpus), steps=3, resume=True, **RUN)


def _copy(run: Path, tmp_path: Path) -> tuple[Path, Path]:
    out = tmp_path / "run"
    shutil.copytree(run, out)
    return out, out / "checkpoints" / "step-0000002" / "state.json"


# checkpoints and the log a resumed run reads -----------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1"])
def test_a_state_json_not_in_utf8_is_a_checkpoint_error(
    corpus: dict[str, Any], run: Path, tmp_path: Path, encoding: str
) -> None:
    """Was a raw UnicodeDecodeError (read in the locale's encoding, too)."""
    out, state = _copy(run, tmp_path)
    text = state.read_text(encoding="utf-8").replace('"BertForPreTraining"', '"Bért"', 1)
    state.write_bytes(text.encode(encoding))
    with pytest.raises(UnicodeDecodeError):  # the oracle: the bytes are not UTF-8
        state.read_bytes().decode("utf-8")
    with pytest.raises(CheckpointError, match=r"step-0000002 cannot be read: its state\.json"):
        _resume(corpus, out)


@pytest.mark.parametrize("setting", ["lr", "betas", "eps", "weight_decay"])
def test_an_optimizer_group_lacking_a_setting_adam_reads_is_a_checkpoint_error(
    corpus: dict[str, Any], run: Path, tmp_path: Path, setting: str
) -> None:
    """Was a KeyError from AdamW's first step, after the checkpoint had loaded."""
    import torch

    out, state = _copy(run, tmp_path)
    saved = json.loads(state.read_text(encoding="utf-8"))
    del saved["param_groups"][1][setting]
    state.write_text(json.dumps(saved), encoding="utf-8")
    # the oracle: torch's AdamW given such a group fails at its step
    weight = torch.nn.Parameter(torch.ones(2))
    adam = torch.optim.AdamW([weight])
    group = {k: v for k, v in adam.state_dict()["param_groups"][0].items() if k != setting}
    adam.load_state_dict({"state": {}, "param_groups": [group]})
    weight.grad = torch.ones(2)
    with pytest.raises(KeyError):
        adam.step()
    with pytest.raises(CheckpointError, match=f"group 1 has no {setting}; resume from an"):
        _resume(corpus, out)


@pytest.mark.parametrize("value", [10**400, -(10**400)], ids=["huge", "-huge"])
def test_an_optimizer_setting_past_a_floats_range_is_a_checkpoint_error(
    corpus: dict[str, Any], run: Path, tmp_path: Path, value: int
) -> None:
    """Was a raw OverflowError from checking that the setting is a finite number."""
    out, state = _copy(run, tmp_path)
    saved = json.loads(state.read_text(encoding="utf-8"))
    saved["param_groups"][1]["eps"] = value
    state.write_text(json.dumps(saved), encoding="utf-8")
    with pytest.raises(OverflowError):  # the oracle: no float holds it
        float(value)
    with pytest.raises(CheckpointError, match=r"group 1 has eps=-?10{20}.*, not a number"):
        _resume(corpus, out)


@pytest.mark.parametrize(
    ("group", "setting", "value"),
    [(0, "weight_decay", 0.02), (1, "weight_decay", 0.01), (0, "betas", [0.8, 0.999]),
     (1, "eps", 1e-3), (0, "maximize", True), (1, "initial_lr", 0.5)],
    ids=["decay", "decay-on-norms", "betas", "eps", "maximize", "initial_lr"],
)  # fmt: skip
def test_an_optimizer_setting_edited_on_disk_is_a_checkpoint_error(
    corpus: dict[str, Any], run: Path, tmp_path: Path, group: int, setting: str, value: Any
) -> None:
    """A plausible value that is not the run's resumed silently: torch's AdamW takes a
    group's settings from the state it loads (the oracle below), so the run trained on with
    the edited decay, betas, eps, direction or base rate, while its options (checked
    against the checkpoint's) said otherwise."""
    import torch

    out, state = _copy(run, tmp_path)
    saved = json.loads(state.read_text(encoding="utf-8"))
    assert saved["param_groups"][group][setting] != value
    saved["param_groups"][group][setting] = value
    state.write_text(json.dumps(saved), encoding="utf-8")
    # the oracle: AdamW goes on with the loaded group's setting, not its own
    weight = torch.nn.Parameter(torch.ones(2))
    adam = torch.optim.AdamW([weight], weight_decay=0.01)
    loaded = {**adam.state_dict()["param_groups"][0], setting: value}
    adam.load_state_dict({"state": {}, "param_groups": [loaded]})
    assert adam.param_groups[0][setting] == value
    with pytest.raises(CheckpointError, match=f"group {group} has {setting}=.*the run's options"):
        _resume(corpus, out)
    _resume(corpus, _copy(run, tmp_path / "as-saved")[0])  # the checkpoint as saved resumes


@pytest.mark.parametrize(
    ("flag", "value"),
    [("differentiable", True), ("capturable", True), ("fused", False), ("foreach", True)],
)
def test_the_kernel_flags_of_an_optimizer_group_are_the_runs_own(
    corpus: dict[str, Any], run: Path, tmp_path: Path, flag: str, value: Any
) -> None:
    """differentiable=True was a raw RuntimeError from AdamW's first step (with fused);
    these choose kernels, not the updates (a checkpoint saved where a fused kernel exists
    resumes where none does), so the run's own are kept. The oracle: the same resume from
    the checkpoint as saved."""
    import torch

    reference, _ = _copy(run, tmp_path / "reference")
    out, state = _copy(run, tmp_path)
    saved = json.loads(state.read_text(encoding="utf-8"))
    for group in saved["param_groups"]:
        group[flag] = value
    state.write_text(json.dumps(saved), encoding="utf-8")
    got, want = _resume(corpus, out).model, _resume(corpus, reference).model
    for (name, a), b in zip(got.state_dict().items(), want.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


@pytest.mark.parametrize(
    "damage",
    [{"nsp_accuracy": None}, {"mlm_loss": {}}, {"nsp_loss": []}, {"mlm_accuracy": "0.5"}],
    ids=["missing", "object", "list", "string"],
)
def test_a_log_line_whose_fields_are_not_numbers_is_left_out_of_the_curves(
    corpus: dict[str, Any], run: Path, tmp_path: Path, damage: dict[str, Any]
) -> None:
    """A resumed run keeps a log line whose step reads; drawing its curves at the end
    raised a raw KeyError, TypeError or ValueError after the training had finished."""
    pytest.importorskip("matplotlib")
    out, _ = _copy(run, tmp_path)
    log = out / "log.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert first["step"] <= 2 and isinstance(first["mlm_loss"], float)  # kept on resume
    for key, value in damage.items():
        first.pop(key) if value is None else first.__setitem__(key, value)
    log.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n", encoding="utf-8")
    (out / "curves.png").unlink()
    result = _resume(corpus, out)
    assert (out / "curves.png").stat().st_size > 0
    assert [r["step"] for r in result.history if r.get("split") == "train"][-1] == 3


# shards --------------------------------------------------------------------------------------


def test_a_shard_npy_header_cut_short_is_a_shard_error(
    corpus: dict[str, Any], tmp_path: Path
) -> None:
    """numpy reads such a header with the tokenize module, whose TokenError was raised
    raw. The file keeps its size, so the manifest's byte counts do not catch it."""
    shards = tmp_path / "shards"
    shutil.copytree(corpus["shards"].directory, shards)
    path = next(shards.glob("*.documents.npy"))
    data = path.read_bytes()
    end = data.index(b"}")
    path.write_bytes(data[:end] + b" " + data[end + 1 :])
    with pytest.raises(Exception) as refused:  # the oracle: numpy refuses the file
        np.load(path, allow_pickle=False)
    assert not isinstance(refused.value, lf.errors.LexforgeError)
    with pytest.raises(ShardError, match=rf"shard file {path} is unreadable"):
        data_set = lf.PretrainingDataset(lf.ShardSet(shards), batch_size=4, max_seq_len=24)
        next(iter(data_set))


def _header_replaced(old: bytes, new: bytes) -> Any:
    def damage(data: bytes) -> bytes:
        header = data[: data.index(b"\n") + 1]
        return header.replace(old, new, 1) + data[len(header) :]

    return damage


def _header_length_less(data: bytes) -> bytes:
    """The header length field 1 less: numpy reads the header (its padding is spaces) and
    then the data a byte early, shifted; the file keeps its size."""
    length = int.from_bytes(data[8:10], "little") - 1
    return data[:8] + length.to_bytes(2, "little") + data[10:]


@pytest.mark.parametrize(
    ("part", "damage"),
    [
        ("documents", _header_replaced(b"}", b" ")),
        ("tokens", _header_replaced(b"'<u2'", b"'<i2'")),
        ("sentences", _header_replaced(b"(", b" ")),
        ("tokens", _header_length_less),
    ],
    ids=["cut-short", "dtype", "shape", "length"],
)
def test_a_shard_whose_header_was_damaged_in_place_is_built_again(
    corpus: dict[str, Any], tmp_path: Path, part: str, damage: Any
) -> None:
    """ShardSet says "rebuild it"; build_shards kept the file (its size is the recorded
    one) and failed the same way, every time (a shifted header was read as data, shifted).
    The oracle: a clean build's arrays."""
    shards = tmp_path / "shards"
    shutil.copytree(corpus["shards"].directory, shards)
    path = next(shards.glob(f"*.{part}.npy"))
    data = path.read_bytes()
    path.write_bytes(damage(data))
    assert path.read_bytes() != data and len(path.read_bytes()) == len(data)
    with pytest.raises(ShardError, match=rf"shard file {path} .*; rebuild it"):
        next(iter(lf.PretrainingDataset(lf.ShardSet(shards), batch_size=4, max_seq_len=24)))
    text = corpus["root"] / "train.txt"
    rebuilt = lf.build_shards(text, shards, corpus["tok"], progress=False)
    assert path.read_bytes() == data
    for found in rebuilt.directory.glob("*.npy"):
        clean = np.load(corpus["shards"].directory / found.name)
        np.testing.assert_array_equal(np.load(found), clean)


def _in_vocab_flip(path: Path, vocab_size: int) -> tuple[int, int, int]:
    """Changes one token id of a tokens file in place to another id of the vocabulary
    (the file keeps its size and header): (position, id before, id after)."""
    tokens = np.load(path, mmap_mode="r+")
    at = tokens.size // 2
    before = int(tokens[at])
    after = (before + 1) % vocab_size
    tokens[at] = after
    tokens.flush()
    del tokens
    return at, before, after


@pytest.mark.parametrize("part", ["tokens", "sentences", "documents"])
def test_a_shard_changed_in_place_within_the_vocabulary_is_found_and_built_again(
    corpus: dict[str, Any], tmp_path: Path, part: str
) -> None:
    """Opening the shards checks sizes and headers, so an id changed to another id of the
    vocabulary (a flipped bit, an edit) trained silently, and a rerun of build_shards kept
    the file. Now ``verify`` (which pretrain calls) names the file, and a rerun builds it
    again. The oracles: numpy reads the changed file as valid ids, other than written; the
    clean build's arrays."""
    shards = tmp_path / "shards"
    shutil.copytree(corpus["shards"].directory, shards)
    path = next(shards.glob(f"*.{part}.npy"))
    written = np.load(path).copy()
    data = path.read_bytes()
    if part == "tokens":
        _in_vocab_flip(path, corpus["tok"].vocab_size)
    else:  # an offset one later: still increasing, still within the tokens
        offsets = np.load(path, mmap_mode="r+")
        at = next(i for i in range(1, offsets.size - 1) if offsets[i] + 1 < offsets[i + 1])
        offsets[at] += 1
        offsets.flush()
        del offsets
    changed = np.load(path)
    assert len(path.read_bytes()) == len(data) and not np.array_equal(changed, written)
    if part == "tokens":
        assert int(changed.max()) < corpus["tok"].vocab_size  # every id still a token
    else:
        assert (np.diff(changed) >= 0).all()
    opened = lf.ShardSet(shards)  # (sizes and headers: as written)
    with pytest.raises(ShardError, match=rf"shard file {re.escape(str(path))} is not the file"):
        opened.verify()
    out = tmp_path / "run"
    with pytest.raises(ShardError, match=r"SHA-256 .* delete it and run build_shards again"):
        lf.pretrain(shards, out, model=_config(corpus), steps=1, **RUN)
    text = corpus["root"] / "train.txt"
    rebuilt = lf.build_shards(text, shards, corpus["tok"], progress=False)
    assert path.read_bytes() == data
    assert rebuilt.verify() == sum(f.stat().st_size for f in shards.glob("*.npy"))
    for found in shards.glob("*.npy"):
        clean = np.load(corpus["shards"].directory / found.name)
        np.testing.assert_array_equal(np.load(found), clean)


def test_shards_recorded_without_digests_open_and_verify_nothing(
    corpus: dict[str, Any], tmp_path: Path
) -> None:
    """A manifest from before digests were recorded opens as before (``verify`` has
    nothing to check); a digest that is not a hex SHA-256 is a damaged manifest."""
    shards = tmp_path / "shards"
    shutil.copytree(corpus["shards"].directory, shards)
    manifest_path = shards / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    for record in manifest["shards"].values():
        assert set(record["sha256"]) == {"tokens", "sentences", "documents"}
        del record["sha256"]
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    assert lf.ShardSet(shards).verify() == 0
    record = next(iter(manifest["shards"].values()))
    for bad in ({"tokens": 5}, "abc", {"tokens": "00"}):
        record["sha256"] = bad
        manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
        with pytest.raises(ShardError, match=r"manifest.json is damaged: shard .* sha256"):
            lf.ShardSet(shards)


@pytest.mark.parametrize(
    "entry",
    [[[0, 0, 10, 7]], [[0]], [["0", 0, 10]], [[0, 10, 5]], [[3, 0, 10]], [], 5, [[0, True, 9]]],
    ids=["four", "one", "string", "backwards", "no-source", "empty", "int", "bool"],
)
def test_a_damaged_plan_in_an_unfinished_build_is_a_shard_error(
    corpus: dict[str, Any], tmp_path: Path, entry: Any
) -> None:
    """A rerun reads the plan of the build it resumes: was a raw ValueError, TypeError or
    IndexError from unpacking its ranges."""
    shards = tmp_path / "shards"
    shutil.copytree(corpus["shards"].directory, shards)
    manifest = json.loads((shards / "manifest.json").read_text(encoding="utf-8"))
    manifest["plan"][0] = entry
    manifest["complete"] = False
    (shards / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    text = corpus["root"] / "train.txt"
    with pytest.raises(ShardError, match=r"manifest.json is damaged: plan is not a list of"):
        lf.build_shards(text, shards, corpus["tok"], progress=False)


# word counts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cut", ["{count}", "{count}\t"])
def test_a_word_count_file_cut_after_a_count_is_refused(tmp_path: Path, cut: str) -> None:
    """Its last word was dropped silently: the line still counted as one of the words the
    header lists."""
    counts = lf.WordCounts.bert()
    counts.add(b"hello", 3)
    counts.add(b"world", 2)
    path = tmp_path / "counts.txt"
    counts.save(path)
    assert lf.WordCounts.load(path).items() == counts.items()
    lines = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    count = lines[-1].split("\t")[0]
    path.write_text("\n".join([*lines[:-1], cut.format(count=count)]), encoding="utf-8")
    with pytest.raises(CorpusError, match=rf"{path}:3: expected '<count>\\t<base64 word>'"):
        lf.WordCounts.load(path)


@pytest.mark.parametrize("count", [" 5", "1_0", "\uff15", "-0", "+5"])
def test_a_word_count_that_is_not_plain_digits_is_refused(tmp_path: Path, count: str) -> None:
    """``int`` takes these; save writes none of them."""
    counts = lf.WordCounts.bert()
    counts.add(b"hello", 5)
    path = tmp_path / "counts.txt"
    counts.save(path)
    header, line = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    path.write_text(f"{header}\n{count}\t{line.split(chr(9))[1]}\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=rf"{path}:2: expected"):
        lf.WordCounts.load(path)


def test_word_counts_whose_special_tokens_are_one_string_are_refused(tmp_path: Path) -> None:
    """Not taken as its letters, each a special token (WordCounts refuses such a str)."""
    counts = lf.WordCounts(special_tokens=["<s>"])
    path = tmp_path / "counts.txt"
    counts.save(path)
    header, rest = path.read_text(encoding="utf-8").split("\n", 1)
    tag, meta = header.split("\t", 1)
    changed = {**json.loads(meta), "special_tokens": "<s>"}
    path.write_text(f"{tag}\t{json.dumps(changed)}\n{rest}", encoding="utf-8")
    with pytest.raises(CorpusError, match=rf"{path}:1: malformed header"):
        lf.WordCounts.load(path)


# Parquet -------------------------------------------------------------------------------------


def _parquet_with(tmp_path: Path, good: bytes, bad: bytes, **options: Any) -> Path:
    """A Parquet file written from good text, whose bytes ``good`` (a name or a string,
    stored uncompressed) are then replaced by ``bad``, which is not UTF-8."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "data.parquet"
    table = pa.table({"text": ["HELLO1WORLD here", "the cat sat"], "label": [0, 1]})
    pq.write_table(table, path, compression="none", use_dictionary=False, **options)
    data = path.read_bytes()
    assert good in data and len(good) == len(bad)
    path.write_bytes(data.replace(good, bad))
    with pytest.raises(UnicodeDecodeError):  # the oracle: Arrow's own reading fails
        pq.read_table(path).to_pylist()
    return path


def test_a_parquet_string_not_in_utf8_is_a_corpus_error(tmp_path: Path) -> None:
    path = _parquet_with(tmp_path, b"HELLO1WORLD", b"HELLO\xffWORLD")
    match = rf"{path}: column 'text' holds a string that is not UTF-8 \(byte 0xff, in rows 1"
    with pytest.raises(CorpusError, match=match):
        lf.Tokenizer.train_wordpiece(files=[path], vocab_size=60, show_progress=False)
    with pytest.raises(CorpusError, match=match):
        lf.build_shards(path, tmp_path / "shards", _tok(tmp_path), progress=False)


def _tok(tmp_path: Path) -> Any:
    text = tmp_path / "t.txt"
    text.write_text("the cat sat on the mat\n", encoding="utf-8")
    return lf.Tokenizer.train_wordpiece(files=[text], vocab_size=40, show_progress=False)


def test_a_parquet_column_name_not_in_utf8_is_a_corpus_error(tmp_path: Path) -> None:
    path = _parquet_with(tmp_path, b"label", b"lab\xffl", store_schema=False)
    with pytest.raises(CorpusError, match=rf"{path}: not a readable Parquet file"):
        lf.Tokenizer.train_wordpiece(files=[path], vocab_size=60, show_progress=False)


@pytest.mark.parametrize(
    ("good", "bad", "options"),
    [(b"HELLO1WORLD", b"HELLO\xffWORLD", {}), (b"label", b"lab\xffl", {"store_schema": False})],
    ids=["string", "column-name"],
)
def test_fine_tuning_data_in_parquet_not_in_utf8_is_a_config_error(
    tmp_path: Path, good: bytes, bad: bytes, options: dict[str, Any]
) -> None:
    from lexforge.train._files import read_rows

    path = _parquet_with(tmp_path, good, bad, **options)
    with pytest.raises(ConfigError, match=rf"{path}: .*not UTF-8 \(byte 0xff\)"):
        read_rows(path, ("parquet", "csv"))


# config.json -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    from lexforge.model import BertConfig, BertForSequenceClassification

    path = tmp_path_factory.mktemp("config") / "model"
    BertForSequenceClassification(BertConfig(vocab_size=40, **SMALL)).save_pretrained(path)
    return path


def _edited(checkpoint: Path, tmp_path: Path, **changes: Any) -> Path:
    path = tmp_path / "model"
    shutil.copytree(checkpoint, path)
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    (path / "config.json").write_text(json.dumps({**config, **changes}), encoding="utf-8")
    return path


@pytest.mark.parametrize("value", [0, False, {}, []], ids=repr)
def test_a_model_type_that_is_false_but_not_absent_is_refused(
    checkpoint: Path, tmp_path: Path, value: Any
) -> None:
    """Was read as no model_type (a BERT); absent, null or "" still is."""
    from lexforge.model import BertForSequenceClassification

    path = _edited(checkpoint, tmp_path, model_type=value)
    shown = re.escape(repr(value))
    with pytest.raises(CheckpointError, match=rf"config.json has model_type {shown} \("):
        BertForSequenceClassification.from_pretrained(path)
    for absent in (None, ""):
        BertForSequenceClassification.from_pretrained(
            _edited(checkpoint, tmp_path / "ok", model_type=absent)
        )
        shutil.rmtree(tmp_path / "ok")


@pytest.mark.parametrize("value", [None, 1.5, [1], {"a": 1}, True], ids=repr)
def test_an_id2label_value_that_is_no_name_is_refused(
    checkpoint: Path, tmp_path: Path, value: Any
) -> None:
    """Was made a name by ``str`` ("None", "1.5"); an integer is still a name, as
    ``BertConfig(labels=...)`` takes it."""
    from lexforge.model import BertForSequenceClassification

    path = _edited(checkpoint, tmp_path, id2label={"0": "neg", "1": value})
    shown = re.escape(repr(value))
    with pytest.raises(CheckpointError, match=rf"id2label names output 1 {shown},"):
        BertForSequenceClassification.from_pretrained(path)
    path = _edited(checkpoint, tmp_path / "int", id2label={"0": "neg", "1": 7})
    assert BertForSequenceClassification.from_pretrained(path).config.labels == ("neg", "7")


@pytest.mark.parametrize("field", ["hidden_dropout_prob", "initializer_range", "layer_norm_eps"])
def test_a_config_number_past_a_floats_range_is_refused(
    checkpoint: Path, tmp_path: Path, field: str
) -> None:
    """Was a raw OverflowError ("int too large to convert to float")."""
    from lexforge.model import BertForSequenceClassification

    path = _edited(checkpoint, tmp_path, **{field: 10**400})
    with pytest.raises(OverflowError):  # the oracle: no float holds it
        float(json.loads((path / "config.json").read_text(encoding="utf-8"))[field])
    with pytest.raises(CheckpointError, match=r"config.json holds a value of the wrong kind"):
        BertForSequenceClassification.from_pretrained(path)


# fine-tuning data and the quickstart's records -----------------------------------------


def test_a_regression_target_past_a_floats_range_is_a_config_error(tmp_path: Path) -> None:
    """Was a raw OverflowError; a target of 1e400 written as a float (inf) already was a
    ConfigError."""
    from lexforge.train.records import read_records

    path = tmp_path / "data.jsonl"
    rows = ['{"text": "a", "label": 0.5}', '{"text": "b", "label": 1' + "0" * 400 + "}"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(OverflowError):  # the oracle
        float(json.loads(rows[1])["label"])
    with pytest.raises(ConfigError, match=rf"{path}: line 2: the regression target 10{{20}}"):
        read_records(path, problem_type="regression")


@pytest.mark.parametrize("kept", [10**400, "NaN", "Infinity"], ids=["huge", "nan", "inf"])
def test_a_quickstart_attempt_record_with_seconds_past_a_float_counts_none(
    tmp_path: Path, kept: Any
) -> None:
    """``.attempt.json``'s seconds: 10**400 was a raw OverflowError; NaN and infinity
    were summed into every later stage's seconds."""
    from lexforge import quickstart

    folder = tmp_path / "pretrain"
    saved = folder / "checkpoints" / "step-1" / "model.safetensors"
    saved.parent.mkdir(parents=True)
    saved.write_bytes(b"")
    shown = kept if isinstance(kept, str) else str(kept)
    (folder / ".attempt.json").write_text(f'{{"started": 0, "kept": {shown}}}', encoding="utf-8")
    assert quickstart._earlier_attempts(folder) == 0.0


@pytest.mark.parametrize(
    "value",
    ["1" + "0" * 400, "-1" + "0" * 400, "NaN", "-Infinity"],
    ids=["huge", "-huge", "nan", "-inf"],
)
def test_a_model_max_length_past_a_floats_range_is_no_limit(tmp_path: Path, value: str) -> None:
    """The ``tokenizer_config.json`` beside a ``vocab.txt``: 10**400 was a raw
    OverflowError; a value transformers would refuse sets no limit, as before."""
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ncat\n", encoding="utf-8")
    config = tmp_path / "tokenizer_config.json"
    config.write_text(f'{{"do_lower_case": true, "model_max_length": {value}}}', encoding="utf-8")
    number = json.loads(config.read_text(encoding="utf-8"))["model_max_length"]
    with pytest.raises((OverflowError, ValueError)):  # the oracle: no length in tokens
        int(float(number))
    limit = lf.Tokenizer.from_file(vocab).model_max_length
    config.unlink()
    assert limit == lf.Tokenizer.from_file(vocab).model_max_length  # as with no config
