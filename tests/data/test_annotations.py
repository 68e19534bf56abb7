import json
import os

import pytest

from videoregion.data.annotations import (
    AnnotationError,
    read_class_names,
    read_kinetics_csv,
    read_ssv2_json,
    read_ssv2_labels,
)
from videoregion.data.layouts import load_annotations


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return str(path)


def test_slowfast_csv_space_and_comma(tmp_path):
    path = write(tmp_path / "train.csv", "a/x.mp4 0\n\nb/my video.mp4,2\nc.mp4\t1\n")
    records = read_kinetics_csv(path, "/data", num_classes=3)
    assert [(r.path, r.label) for r in records] == [
        ("/data/a/x.mp4", 0), ("/data/b/my video.mp4", 2), ("/data/c.mp4", 1)]


@pytest.mark.parametrize("text, line, problem", [
    ("a.mp4 0\nb.mp4\n", 2, "malformed line"),
    ("a.mp4 0\nb.mp4 zero\n", 2, "malformed line"),
    ("a.mp4 0\n\nb.mp4 3\n", 3, r"label 3 out of range \[0, 3\)"),
    ("a.mp4 -1\n", 1, "label -1 out of range"),
])
def test_slowfast_csv_errors_name_file_and_line(tmp_path, text, line, problem):
    path = write(tmp_path / "train.csv", text)
    with pytest.raises(AnnotationError, match=rf"train\.csv:{line}: {problem}"):
        read_kinetics_csv(path, "", num_classes=3)


def test_official_kinetics_csv(tmp_path):
    write(tmp_path / "classnames.txt", "abseiling\nair drumming\n")
    write(tmp_path / "train.csv", "label,youtube_id,time_start,time_end,split\n"
          "air drumming,abc,10,20,train\nabseiling,\"x,y\",0,10,train\n")
    write(tmp_path / "validate.csv", "label,youtube_id,time_start,time_end,split\nabseiling,q,5,15,val\n")
    records, names = load_annotations("kinetics", str(tmp_path), "train", path_prefix="/v")
    assert names == ["abseiling", "air drumming"]
    assert [(r.path, r.label) for r in records] == [("/v/abc_000010_000020.mp4", 1), ("/v/x,y_000000_000010.mp4", 0)]
    val, _ = load_annotations("kinetics", str(tmp_path), "val", path_prefix="/v")
    assert val[0].path == "/v/q_000005_000015.mp4"


def test_official_kinetics_unknown_class_and_missing_names(tmp_path):
    write(tmp_path / "classnames.txt", "abseiling\n")
    write(tmp_path / "train.csv", "label,youtube_id,time_start,time_end,split\n"
          "abseiling,a,0,10,train\ndancing,b,0,10,train\n")
    with pytest.raises(AnnotationError, match=r"train\.csv:3: unknown class 'dancing'"):
        load_annotations("kinetics", str(tmp_path), "train")
    os.remove(tmp_path / "classnames.txt")
    with pytest.raises(AnnotationError, match="class-name list"):
        load_annotations("kinetics", str(tmp_path), "train")


def test_missing_split_file(tmp_path):
    write(tmp_path / "train.csv", "a.mp4 0\n")
    with pytest.raises(AnnotationError, match=r"test\.csv: missing test split file"):
        load_annotations("kinetics", str(tmp_path), "test")
    with pytest.raises(AnnotationError, match="annotation folder not found"):
        load_annotations("kinetics", str(tmp_path / "nope"), "train")


def test_class_names_files(tmp_path):
    assert read_class_names(write(tmp_path / "n.txt", "a\nb c\n\n")) == ["a", "b c"]
    assert read_class_names(write(tmp_path / "n.json", '{"b": 1, "a": 0}')) == ["a", "b"]
    with pytest.raises(AnnotationError, match=r"n2\.txt:2: empty class name"):
        read_class_names(write(tmp_path / "n2.txt", "a\n\nb\n"))
    with pytest.raises(AnnotationError, match="0..1"):
        read_class_names(write(tmp_path / "n3.json", '{"b": 2, "a": 0}'))


def test_numbered_classes_without_a_names_file(tmp_path):
    write(tmp_path / "train.csv", "a.mp4 4\n")
    records, names = load_annotations("kinetics", str(tmp_path), "train", num_classes=5)
    assert names == ["0", "1", "2", "3", "4"] and records[0].label == 4


def ssv2_files(root, train_entries, labels=None):
    labels = labels or {"Moving something up": "0", "Pushing something from left to right": "1"}
    write(root / "something-something-v2-labels.json", json.dumps(labels))
    write(root / "something-something-v2-train.json", json.dumps(train_entries))
    return root


def test_ssv2_json(tmp_path):
    entries = [
        {"id": "12", "label": "pushing a cup from left to right",
         "template": "Pushing [something] from left to right", "placeholders": ["a cup"]},
        {"id": "7", "label": "moving a pen up", "template": "Moving [something] up", "placeholders": ["a pen"]},
    ]
    root = ssv2_files(tmp_path, entries)
    records, names = load_annotations("ssv2", str(root), "train", path_prefix="/videos")
    assert names == ["Moving something up", "Pushing something from left to right"]
    assert [(r.path, r.label) for r in records] == [("/videos/12.webm", 1), ("/videos/7.webm", 0)]
    with pytest.raises(AnnotationError, match=r"validation\.json: missing SSv2 split file"):
        load_annotations("ssv2", str(root), "val")
    # test: the released test list has ids only, so the validation list is used
    write(root / "something-something-v2-validation.json", json.dumps(entries[1:]))
    write(root / "something-something-v2-test.json", json.dumps([{"id": "99"}]))
    assert [r.path for r in load_annotations("ssv2", str(root), "test")[0]] == ["7.webm"]
    write(root / "something-something-v2-test.json", json.dumps(entries[:1]))  # a labelled test list
    assert [r.path for r in load_annotations("ssv2", str(root), "test")[0]] == ["12.webm"]


def test_ssv2_errors(tmp_path):
    root = ssv2_files(tmp_path, [{"id": "1", "template": "Moving [something] up"},
                                 {"id": "2", "template": "Juggling [something]"}])
    with pytest.raises(AnnotationError, match=r"train\.json: entry 1 \(id 2\): unknown class 'Juggling \[something\]'"):
        load_annotations("ssv2", str(root), "train")
    bad = write(tmp_path / "bad.json", '[{"id": "1"}]')
    with pytest.raises(AnnotationError, match="entry 0: expected an object with 'id' and 'template'"):
        read_ssv2_json(bad, "", ["Moving something up"])
    broken = write(tmp_path / "broken.json", '{"a": "0",\n "b": }')
    with pytest.raises(AnnotationError, match=r"broken\.json:2: not valid json"):
        read_ssv2_labels(broken)
