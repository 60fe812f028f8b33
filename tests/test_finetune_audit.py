"""Fine-tuning inputs and runs that were once read wrongly or cut silently: JSON records
naming a key twice, one column named for two roles, a multi-label csv's empty cell, runs
cut by the time limit."""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")

from lexforge.errors import ConfigError
from lexforge.train import finetune, read_qa, read_tagged
from lexforge.train.records import read_records

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TEXTS = [("a good film", "pos"), ("a bad film", "neg")] * 4
SENTENCES = [(["John", "lives", "in", "Paris"], ["B-PER", "O", "O", "B-LOC"])] * 4


@pytest.mark.parametrize("layout", ["jsonl", "json"])
def test_a_json_record_naming_a_key_twice_is_refused(tmp_path: Path, layout: str) -> None:
    # json.loads keeps the last of the two values: the label "pos" was lost unsaid
    record = '{"text": "good", "label": "pos", "label": "neg"}'
    other = '{"text": "bad", "label": "neg"}'
    path = tmp_path / f"train.{layout}"
    path.write_text(f"{record}\n{other}\n" if layout == "jsonl" else f"[{record}, {other}]")
    with pytest.raises(ConfigError, match="names the key 'label' twice") as e:
        read_records(path)
    assert str(path) in str(e.value) and ("line 1" in str(e.value)) == (layout == "jsonl")


def test_json_keys_named_twice_are_refused_at_any_depth(tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"  # inside the answers: the first answer's text was lost
    answers = '{"text": ["John"], "text": ["Paris"], "answer_start": [0]}'
    qa.write_text(f'{{"question": "who?", "context": "John lives", "answers": {answers}}}\n')
    with pytest.raises(ConfigError, match="line 1 names the key 'text' twice"):
        read_qa(qa)
    tagged = tmp_path / "tags.jsonl"
    tagged.write_text('{"tokens": ["a"], "tags": ["O"], "tags": ["B-X"]}\n')
    with pytest.raises(ConfigError, match="'tags' twice"):
        read_tagged(tagged)
    fine = tmp_path / "fine.jsonl"  # one key in each of two objects is no repeat
    fine.write_text(json.dumps({"tokens": ["a"], "tags": ["O"], "x": {"tags": 1}}) + "\n")
    assert read_tagged(fine) == [(["a"], ["O"])]


def test_one_column_for_words_and_tags_is_refused(tiny_checkpoint: Path) -> None:
    # the words were read as their own tags: a tagger trained to copy its input
    rows = [{"tokens": t, "tags": g} for t, g in SENTENCES]
    with pytest.raises(ConfigError, match="tokens and tags columns must differ"):
        finetune(tiny_checkpoint, rows, task="tag", text_column="tokens",
                 label_column="tokens", epochs=1, progress=False)  # fmt: skip


@pytest.mark.parametrize(
    "columns",
    [{"text_column": "context"}, {"pair_column": "question"}, {"label_column": "context"}],
)
def test_one_column_for_two_roles_of_a_question_is_refused(
    tiny_checkpoint: Path, columns: dict[str, str]
) -> None:
    # text_column="context" read each context as its own question, and trained on it
    rows = [{"question": "who?", "context": "John lives in Paris.",
             "answers": {"text": ["John"], "answer_start": [0]}}] * 3  # fmt: skip
    with pytest.raises(ConfigError, match="columns must differ"):
        finetune(tiny_checkpoint, rows, task="qa", max_length=32, epochs=1, progress=False,
                 **columns)  # fmt: skip


def test_an_empty_multi_label_cell_is_a_text_of_no_class(tmp_path: Path) -> None:
    # a csv cannot write an empty list: its empty cell is the text with none of the classes
    path = tmp_path / "train.csv"
    path.write_text("text,labels\ngood film,a|b\nbad,b\nplain, \n", encoding="utf-8")
    records = read_records(path, label_column="labels", label_separator="|",
                           problem_type="multi_label_classification")  # fmt: skip
    assert records == [("good film", ("a", "b")), ("bad", ("b",)), ("plain", ())]
    # a missing value (None, NaN) is still no answer, and the message says how to write one
    rows = [("good", ["a"]), ("bad", None)]
    with pytest.raises(ConfigError, match="empty list, or an empty csv cell"):
        read_records(rows, problem_type="multi_label_classification")
    with pytest.raises(ConfigError, match="has no label"):  # single-label: still refused
        read_records(path, label_column="labels", problem_type="single_label_classification")


def test_runs_the_time_limit_leaves_no_time_for_are_said(tiny_checkpoint: Path) -> None:
    # runs=3 gave run 1 alone, with no word of the two runs dropped
    with pytest.warns(UserWarning, match="ran out after 1 of the 3 runs: the model is run 1"):
        result = finetune(tiny_checkpoint, TEXTS, validation=TEXTS, runs=3, time_limit=1e-6,
                          epochs=1, progress=False)  # fmt: skip
    assert result.soup == () and {r["run"] for r in result.history} == {1}
    with warnings.catch_warnings():  # runs that all fit: nothing said
        warnings.filterwarnings("error", message=".*ran out after.*")
        result = finetune(tiny_checkpoint, TEXTS, validation=TEXTS, runs=2, epochs=1,
                          progress=False)  # fmt: skip
    assert {r["run"] for r in result.history} == {1, 2}


@pytest.mark.parametrize(
    ("context", "text", "start", "said"),
    [
        ("John lives in Paris.", "Paris", 13, "the text is at character 14: answer_start counts"),
        ("😀 John lives", "John", 3, "at character 2 (3 counts UTF-16 code units up to it)"),
        ("é John", "John", 3, "at character 2 (3 counts UTF-8 bytes up to it)"),
        ("Paris, Paris, Paris", "Paris", 2, "at character 0, and 2 more place"),
        ("John lives", "Mary", 0, "the context does not hold that text"),
    ],
)
def test_a_misplaced_answer_start_says_where_its_text_is(
    context: str, text: str, start: int, said: str
) -> None:
    # the message said only "answer_start counts characters", whatever the cause
    answers = {"text": [text], "answer_start": [start]}
    with pytest.raises(ConfigError, match="does not point at the answer") as e:
        read_qa([{"question": "q", "context": context, "answers": answers}])
    assert said in str(e.value)
    if "character" in said:  # the place named holds the text, in Python's count
        at = int(re.search(r"character (\d+)", said).group(1))  # type: ignore[union-attr]
        assert context[at : at + len(text)] == text


def test_a_missing_data_file_is_named_as_one(tmp_path: Path) -> None:
    """A mistyped path said "neither a file nor a dataset" and listed every dataset,
    tokenizers and models included; it now says the file is missing and offers only the
    datasets of the task."""
    missing = tmp_path / "d" / "nonexist.csv"
    for read, offered in ((read_records, "rt-polarity"), (read_tagged, "twitter-ner")):
        with pytest.raises(ConfigError, match=r"no such file: .*nonexist\.csv") as caught:
            read(missing)
        assert offered in str(caught.value) and "gpt2" not in str(caught.value)


@pytest.mark.parametrize("name", ["rt-polarity", "twitter-ner"])
def test_a_dataset_name_as_a_path_reads_as_the_name(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Path("rt-polarity")`` was read with the training split alone (no validation or
    test: an unscored run), and ``Path("twitter-ner")`` as text classification (refused);
    a path that is no file and whose text is a dataset name reads as the name does, in
    every task. QA reads no dataset: the name is refused, either way, saying so."""
    from lexforge.model import hf_read
    from lexforge.train import classify, tagging

    class ReadError(Exception):
        pass

    def caught(splits: dict[str, list[Any]], sources: dict[str, Any]) -> None:
        raise ReadError(sorted(splits), type(splits["train"][0][-1]).__name__)

    for module in (classify, tagging):
        monkeypatch.setattr(module, "check_splits", caught)
    monkeypatch.setattr(hf_read, "checkpoint_folder", lambda model: model)  # no model here
    seen = []
    for given in (name, Path(name)):
        with pytest.raises(ReadError) as read:
            finetune("no-model", given, progress=False)
        seen.append(read.value.args)
    assert seen[0] == seen[1]
    assert seen[0][0] == ["test", "train", "validation"]
    assert seen[0][1] == ("list" if name == "twitter-ner" else "str")  # tags, or a label
    for given in (name, Path(name)):
        with pytest.raises(ConfigError, match=f"{name} is a dataset name, and no dataset"):
            read_qa(given)


def test_a_failed_rerun_keeps_the_earlier_runs_scores_with_its_model(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """A rerun into the same out_dir deleted the earlier run's metrics.json (its scores,
    the length it cut at) when it started, but replaced best/ only when it finished: a
    rerun that failed left the earlier model without them. Now both go together, when the
    rerun saves its model; and what killed writes left (a staging folder inside best/, a
    metrics.json temporary) goes then too."""
    from lexforge.errors import CheckpointError
    from lexforge.model import BertForSequenceClassification
    from lexforge.model.hf import STAGE
    from lexforge.model.hf_read import SAVING, read_checkpoint

    out = tmp_path / "run"
    rows = [{"text": t, "label": y} for t, y in TEXTS]
    finetune(tiny_checkpoint, rows, validation=rows, epochs=1, out_dir=out, progress=False)
    metrics = (out / "metrics.json").read_bytes()
    weights = (out / "best" / "model.safetensors").read_bytes()

    def interrupted(*args: Any, **kwargs: Any) -> None:  # a Ctrl-C in the first step
        raise KeyboardInterrupt

    replaces = pytest.warns(UserWarning, match="replaces it and its scores when it finishes")
    with replaces, pytest.raises(KeyboardInterrupt), pytest.MonkeyPatch.context() as patch:
        patch.setattr(BertForSequenceClassification, "forward", interrupted)
        finetune(tiny_checkpoint, rows, validation=rows, epochs=1, out_dir=out, progress=False)
    assert (out / "metrics.json").read_bytes() == metrics
    assert (out / "best" / "model.safetensors").read_bytes() == weights
    # leftovers of killed writes, gone with the next model saved
    stage = out / "best" / f"{STAGE[0]}killed{STAGE[1]}"
    stage.mkdir()
    (stage / "model.safetensors").write_bytes(weights[:100])
    (out / ".metrics.json.tmp-99999").write_text("{")
    (out / "notes.txt").write_text("mine")
    with pytest.warns(UserWarning, match="earlier run's model"):
        finetune(tiny_checkpoint, rows, validation=rows, epochs=1, out_dir=out, seed=1,
                 progress=False)  # fmt: skip
    written = sorted(p.name for p in out.iterdir())
    assert written == [".finetune.lock", "best", "confusion.png", "log.jsonl", "metrics.json",
                       "notes.txt"]  # fmt: skip
    assert not any(p.name.startswith(".") for p in (out / "best").iterdir())
    # a save killed before its first weights were in place: said as such
    (out / "best" / "config.json").write_text(SAVING)
    (out / "best" / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="is being saved: a save_pretrained into it"):
        read_checkpoint(out / "best")


def test_a_run_is_alone_in_its_out_dir_and_its_process_group(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under torchrun every rank fine-tuned the whole job into the same out_dir, and two
    runs into one out_dir deleted each other's staging files ([Errno 2] in save_best)."""
    from lexforge._locks import only_writer
    from lexforge.train._fit_options import FIT_LOCK

    rows = [{"text": t, "label": y} for t, y in TEXTS]
    out = tmp_path / "a" / "run"
    with monkeypatch.context() as env:
        for name, value in (("WORLD_SIZE", "2"), ("RANK", "1"), ("MASTER_ADDR", "127.0.0.1"),
                            ("MASTER_PORT", "29999")):  # fmt: skip
            env.setenv(name, value)
        for task, data in (("classify", rows), ("tag", SENTENCES)):
            with pytest.raises(ConfigError, match=r"one process, and this is one of 2 \("):
                finetune(tiny_checkpoint, data, task=task, out_dir=out, progress=False)
    assert not (tmp_path / "a").exists()
    out.mkdir(parents=True)
    held = pytest.raises(ConfigError, match=f"another fine-tuning run is writing into {out}")
    with only_writer(out / FIT_LOCK, RuntimeError), held:  # another run holds it
        finetune(tiny_checkpoint, rows, epochs=1, out_dir=out, progress=False)
    with pytest.raises(ConfigError, match="no column"):  # failed before writing: no folder
        finetune(tiny_checkpoint, rows, text_column="words", out_dir=tmp_path / "b" / "c",
                 progress=False)  # fmt: skip
    assert not (tmp_path / "b").exists()
    result = finetune(tiny_checkpoint, SENTENCES, task="tag", epochs=1, out_dir=out,
                      progress=False)  # fmt: skip
    assert (out / "best" / "model.safetensors").is_file() and result is not None
    # two runs started together into a new folder: the one refused had seen it missing and
    # removed it (the other run's lock alone in it) as a folder it had made for nothing
    import lexforge._locks

    new = tmp_path / "d" / "run"
    real = lexforge._locks.only_writer

    def other_run_first(lock: Path, refusal: Any) -> Any:
        held = lock.open("a+b")
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        holders.append(held)
        return real(lock, refusal)

    fcntl = pytest.importorskip("fcntl")
    holders: list[Any] = []
    monkeypatch.setattr(lexforge._locks, "only_writer", other_run_first)
    with pytest.raises(ConfigError, match=f"another fine-tuning run is writing into {new}"):
        finetune(tiny_checkpoint, rows, epochs=1, out_dir=new, progress=False)
    assert (new / FIT_LOCK).is_file()
    holders[0].close()


def test_scores_and_plots_on_a_full_disk_name_the_file_and_leave_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """metrics.json and confusion.png on a full disk left their temporary files and said
    a bare [Errno 28] (a helper's audit, with real full disks)."""
    import errno

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lexforge.train._fit import write_json
    from lexforge.train.plots import save_png

    real_write_text = Path.write_text

    def full(self: Path, data: str, *args: Any, **kwargs: Any) -> int:
        real_write_text(self, data[:10], *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(Path, "write_text", full)
        with pytest.raises(OSError, match=r"could not write .*metrics\.json: the disk is full"):
            write_json(tmp_path / "metrics.json", {"accuracy": 1.0})
    fig = plt.figure()

    def savefig(where: Any, **kwargs: Any) -> None:
        Path(where).write_bytes(b"\x89PNG partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    fig.savefig = savefig  # type: ignore[method-assign]
    with pytest.raises(OSError, match=r"could not write .*confusion\.png: the disk is full"):
        save_png(fig, tmp_path / "confusion.png")
    assert list(tmp_path.iterdir()) == []


QA = [{"question": "who lives in Paris?", "context": "John lives in Paris.",
       "answers": {"text": ["John"], "answer_start": [0]}}] * 4  # fmt: skip


@pytest.mark.parametrize("task", ["classify", "tag", "qa"])
def test_a_loaded_model_with_a_new_head_fine_tunes_as_its_directory(
    tiny_checkpoint: Path, task: str
) -> None:
    """``from_pretrained(dir, labels=...)`` draws its new head from torch's generator as it
    stands, which ``seed`` did not cover: two such runs differed in every weight. An
    untouched new head is drawn again from the seed, so the run is the directory's,
    bit for bit, whatever the generator held."""
    import torch

    from lexforge.model import (
        BertForQuestionAnswering,
        BertForSequenceClassification,
        BertForTokenClassification,
    )

    cls, data, options = {
        "classify": (BertForSequenceClassification, TEXTS, {"labels": ["neg", "pos"]}),
        "tag": (BertForTokenClassification, [{"tokens": t, "tags": g} for t, g in SENTENCES],
                {"labels": ["B-LOC", "B-PER", "O"]}),
        "qa": (BertForQuestionAnswering, QA, {}),
    }[task]  # fmt: skip
    kind = {} if task == "classify" else {"task": task}

    def run(model: Any) -> dict[str, Any]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = finetune(model, data, epochs=1, seed=7, progress=False, **kind)
        return {k: v.clone() for k, v in result.model.state_dict().items()}

    want = run(tiny_checkpoint)
    for generator_seed in (1, 2):
        torch.manual_seed(generator_seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = cls.from_pretrained(tiny_checkpoint, **options)
        got = run(loaded)
        assert got.keys() == want.keys()
        assert all(torch.equal(got[k], want[k]) for k in want), task
    # a head set by hand is the caller's: kept, not drawn again
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = cls.from_pretrained(tiny_checkpoint, **options)
    head = next(n for n in loaded.loaded_from.drawn[0] if n.endswith("weight"))
    with torch.no_grad():
        loaded.state_dict()[head].fill_(0.01)
    assert not torch.equal(run(loaded)[head], want[head])
