"""The folder, ucf101 and hmdb51 layouts: files exactly as released (CRLF, trailing spaces), every split,
every annotation error naming file and line, and generated datasets that load end to end."""

import logging
import os

import pytest

from videoregion.data import build_dataset
from videoregion.data.layouts import load_annotations
from videoregion.errors import AnnotationError, ConfigError
from videoregion.synthetic import generate_dataset
from videoregion.synthetic.build import ensure_dataset


def touch(path, text=""):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    return str(path)


def rel(records, root):
    return [(os.path.relpath(r.path, root), r.label) for r in records]


# ----------------------------------------------------------------------------- folder
@pytest.fixture
def folder(tmp_path):
    """train/{brush,run,jump}, val/{brush,run}; no test folder. Video contents do not matter here."""
    for path in ["train/run/a.mp4", "train/run/b.AVI", "train/jump/c.webm", "train/brush/sub/d.mkv",
                 "val/run/e.mov", "val/brush/f.mp4"]:
        touch(tmp_path / path)
    return tmp_path


def test_folder_records_labels_and_sorted_class_names(folder):
    records, names = load_annotations("folder", str(folder), "train", path_prefix="/ignored")
    assert names == ["brush", "jump", "run"]
    assert rel(records, folder) == [("train/brush/sub/d.mkv", 0), ("train/jump/c.webm", 1),
                                    ("train/run/a.mp4", 2), ("train/run/b.AVI", 2)]
    val, val_names = load_annotations("folder", str(folder), "val")
    assert val_names == names  # val lacks "jump": labels still follow train's folders
    assert rel(val, folder) == [("val/brush/f.mp4", 0), ("val/run/e.mov", 2)]


def test_folder_test_uses_val_unless_there_is_a_test_folder(folder):
    assert rel(load_annotations("folder", str(folder), "test")[0], folder) == [
        ("val/brush/f.mp4", 0), ("val/run/e.mov", 2)]
    touch(folder / "test/jump/g.mp4")
    assert rel(load_annotations("folder", str(folder), "test")[0], folder) == [("test/jump/g.mp4", 1)]


def test_folder_skips_files_that_are_not_videos_with_one_warning(folder, caplog):
    for path in ["train/run/notes.txt", "train/jump/thumb.jpg", "train/readme.md", "train/run/.DS_Store",
                 "train/.hidden/x.mp4"]:
        touch(folder / path)
    with caplog.at_level(logging.WARNING):
        records, names = load_annotations("folder", str(folder), "train")
    assert names == ["brush", "jump", "run"] and len(records) == 4
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "skipping 3 files that are not videos" in warning
    for listed in ["jump/thumb.jpg", "readme.md", "run/notes.txt"]:
        assert listed in warning
    assert ".DS_Store" not in warning and ".mp4 .avi" not in warning and ".3gp" in warning


@pytest.mark.parametrize("setup, split, where, problem", [
    (lambda r: touch(r / "val/swim/x.mp4"), "val", "val/swim",
     "class folder 'swim' has no folder of that name in train/"),
    (lambda r: touch(r / "train/swim/notes.txt"), "train", "train/swim", "empty class folder: no video files"),
    (lambda r: os.makedirs(r / "val/jump"), "val", "val/jump", "empty class folder"),
    (lambda r: touch(r / "test/readme.txt"), "test", "test", "no videos in the test split"),
])
def test_folder_errors_name_the_folder(folder, setup, split, where, problem):
    setup(folder)
    with pytest.raises(AnnotationError, match=problem) as error:
        load_annotations("folder", str(folder), split)
    assert error.value.path == str(folder / where)


def test_folder_without_train_or_val_is_a_clear_error(tmp_path):
    touch(tmp_path / "val/run/a.mp4")
    with pytest.raises(AnnotationError, match=r"train: missing train folder: the folder layout needs train/<class>"):
        load_annotations("folder", str(tmp_path), "val")
    touch(tmp_path / "train/run/a.mp4")
    os.rename(tmp_path / "val", tmp_path / "validation")
    with pytest.raises(AnnotationError, match=r"val: missing val folder"):
        load_annotations("folder", str(tmp_path), "test")
    os.makedirs(tmp_path / "empty/train")
    with pytest.raises(AnnotationError, match="no class folders"):
        load_annotations("folder", str(tmp_path / "empty"), "train")


# ----------------------------------------------------------------------------- ucf101
UCF_CLASSES = ["ApplyEyeMakeup", "Archery", "HandstandPushups"]
# split N trains on groups other than N and tests on group N, as the released lists do
UCF_VIDEOS = {n: [f"{c}/v_{c.replace('Handstand', 'HandStand')}_g0{g}_c01.avi" for c in UCF_CLASSES for g in (1, 2, 3)]
              for n in (1, 2, 3)}


def crlf(lines):
    return "".join(line + "\r\n" for line in lines)


@pytest.fixture
def ucf(tmp_path):
    """classInd.txt and the three train/test lists, CRLF as released."""
    touch(tmp_path / "classInd.txt", crlf(f"{i} {c}" for i, c in enumerate(UCF_CLASSES, start=1)))
    for n in (1, 2, 3):
        train = [v for v in UCF_VIDEOS[n] if f"_g0{n}_" not in v]
        test = [v for v in UCF_VIDEOS[n] if f"_g0{n}_" in v]
        touch(tmp_path / f"trainlist0{n}.txt", crlf(f"{v} {UCF_CLASSES.index(v.split('/')[0]) + 1}" for v in train))
        touch(tmp_path / f"testlist0{n}.txt", crlf(test))
    return tmp_path


@pytest.mark.parametrize("fold", [1, 2, 3])
def test_ucf101_released_lists_each_split(ucf, fold):
    train, names = load_annotations("ucf101", str(ucf), "train", path_prefix="/UCF-101", fold=fold)
    assert names == UCF_CLASSES
    assert len(train) == 6 and all(f"_g0{fold}_" not in r.path for r in train)
    assert [(r.path, r.label) for r in train[:2]] == [
        (f"/UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g0{g}_c01.avi", 0) for g in (1, 2, 3) if g != fold]
    for split in ("val", "test"):  # both read the split's test list; labels from the class folder
        records, _ = load_annotations("ucf101", str(ucf), split, path_prefix="/UCF-101", fold=fold)
        assert [(r.path, r.label) for r in records] == [
            (f"/UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g0{fold}_c01.avi", 0),
            (f"/UCF-101/Archery/v_Archery_g0{fold}_c01.avi", 1),
            (f"/UCF-101/HandstandPushups/v_HandStandPushups_g0{fold}_c01.avi", 2)]


@pytest.mark.parametrize("name, lines, line, problem", [
    ("trainlist01.txt", ["Archery/v_Archery_g01_c01.avi 2", "Bowling/v_Bowling_g01_c01.avi 2"], 2,
     "class 'Bowling' is not in classInd.txt"),
    ("trainlist01.txt", ["Archery/v_Archery_g01_c01.avi 4"], 1, r"label 4 out of range \[1, 3\]"),
    ("trainlist01.txt", ["", "Archery/v_Archery_g01_c01.avi 0"], 2, r"label 0 out of range"),
    ("trainlist01.txt", ["Archery/v_Archery_g01_c01.avi 1"], 1,
     r"label 1 \(ApplyEyeMakeup\) disagrees with the class folder 'Archery' \(label 2 in classInd.txt\)"),
    ("trainlist01.txt", ["Archery/v_Archery_g01_c01.avi 2 extra"], 1, "malformed line"),
    ("trainlist01.txt", ["Archery/v_Archery_g01_c01.avi two"], 1, "malformed line"),
    ("testlist01.txt", ["v_Archery_g01_c01.avi"], 1, "malformed line"),
    ("testlist01.txt", ["Archery/v_Archery_g01_c01.avi", "Bowling/v_Bowling_g01_c01.avi"], 2,
     "class 'Bowling' is not in classInd.txt"),
    ("classInd.txt", ["1 ApplyEyeMakeup", "ApplyEyeMakeup 2"], 2, "malformed line"),
    ("classInd.txt", ["1 ApplyEyeMakeup", "2 Archery", "2 HandstandPushups"], 3, "index 2 given twice"),
])
def test_ucf101_errors_name_file_and_line(ucf, name, lines, line, problem):
    touch(ucf / name, crlf(lines))
    split = "val" if name.startswith("test") else "train"
    with pytest.raises(AnnotationError, match=rf"{name}:{line}: {problem}"):
        load_annotations("ucf101", str(ucf), split)


@pytest.mark.parametrize("name, text, problem", [
    ("trainlist02.txt", "\r\n\r\n", "trainlist02.txt: no videos in this split file"),
    ("classInd.txt", "1 ApplyEyeMakeup\r\n3 Archery\r\n", r"classInd.txt: class indices must be 1..2, each once"),
])
def test_ucf101_empty_split_and_bad_class_index(ucf, name, text, problem):
    touch(ucf / name, text)
    with pytest.raises(AnnotationError, match=problem):
        load_annotations("ucf101", str(ucf), "train", fold=2)


def test_ucf101_missing_list_and_unknown_split(ucf):
    os.remove(ucf / "testlist03.txt")
    with pytest.raises(AnnotationError, match="testlist03.txt: missing UCF101 split file"):
        load_annotations("ucf101", str(ucf), "test", fold=3)
    for fold in (0, 4):
        with pytest.raises(ConfigError, match=rf"DATA.SPLIT {fold} unknown; UCF101 and HMDB51 have splits \(1, 2, 3\)"):
            load_annotations("ucf101", str(ucf), "train", fold=fold)


# ----------------------------------------------------------------------------- hmdb51
HMDB_CLASSES = ["brush_hair", "cartwheel", "chew"]


def hmdb_video(c, k):
    return f"April_09_{c}_u_nm_np1_ba_goo_{k}.avi"


@pytest.fixture
def hmdb(tmp_path):
    """<class>_test_split<N>.txt for 3 classes x 3 splits, with the released trailing space: video k of a
    class is tag 2 (test) in split k + 1, tag 0 (unused) in split (k + 1) % 3 + 1, else tag 1 (train)."""
    for c in HMDB_CLASSES:
        for n in (1, 2, 3):
            tags = [2 if k + 1 == n else 0 if (k + 1) % 3 + 1 == n else 1 for k in range(6)]
            lines = "".join(f"{hmdb_video(c, k)} {t} \n" for k, t in enumerate(tags))
            touch(tmp_path / f"{c}_test_split{n}.txt", lines)
    return tmp_path


@pytest.mark.parametrize("fold", [1, 2, 3])
def test_hmdb51_released_split_files_each_split(hmdb, fold):
    train, names = load_annotations("hmdb51", str(hmdb), "train", path_prefix="/hmdb", fold=fold)
    assert names == HMDB_CLASSES
    train_k = [k for k in range(6) if k + 1 != fold and (k + 1) % 3 + 1 != fold]
    assert [(r.path, r.label) for r in train] == [
        (f"/hmdb/{c}/{hmdb_video(c, k)}", label) for label, c in enumerate(HMDB_CLASSES) for k in train_k]
    for split in ("val", "test"):
        records, _ = load_annotations("hmdb51", str(hmdb), split, path_prefix="/hmdb", fold=fold)
        assert [(r.path, r.label) for r in records] == [
            (f"/hmdb/{c}/{hmdb_video(c, fold - 1)}", label) for label, c in enumerate(HMDB_CLASSES)]


@pytest.mark.parametrize("text, line, problem", [
    ("a.avi 1 \nb.avi 3 \n", 2, r"bad tag '3'; expected 0 \(unused\), 1 \(train\) or 2 \(test\)"),
    ("a.avi 1 \n\nb.avi \n", 3, "malformed line 'b.avi'"),
    ("a.avi 1 extra\n", 1, "malformed line"),
])
def test_hmdb51_errors_name_file_and_line(hmdb, text, line, problem):
    touch(hmdb / "chew_test_split2.txt", text)
    with pytest.raises(AnnotationError, match=rf"chew_test_split2.txt:{line}: {problem}"):
        load_annotations("hmdb51", str(hmdb), "train", fold=2)


def test_hmdb51_missing_split_file_and_empty_split(hmdb, tmp_path):
    os.remove(hmdb / "cartwheel_test_split3.txt")
    with pytest.raises(AnnotationError, match=r"cartwheel_test_split3.txt: missing split file for split 3"):
        load_annotations("hmdb51", str(hmdb), "train", fold=3)
    assert len(load_annotations("hmdb51", str(hmdb), "train", fold=1)[0]) == 9
    for c in HMDB_CLASSES:
        touch(hmdb / f"{c}_test_split1.txt", "a.avi 0 \nb.avi 1 \n")
    with pytest.raises(AnnotationError, match=r"\*_test_split1.txt: no videos tagged 2 \(val\) in the split 1 files"):
        load_annotations("hmdb51", str(hmdb), "val", fold=1)
    os.makedirs(tmp_path / "none")
    with pytest.raises(AnnotationError, match=r"no HMDB51 split files \(<class>_test_split<N>.txt\)"):
        load_annotations("hmdb51", str(tmp_path / "none"), "train")


# ----------------------------------------------------------------------------- generated, end to end
@pytest.mark.parametrize("fmt", ["folder", "ucf101", "hmdb51"])
def test_a_generated_dataset_in_each_layout_builds_and_yields_items(tmp_path, make_cfg, fmt):
    out = str(tmp_path / fmt)
    summary = generate_dataset(out, fmt, seed=0, videos_per_class=3, num_classes=2, size=32, num_frames=16)
    cfg = make_cfg(out, **{"DATA.DATASET": fmt, "DATA.PATH_PREFIX": os.path.join(out, "videos"),
                           "TEST.NUM_ENSEMBLE_VIEWS": 1})
    train = build_dataset(cfg, "train")
    assert sorted(train.class_names) == sorted(summary["class_names"])
    assert train.num_videos == summary["num_videos"]["train"]
    item = train[0]
    assert item["clip"].shape == (3, 8, 32, 32) and 0 <= item["label"] < 2
    test = build_dataset(cfg, "test")  # ucf101 / hmdb51: val and test read the same test list
    expected = summary["num_videos"]["test"] + (summary["num_videos"]["val"] if fmt != "folder" else 0)
    assert test.num_videos == expected


def test_folder_layout_with_the_built_in_synthetic_generation(tmp_path, make_cfg):
    folder = str(tmp_path / "data")
    cfg = make_cfg(folder, **{"DATA.DATASET": "folder", "MODEL.NUM_CLASSES": 2, "SYNTHETIC.GENERATE": True,
                              "SYNTHETIC.VIDEOS_PER_CLASS": 3, "SYNTHETIC.SIZE": 32, "SYNTHETIC.NUM_FRAMES": 16})
    ensure_dataset(cfg, main_process=True)
    assert sorted(os.listdir(folder)) == ["classnames.json", "synthetic.json", "test", "train", "val"]
    train = build_dataset(cfg, "train")
    assert train.class_names == ["move_left", "move_right"] and train.num_videos == 2
    assert train[1]["clip"].shape == (3, 8, 32, 32)
    ensure_dataset(cfg, main_process=True)  # there and as configured: kept


def test_build_dataset_reads_the_configured_split(ucf, make_cfg):
    cfg = make_cfg(str(ucf), **{"DATA.DATASET": "ucf101", "DATA.SPLIT": 2})
    assert all("_g02_" in r.path for r in build_dataset(cfg, "test").records)
