"""The fine-tuning data readers (``lexforge.train._files`` and the record checks of each
task): csv quoting as Python's csv module reads it, tsv without quoting, line ends only at
``\\n``/``\\r\\n``/``\\r``, BOMs, gzip, JSON lists and JSON Lines; missing values and labels
of the wrong kind fail with the file and line named."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")

from lexforge._corpus_records import record_texts
from lexforge.errors import ConfigError, CorpusError
from lexforge.train._files import read_rows
from lexforge.train.qa import read_qa
from lexforge.train.records import read_records, sorted_labels
from lexforge.train.tagging import read_tagged

ROWS = [
    ("line one\nline two", "pos"),  # a newline inside a quoted field
    ('he said "wow", then left', "neg"),  # quotes and the delimiter
    ("caf\u00e9\u2028next\x85third\x0cpage", "pos"),  # separators that are not line ends
    ("  spaced  ", "neg"),
]


def _csv(rows: list[tuple[str, str]], delimiter: str = ",", lineterminator: str = "\r\n") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=lineterminator)
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    return buffer.getvalue()


@pytest.mark.parametrize("ending", ["\r\n", "\n"])
def test_csv_round_trips_what_the_csv_module_writes(tmp_path: Path, ending: str) -> None:
    path = tmp_path / "train.csv"
    path.write_text(_csv(ROWS, lineterminator=ending), encoding="utf-8", newline="")
    got = read_records(path)
    assert got == ROWS
    # the same with a BOM, gzip-compressed, and an upper-case suffix
    data = b"\xef\xbb\xbf" + path.read_bytes()
    (tmp_path / "bom.CSV").write_bytes(data)
    (tmp_path / "z.csv.gz").write_bytes(gzip.compress(data))
    assert read_records(tmp_path / "bom.CSV") == got
    assert read_records(tmp_path / "z.csv.gz") == got


@pytest.mark.parametrize("ending", ["\r\n", "\n", "\r"])
def test_csv_keeps_line_breaks_inside_quotes(tmp_path: Path, ending: str) -> None:
    """A quoted field keeps its \\r\\n and \\r as Python's csv module reads them, whatever
    ends the rows."""
    rows = [("windows\r\nbreak", "pos"), ("old mac\rbreak", "neg"), ("unix\nbreak", "pos")]
    path = tmp_path / "train.csv"
    buffer = io.StringIO()  # every field quoted: csv.writer leaves a lone \r unquoted
    csv.writer(buffer, lineterminator=ending, quoting=csv.QUOTE_ALL).writerows(
        [("text", "label"), *rows]
    )
    path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    with path.open(newline="", encoding="utf-8") as f:
        want = [(r["text"], r["label"]) for r in csv.DictReader(f)]
    assert read_records(path) == want == rows


def test_unnamed_columns_are_not_data(tmp_path: Path) -> None:
    """A spreadsheet's export ends rows in empty, unnamed columns: read as csv.DictReader
    reads the named ones; two columns of one name stay an error."""
    path = tmp_path / "excel.csv"
    path.write_text("text,label,,\ngood film,pos,,\ndull,neg,,\n", encoding="utf-8")
    with path.open(newline="", encoding="utf-8") as f:
        want = [(r["text"], r["label"]) for r in csv.DictReader(f)]
    assert read_records(path) == want == [("good film", "pos"), ("dull", "neg")]
    (tmp_path / "twice.csv").write_text("text,label,label\na,x,y\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="names 'label' twice; rename one"):
        read_records(tmp_path / "twice.csv")
    # an unquoted comma in a text shifts its row right: the label 'pos' fell into an
    # unnamed column and was dropped, 'world' taken for the label (pandas keeps all three)
    path.write_text("text,label,,\ngood film,pos,,\nhello, world,pos,\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 3 has 'pos' in column 3, which the header"):
        read_records(path)
    # an unnamed first column is pandas' index (to_csv's default): not data, not refused
    pd = pytest.importorskip("pandas")
    pd.DataFrame({"text": ["good film", "dull"], "label": ["pos", "neg"]}).to_csv(path)
    assert read_records(path) == [("good film", "pos"), ("dull", "neg")]


def test_tsv_has_no_quoting(tmp_path: Path) -> None:
    lines = ['"the rock" is great\t1', 'dull and "clever"\t0', '"boring\t0', "a 'must' see\t1"]
    path = tmp_path / "sst.tsv"
    path.write_text("sentence\tlabel\n" + "\n".join(lines) + "\n", encoding="utf-8")
    got = read_records(path, text_column="sentence")
    assert got == [tuple(line.split("\t")) for line in lines]


def test_tsv_quoted_as_pandas_writes_it(tmp_path: Path) -> None:
    """pandas quotes a tsv field that holds a quote, tab or line break; such a file is read
    with csv's quoting, as pandas reads it back (the oracle); a plain tsv is not."""
    pd = pytest.importorskip("pandas")
    texts = ['The "best" film', "plain", "tab\there", "line\nbreak", '"Hello"', '5" screen']
    frame = pd.DataFrame({"text": texts, "label": ["pos", "neg"] * 3})
    path = tmp_path / "pandas.tsv"
    frame.to_csv(path, sep="\t", index=False)
    back = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    assert back["text"].tolist() == texts  # pandas' own round trip
    assert read_records(path) == list(zip(texts, frame["label"], strict=True))
    # the corpus reader (pretraining, tokenizer training) reads the same texts
    assert list(record_texts(path)) == texts
    # quoted only for a tab or a line break (no quote doubled anywhere), with one column too
    for columns in ({"text": [*texts[2:4], "plain"], "label": ["a", "b", "a"]},
                    {"text": [*texts[2:4], "plain"]}):  # fmt: skip
        frame = pd.DataFrame(columns)
        frame.to_csv(path, sep="\t", index=False)
        back = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        assert list(record_texts(path)) == back["text"].tolist() == columns["text"]
        if "label" in columns:
            assert read_records(path) == list(zip(back["text"], back["label"], strict=True))
    # a quoted file with one field left unquoted is named, not half read
    mixed = tmp_path / "mixed.tsv"
    mixed.write_text('text\tlabel\n"The ""best"""\tpos\n"Hi" she said\tneg\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 3: malformed tsv .* quoted as csv quotes them"):
        read_records(mixed)


def test_tsv_quote_opened_and_closed_on_other_lines(tmp_path: Path) -> None:
    """Plain texts that open a quote on one line and close it on a later one read with the
    header's width both plainly and with csv's quoting; the quoted reading joined two rows
    into one text (tab, label and line break inside) with no word. With two columns the
    plain reading wins, as pandas' QUOTE_NONE reads it (the oracle); one column cannot
    tell the readings apart, so it is read quoted, as pandas does by default, and warned."""
    pd = pytest.importorskip("pandas")
    path = tmp_path / "quotes.tsv"
    path.write_text(
        'sentence\tlabel\n"Titanic is great\tpos\nso said the critic"\tneg\nplain text\tpos\n',
        encoding="utf-8",
    )
    plain = pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, dtype=str)
    expected = list(plain.itertuples(index=False, name=None))
    assert len(expected) == 3
    assert read_records(path, text_column="sentence") == expected
    assert list(record_texts(path, text_column="sentence")) == [t for t, _ in expected]

    one = tmp_path / "one.tsv"
    one.write_text('text\n"He said\nno more"\nplain\n', encoding="utf-8")
    quoted = pd.read_csv(one, sep="\t", dtype=str)["text"].tolist()
    with pytest.warns(UserWarning, match=r"one\.tsv: lines 2-3 are read as one text in quotes"):
        assert list(record_texts(one)) == quoted == ["He said\nno more", "plain"]


def test_tsv_with_every_field_quoted(tmp_path: Path) -> None:
    """A tsv whose fields are all in quotes (csv.writer's QUOTE_ALL; R's write.table, which
    leaves numbers bare) was read plainly: the columns were named '"text"' and '"label"',
    and the error's fix (text_column=) would have trained on texts in quotes. Its quoting is
    read as pandas reads it (the oracle)."""
    pd = pytest.importorskip("pandas")
    rows = [("a fine film", "pos"), ("dull", "neg"), ('the "best" one', "pos")]
    path = tmp_path / "all.tsv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_ALL)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    back = pd.read_csv(path, sep="\t", dtype=str)
    assert list(back.itertuples(index=False, name=None)) == rows
    assert read_records(path) == rows
    r_style = tmp_path / "r.tsv"  # write.table(..., sep="\t", row.names=FALSE)
    r_style.write_text('"text"\t"label"\n"good"\t1\n"bad"\t0\n', encoding="utf-8")
    assert read_records(r_style) == [("good", "1"), ("bad", "0")]
    assert list(record_texts(r_style)) == ["good", "bad"]


def test_json_lists_and_json_lines(tmp_path: Path) -> None:
    records = [{"text": "a\u2028b", "label": 1}, {"text": "c", "label": 0.0}]
    (tmp_path / "a.json").write_text(json.dumps(records, indent=2), encoding="utf-8")
    lines = "\n\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n  \n"
    (tmp_path / "b.jsonl").write_text(lines, encoding="utf-8")
    (tmp_path / "c.json").write_text(lines, encoding="utf-8")  # JSON Lines named .json
    expected = [("a\u2028b", "1"), ("c", "0")]
    for name in ("a.json", "b.jsonl", "c.json"):
        assert read_records(tmp_path / name) == expected, name
    kind, rows = read_rows(tmp_path / "b.jsonl", ("jsonl",))
    assert kind == "jsonl" and [at for at, _ in rows] == ["line 1", "line 3"]


def test_corpus_records_with_a_number_too_long_are_named(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"text": "a"}\n{"text": "b", "n": ' + "9" * 5000 + "}\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"corpus\.jsonl: line 2 holds a number too long"):
        list(record_texts(path))


def test_one_record_json_lines_under_a_json_name(tmp_path: Path) -> None:
    """``datasets.Dataset.to_json`` writes a split of one row as one line: one record, for
    each task (an object on one line that holds SQuAD's "data" list stays SQuAD's)."""

    def one(name: str, record: dict[str, Any]) -> Path:
        path = tmp_path / name
        path.write_text("\n" + json.dumps(record) + "\n", encoding="utf-8")
        return path

    assert read_records(one("c.json", {"text": "only one", "label": "pos"})) == [
        ("only one", "pos")
    ]
    kind, rows = read_rows(tmp_path / "c.json", ("json",))
    assert kind == "jsonl" and [at for at, _ in rows] == ["line 2"]
    assert read_tagged(one("t.json", {"tokens": ["EU", "rejects"], "tags": ["B-ORG", "O"]})) == [
        (["EU", "rejects"], ["B-ORG", "O"])
    ]
    answers = {"text": ["Paris"], "answer_start": [0]}
    example = {"id": "1", "question": "q", "context": "Paris is big.", "answers": answers}
    assert read_qa(one("q.json", example))[0].answers == (("Paris", 0),)
    squad = {"data": [{"paragraphs": [{"context": "Paris is big.", "qas": [
        {"id": "1", "question": "q", "answers": [{"text": "Paris", "answer_start": 0}]}
    ]}]}]}  # fmt: skip
    assert read_qa(one("s.json", squad))[0].answers == (("Paris", 0),)


def test_labels_are_normalised_and_ordered(tmp_path: Path) -> None:
    rows = [("a", " pos"), ("b", "pos "), ("c", 1), ("d", 1.0), ("e", "1"), ("f", "1.00")]
    assert [r[1] for r in read_records(rows)] == ["pos", "pos", "1", "1", "1", "1"]
    # ids past a float's 53 bits stay apart (through a float both were ...168)
    ids = [("a", "12345678901234567890"), ("b", "12345678901234567891"), ("c", "+7.0"), ("d", "-0")]
    assert [r[1] for r in read_records(ids)] == [
        "12345678901234567890",
        "12345678901234567891",
        "7",
        "0",
    ]
    # one number, one class, however it was written: 1e20 as a float and 10**20 as an int
    # (fractions are classes only when said so: with no problem_type they read as scores)
    numbers = [("a", 1e20), ("b", 10**20), ("c", "2.5"), ("d", 2.5)]
    assert [r[1] for r in read_records(numbers, problem_type="single_label_classification")] == [
        "100000000000000000000",
        "100000000000000000000",
        "2.5",
        "2.5",
    ]
    # ... and as pandas writes a float of 1e16 or more to a csv ("1e+20"): the class of the
    # same frame's JSON or Parquet copy (the csv gave the class "1e+20")
    import pandas as pd

    frame = pd.DataFrame({"text": ["a", "b", "c"], "label": [1e20, 1e3, 2.0]})
    frame.to_csv(tmp_path / "big.csv", index=False)
    frame.to_json(tmp_path / "big.jsonl", orient="records", lines=True)
    classes = [[r[1] for r in read_records(tmp_path / name)] for name in ("big.csv", "big.jsonl")]
    assert classes[0] == classes[1] == ["100000000000000000000", "1000", "2"]
    assert [r[1] for r in read_records([("a", "1e3"), ("b", "1.5E3"), ("c", "1e-3x")])] == [
        "1000", "1500", "1e-3x"]  # fmt: skip
    # codes with leading zeros and other digits are names as written; JSON's true is "true"
    codes = [("a", "01"), ("b", "1"), ("c", "007"), ("d", "\u0661"), ("e", True), ("f", "true")]
    assert [r[1] for r in read_records(codes)] == ["01", "1", "007", "\u0661", "true", "true"]
    missed = r"(missing number \(NaN\)|has no label in column 'label'); fill it"
    for missing in ("NaN", " nan", float("nan")):  # a missing number, not a class "NaN"
        with pytest.raises(ConfigError, match=missed):
            read_records([("a", "pos"), ("b", missing)])
    assert sorted_labels({"10", "2", "-1"}) == ("-1", "2", "10")
    assert sorted_labels({"b", "a", "10"}) == ("10", "a", "b")
    assert sorted_labels({"0.5", "2.5", "10.5", "10", "2"}) == ("0.5", "2", "2.5", "10", "10.5")
    assert sorted_labels({"1e3", "5", "-.5"}) == ("-.5", "5", "1e3")


def test_multi_label_and_regression_records() -> None:
    rows = [{"text": "a", "label": ["y", "x"]}, {"text": "b", "label": "z"}]
    assert read_records(rows) == [("a", ("x", "y")), ("b", ("z",))]  # lists pick multi-label
    piped = [("a", "x|y"), ("b", "y")]
    got = read_records(piped, problem_type="multi_label_classification", label_separator="|")
    assert got == [("a", ("x", "y")), ("b", ("y",))]
    got = read_records([("a", "0.25"), ("b", 3)], problem_type="regression")
    assert got == [("a", 0.25), ("b", 3.0)]
    for bad in ("nan", "high", float("inf"), True):
        with pytest.raises(ConfigError, match="not a finite number"):
            read_records([("a", bad)], problem_type="regression")
    with pytest.raises(ConfigError, match="multi_label_classification"):
        read_records([("a", ["x"])], problem_type="single_label_classification")
    with pytest.raises(ConfigError, match="the label is a set"):
        read_records([("a", {"x"})], problem_type="single_label_classification")
    assert read_records([("a", {"y", "x"})], problem_type="multi_label_classification") == [
        ("a", ("x", "y"))
    ]
    with pytest.raises(ConfigError, match="hold a null"):  # not a class named "None"
        read_records([{"text": "a", "label": ["x", None]}])
    # a named dataset's labels are checked the same way
    with pytest.raises(ConfigError, match="rt-polarity: record 0: the regression target"):
        read_records("rt-polarity", problem_type="regression")


def test_numpy_labels_read_as_python_values() -> None:
    """A 1-D NumPy array of names is a list of them (``df.to_dict("records")`` of a frame
    read from Parquet, or arrays made by hand); a NumPy bool is the class a bool is."""
    names = [np.array(["y", "x"]), np.array(["x"])]
    rows = [{"text": "a", "label": names[0]}, {"text": "b", "label": names[1]}]
    assert read_records(rows) == [("a", ("x", "y")), ("b", ("x",))]  # not "['y' 'x']"
    with pytest.raises(ConfigError, match="the label is a list; for several labels"):
        read_records(rows, problem_type="single_label_classification")
    flags = list(zip("ab", np.array([True, False]), strict=True))
    assert read_records(flags) == read_records([("a", True), ("b", False)])
    assert [r[1] for r in read_records(flags)] == ["true", "false"]
    assert read_records([("a", [np.True_, "x"])])[0][1] == ("true", "x")


def test_boolean_labels_are_one_class_in_every_format(tmp_path: Path) -> None:
    """One frame of bool labels gave the classes true/false from Parquet, JSON Lines or
    the frame itself, and True/False from its csv (pandas' spelling), so a model trained on
    one refused validation on the other; a spreadsheet writes TRUE/FALSE."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"text": ["good", "bad", "fine"], "label": [True, False, True]})
    frame.to_csv(tmp_path / "b.csv", index=False)
    frame.to_json(tmp_path / "b.jsonl", orient="records", lines=True)
    (tmp_path / "excel.csv").write_text("text,label\ngood,TRUE\nbad,FALSE\nfine,TRUE\n")
    want = [("good", "true"), ("bad", "false"), ("fine", "true")]
    for source in (frame, tmp_path / "b.csv", tmp_path / "b.jsonl", tmp_path / "excel.csv"):
        assert read_records(source) == want, source
    assert [r[1] for r in read_records([("a", "true "), ("b", "tRue"), ("c", "yes")])] == [
        "true",
        "tRue",
        "yes",
    ]  # (another spelling is a name as written)
    with pytest.raises(ConfigError, match="regression target True is not a finite number"):
        read_records([("a", np.True_)], problem_type="regression")


@pytest.mark.parametrize(
    "labels",
    [
        np.array([[1, 0, 1], [0, 1, 0]]),  # MultiLabelBinarizer's matrix, a row per text
        [[1, 0, 1], [0, 1, 0]],  # the same as lists (Y.tolist())
        [[0, 1], [1, 0]],  # no row names a class twice, and still 0/1 per class
        [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]],
        np.array([[True, False, True], [False, True, False]]),
        [[True], [False]],
    ],
)
@pytest.mark.parametrize("problem", [None, "multi_label_classification"])
def test_multi_hot_labels_are_refused_with_the_fix(labels: Any, problem: str | None) -> None:
    """0/1 per class says which classes, not their names: read as names it would make the
    classes "0" and "1" (and, before, merge a row's repeated 1s into one)."""
    rows = list(zip(["a", "b"], labels, strict=True))
    with pytest.raises(
        ConfigError, match=r"record 0: \[.*\], a 0 or 1 per class.*names of its classes"
    ) as info:
        read_records(rows, problem_type=problem)
    assert "inverse_transform" in str(info.value)


def test_label_lists_that_are_no_vectors_and_repeated_classes() -> None:
    # one id per row in a list, or lists of other lengths: names, as before
    assert read_records([("a", [0]), ("b", [1])]) == [("a", ("0",)), ("b", ("1",))]
    assert read_records([("a", [0, 1]), ("b", [1])]) == [("a", ("0", "1")), ("b", ("1",))]
    assert read_records([("a", [0, 2]), ("b", [1, 3])]) == [("a", ("0", "2")), ("b", ("1", "3"))]
    # a class named twice in one row: refused, not merged
    for label, twice in ((["y", "x", "y"], "'y'"), ([1, "1"], "'1'"), ([1, 1.0], "'1'")):
        with pytest.raises(ConfigError, match=f"record 0: the labels .* name the class {twice} "):
            read_records([("a", label), ("b", ["z"])])
    with pytest.raises(ConfigError, match=r"the labels 'x\|y\|x' .* more than once; drop"):
        read_records([("a", "x|y|x")], label_separator="|",
                     problem_type="multi_label_classification")  # fmt: skip


def test_fractional_number_labels_need_a_problem_type(tmp_path: Path) -> None:
    """Scores (0.37, "3.80") with no problem_type were one class per distinct value."""
    path = tmp_path / "scores.csv"
    path.write_text("text,label\na,1\nb,3.80\nc,0.37\n", encoding="utf-8")
    scores = (
        r"scores\.csv: the labels in column 'label' are numbers with fractions \(line 3: "
        r"'3\.80'\), which look like scores.*problem_type='regression' \(--problem-type "
        r"regression\).*or problem_type='single_label_classification'"
    )
    with pytest.raises(ConfigError, match=scores):
        read_records(path)
    assert [r[1] for r in read_records(path, problem_type="regression")] == [1.0, 3.8, 0.37]
    named = read_records(path, problem_type="single_label_classification")
    assert [r[1] for r in named] == ["1", "3.8", "0.37"]  # (one value, however written)
    with pytest.raises(ConfigError, match=r"record 1: 2\.5\), which look like scores"):
        read_records([("a", 1), ("b", 2.5), ("c", np.float64(0.5))])
    # integral numbers are classes as before, however written; names among numbers too
    whole = [("a", 1.0), ("b", "5.00"), ("c", 2), ("d", np.float32(3)), ("e", "1")]
    assert [r[1] for r in read_records(whole)] == ["1", "5", "2", "3", "1"]
    assert [r[1] for r in read_records([("a", "2.5"), ("b", "pos")])] == ["2.5", "pos"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("short.csv", "text,label\ngood,pos\norphan\n", "line 3 has 1 fields, the header 2"),
        ("long.csv", "text,label\ngood,pos,extra\n", "line 2 has 3 fields.*quote a field"),
        ("empty_label.csv", "text,label\ngood,\nbad,neg\n", "line 2 has no label"),
        ("empty_text.csv", "text,label\n,pos\n", "line 2 has an empty 'text'"),
        ("bad_quote.csv", 'text,label\n"the rock" is,pos\n', "line 2: malformed csv"),
        ("twice.csv", "text,text\na,b\n", "names 'text' twice"),
        ("null.jsonl", '{"text": null, "label": "pos"}\n', "line 1 has no value in column 'text'"),
        ("nolabel.jsonl", '{"text": "a", "label": null}\n', "line 1 has no label"),
        ("number.jsonl", "5\n", "line 1 is not a record"),
        ("list_text.jsonl", '{"text": ["a"], "label": "x"}\n', "holds a list, not a text"),
        ("bad.jsonl", '{"text": "a", "label": "x"}\n{"text": \n', "line 2 is not JSON"),
        ("array.json", '[{"text": "a", "label": "x"}, ', "not JSON"),
        ("object.json", '{"data": []}', "one JSON object"),
        ("latin1.csv", "text,label\ncaf\xe9,pos\n".encode("latin-1"), "not UTF-8.*line 2, col"),
        # positions count from after a byte-order mark
        (
            "bom.csv",
            b"\xef\xbb\xbftext,label\ngood,pos\n\xe9t\xe9,neg\n",
            r"byte 0xe9 at line 3, column 1\)",
        ),
        ("bom1.csv", b"\xef\xbb\xbftext\xff,label\n", r"byte 0xff at line 1, column 5\)"),
        ("bad.csv.gz", b"not gzip at all", "not a readable gzip file"),
        ("data.xlsx", b"PK\x03\x04", "unknown or unsupported format"),
        ("packed.csv", gzip.compress(b"text,label\na,b\n"), "gzip-compressed; name it packed"),
        ("sheet.csv", b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xff", "zip"),
        ("tags.conll", "a B-X\n", "need task='tag'"),
        (
            "unclosed.csv",
            'text,label\n"open,pos\nb,neg\nc,neg\n',
            "the record that starts at line 2: malformed csv .*never closed",
        ),
        ("pretty.json", '{\n  "data": [\n    1,\n  ]\n}\n', r"not JSON \(line 4, column 3"),
        (
            "surrogate.jsonl",
            '{"text": "ok", "label": "x"}\n{"text": "bad \\ud800", "label": "x"}\n',
            r"line 2: the text 'bad '\.\.\. holds a lone surrogate '\\ud800'",
        ),
        ("semicolon.csv", "text;label\na;b\n", "the header is cut at ';', not ','"),
        (
            "tabs.csv",
            "text\tlabel\nhello\tpos\n",
            r"\(columns: text\\tlabel\): the file is tab-sep",
        ),
        (  # following "pass text_column=" would read the first row as names: lose it
            "headerless.csv",
            "hello world,pos\nbad film,neg\n",
            r"line 2 has no column 'text' \(columns: hello world, pos\); the first line of a "
            r"csv file is its header, .* \(e\.g\. text,label\)",
        ),
        (
            "headerless.tsv",
            "good\tpos\nbad\tneg\n",
            r"a file without one .* \(e\.g\. text\\tlabel\)",
        ),
        (  # a comma in a text: a field count off, with the same hint, not "quote a field"
            "semicolon_comma.csv",
            "text;label\nhello, world;pos\nbye;neg\n",
            r"line 2 has 2 fields, the header 1 \(text;label\): the header is cut at ';', "
            r"not ','; save the file comma-separated",
        ),
        (
            "deep.jsonl",
            '{"text": "a", "label": "x"}\n' + "[" * 100_000 + "]" * 100_000,
            "line 2 nests JSON arrays or objects too deeply",
        ),
        ("deep.json", "[" * 100_000 + "]" * 100_000, "the file nests JSON arrays"),
        (  # past Python's 4,300 digits for an int: a ValueError of json's own
            "long.jsonl",
            '{"text": "a", "label": 1}\n{"text": "b", "label": ' + "9" * 5000 + "}\n",
            r"line 2 holds a number too long to read .*write it as a string",
        ),
        ("long.json", '[{"text": "b", "label": ' + "9" * 5000 + "}]", "the file holds a number"),
    ],
)
def test_bad_files_name_the_file_and_line(
    tmp_path: Path, name: str, content: str | bytes, message: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        read_records(path)
    assert str(path) in str(info.value)


def test_conll_columns_and_separators(tmp_path: Path) -> None:
    text = (
        "\ufeff-DOCSTART- O\n\nNew York\tB-LOC\nis\tO\n\n"  # tab columns: a token with a space
        "EU B-ORG\na\u00a0b  O\n"  # space columns; NBSP is no separator
        "x\u2028y O\r\n"
    )
    path = tmp_path / "train.conll"
    path.write_text(text, encoding="utf-8")
    assert read_tagged(path) == [
        (["New York", "is"], ["B-LOC", "O"]),
        (["EU", "a\u00a0b", "x\u2028y"], ["B-ORG", "O", "O"]),
    ]
    with pytest.raises(ConfigError, match="tokens must be a list of strings"):
        read_tagged([{"tokens": "ab", "tags": ["X", "Y"]}])
    path.write_text("EU\tNNP B-ORG\nrejects O\n", encoding="utf-8")  # tab, then a space
    with pytest.raises(ConfigError, match=r"line 1: the tag 'NNP B-ORG' holds a space"):
        read_tagged(path)
    path.write_text("a O\n\u00a0 O\n", encoding="utf-8")  # the bad line named, not line 1
    with pytest.raises(ConfigError, match=r"line 2: the token '\\xa0' is blank"):
        read_tagged(path)


def test_qa_answers_are_checked(tmp_path: Path) -> None:
    context = "Paris is the capital of France."
    good = {
        "question": "q",
        "context": context,
        "answers": {"text": ["Paris"], "answer_start": [0]},
    }
    assert read_qa([good])[0].answers == (("Paris", 0),)
    cases = [
        ({"text": [""], "answer_start": [0]}, "answer text is empty"),
        ({"text": "Paris", "answer_start": 0}, "lists, even for one answer"),
        ({"text": ["Paris"], "answer_start": ["0"]}, "its start an int"),
        ([{"text": "Paris"}], "answers must be"),
        ({"text": ["France"], "answer_start": [99]}, "does not point at the answer"),
    ]
    for answers, message in cases:
        with pytest.raises(ConfigError, match=message):
            read_qa([{**good, "answers": answers}])
    with pytest.raises(ConfigError, match="the context must be a non-empty string"):
        read_qa([{**good, "context": None}])
    squad = tmp_path / "squad.json"
    squad.write_text(
        json.dumps({"data": [{"paragraphs": [{"qas": [{"question": "q"}]}]}]}), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"not SQuAD's layout.*context"):
        read_qa(squad)
    squad.write_text('{"data": [', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"squad\.json: not JSON"):
        read_qa(squad)


def test_a_folder_given_as_data_is_called_a_folder(tmp_path: Path) -> None:
    """Each reader of fine-tuning data names a directory as one, with the formats it
    reads (classification said 'unknown or unsupported format', QA 'no such file')."""
    folder = tmp_path / "data"
    folder.mkdir()
    for read, formats in ((read_records, "csv, tsv, jsonl, json, parquet"),
                          (read_tagged, "conll, jsonl, json, parquet"),
                          (read_qa, "jsonl, json, parquet")):  # fmt: skip
        said = rf"data is a directory; pass a data file \({formats}\)"
        with pytest.raises(ConfigError, match=said):
            read(folder)
    # a missing file is still called missing
    with pytest.raises(ConfigError, match="no such file"):
        read_qa(tmp_path / "gone.jsonl")
