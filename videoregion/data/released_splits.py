"""UCF101's and HMDB51's released split files <-> video records, read as they come.

Both datasets come with three train/test splits (``DATA.SPLIT``, ``fold`` here: 1, 2 or 3); val
and test both read the split's test videos.

- ``ucf101``: ``classInd.txt`` (``1 ApplyEyeMakeup`` per line), ``trainlist0N.txt``
  (``ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1``, 1-based labels) and ``testlist0N.txt``
  (paths only; the label is the class folder of the path). Videos ``<Class>/<video>.avi`` under
  the video folder (the released ``UCF-101`` folder).
- ``hmdb51``: one ``<class>_test_split<N>.txt`` per class and split, lines ``<video>.avi <tag>``
  (1: train, 2: test, 0: unused). Class names are the files' class names, sorted. Videos
  ``<class>/<video>.avi`` under the video folder.

The released files have CRLF line endings (UCF101) and trailing spaces (HMDB51); both are read as
they are. Every problem is an :class:`AnnotationError` naming file and line. The writers write the
same files for generated data (split 1 only).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence

from videoregion.errors import AnnotationError, ConfigError

from .annotations import AnnotatedClass, AnnotatedVideo, VideoRecord

__all__ = [
    "FOLDS",
    "HMDB51_TAGS",
    "UCF101_CLASS_FILE",
    "check_fold",
    "hmdb51_split_files",
    "load_hmdb51",
    "load_ucf101",
    "read_hmdb51_split",
    "read_ucf101_classes",
    "read_ucf101_list",
    "ucf101_list_file",
    "write_hmdb51",
    "write_ucf101",
]

FOLDS = (1, 2, 3)
UCF101_CLASS_FILE = "classInd.txt"
# HMDB51's tag of each split: which videos of a split file a split reads.
HMDB51_TAGS = {"train": 1, "val": 2, "test": 2}
_HMDB51_FILE = re.compile(r"(?P<name>.+)_test_split(?P<fold>\d+)\.txt")


def check_fold(fold: int) -> None:
    """A :class:`ConfigError` unless ``fold`` is one of the released splits (1, 2 or 3)."""
    if fold not in FOLDS:
        raise ConfigError(f"DATA.SPLIT {fold!r} unknown; UCF101 and HMDB51 have splits {FOLDS}")


def _fields(path: str, what: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, whitespace-separated fields) of each non-blank line; CRLF and trailing spaces
    are whitespace."""
    if not os.path.isfile(path):
        raise AnnotationError(path, f"missing {what}")
    with open(path, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, start=1):
            fields = line.split()
            if fields:
                yield number, fields


# ----------------------------------------------------------------------------- ucf101
def ucf101_list_file(data_dir: str, split: str, fold: int) -> str:
    """``trainlist0N.txt`` for train, ``testlist0N.txt`` for val and test."""
    return os.path.join(data_dir, f"{'train' if split == 'train' else 'test'}list{fold:02d}.txt")


def read_ucf101_classes(path: str) -> list[str]:
    """``classInd.txt`` (``<index> <name>`` lines, indices 1..N each once) -> names by label."""
    by_index: dict[int, str] = {}
    lines: dict[str, int] = {}
    for number, fields in _fields(path, "UCF101 class index file"):
        if len(fields) != 2 or not fields[0].isdigit():
            raise AnnotationError(path, f"malformed line {' '.join(fields)!r}; expected '<index> <class name>'",
                                  number)
        index, name = int(fields[0]), fields[1]
        if index in by_index:
            raise AnnotationError(path, f"index {index} given twice (classes {by_index[index]!r} and {name!r})",
                                  number)
        if name in lines:
            raise AnnotationError(path, f"class {name!r} given twice (also line {lines[name]})", number)
        by_index[index], lines[name] = name, number
    if not by_index:
        raise AnnotationError(path, "no classes")
    if sorted(by_index) != list(range(1, len(by_index) + 1)):
        raise AnnotationError(path, f"class indices must be 1..{len(by_index)}, each once")
    return [by_index[i] for i in range(1, len(by_index) + 1)]


def read_ucf101_list(path: str, path_prefix: str, class_names: Sequence[str],
                     class_file: str = UCF101_CLASS_FILE) -> list[VideoRecord]:
    """A train or test list (``<Class>/<video>.avi [label]`` lines) -> records.

    The label is the class folder of the path; a 1-based label, where given, must agree with it.
    """
    index = {name: i for i, name in enumerate(class_names)}
    records = []
    for number, fields in _fields(path, "UCF101 split file"):
        video = fields[0]
        folder = video.split("/")[0]
        if len(fields) > 2 or "/" not in video or (len(fields) == 2 and not fields[1].lstrip("+-").isdigit()):
            raise AnnotationError(path, f"malformed line {' '.join(fields)!r}; expected '<Class>/<video>.avi <label>' "
                                        "(trainlist) or '<Class>/<video>.avi' (testlist)", number)
        if folder not in index:
            raise AnnotationError(path, f"class {folder!r} is not in {class_file}", number)
        if len(fields) == 2:
            label = int(fields[1])
            if not 1 <= label <= len(class_names):
                raise AnnotationError(path, f"label {label} out of range [1, {len(class_names)}]", number)
            if label - 1 != index[folder]:
                raise AnnotationError(path, f"label {label} ({class_names[label - 1]}) disagrees with the class "
                                            f"folder {folder!r} (label {index[folder] + 1} in {class_file})", number)
        records.append(VideoRecord(os.path.join(path_prefix, video), index[folder]))
    if not records:
        raise AnnotationError(path, "no videos in this split file")
    return records


def load_ucf101(
    data_dir: str, split: str, path_prefix: str, class_names_file: str = "", num_classes: int = 101, fold: int = 1
) -> tuple[list[VideoRecord], list[str]]:
    """Records of one split of split ``fold`` and the class names of ``classInd.txt`` (or of
    ``class_names_file``, in the same format); ``num_classes`` is not used."""
    check_fold(fold)
    class_file = os.path.join(data_dir, class_names_file or UCF101_CLASS_FILE)
    class_names = read_ucf101_classes(class_file)
    records = read_ucf101_list(ucf101_list_file(data_dir, split, fold), path_prefix, class_names,
                               os.path.basename(class_file))
    return records, class_names


# ----------------------------------------------------------------------------- hmdb51
def hmdb51_split_files(data_dir: str, fold: int) -> dict[str, str]:
    """{class name: its ``<class>_test_split<fold>.txt``}, sorted by name.

    The classes are those of every split file in ``data_dir``; a class without a file for ``fold``
    is an :class:`AnnotationError` naming the missing file.
    """
    folds: dict[str, set[int]] = {}
    for name in os.listdir(data_dir):
        match = _HMDB51_FILE.fullmatch(name)
        if match:
            folds.setdefault(match["name"], set()).add(int(match["fold"]))
    if not folds:
        raise AnnotationError(data_dir, "no HMDB51 split files (<class>_test_split<N>.txt)")
    missing = sorted(name for name, found in folds.items() if fold not in found)
    if missing:
        raise AnnotationError(os.path.join(data_dir, f"{missing[0]}_test_split{fold}.txt"),
                              f"missing split file for split {fold} (DATA.SPLIT); {len(missing)} of the "
                              f"{len(folds)} classes have none: {', '.join(missing[:5])}")
    return {name: os.path.join(data_dir, f"{name}_test_split{fold}.txt") for name in sorted(folds)}


def read_hmdb51_split(path: str, class_name: str, label: int, path_prefix: str, tag: int) -> list[VideoRecord]:
    """The videos of one class's split file tagged ``tag`` (1 train, 2 test) -> records of ``label``."""
    records = []
    for number, fields in _fields(path, "HMDB51 split file"):
        if len(fields) != 2:
            raise AnnotationError(path, f"malformed line {' '.join(fields)!r}; expected '<video>.avi <tag>'", number)
        if fields[1] not in ("0", "1", "2"):
            raise AnnotationError(path, f"bad tag {fields[1]!r}; expected 0 (unused), 1 (train) or 2 (test)", number)
        if int(fields[1]) == tag:
            records.append(VideoRecord(os.path.join(path_prefix, class_name, fields[0]), label))
    return records


def load_hmdb51(
    data_dir: str, split: str, path_prefix: str, class_names_file: str = "", num_classes: int = 51, fold: int = 1
) -> tuple[list[VideoRecord], list[str]]:
    """Records of one split of split ``fold`` (train: tag 1; val, test: tag 2) and the class names;
    ``class_names_file`` and ``num_classes`` are not used."""
    check_fold(fold)
    files = hmdb51_split_files(data_dir, fold)
    tag = HMDB51_TAGS[split]
    records = []
    for label, (name, path) in enumerate(files.items()):
        records += read_hmdb51_split(path, name, label, path_prefix, tag)
    if not records:
        raise AnnotationError(os.path.join(data_dir, f"*_test_split{fold}.txt"),
                              f"no videos tagged {tag} ({split}) in the split {fold} files")
    return records, list(files)


# ----------------------------------------------------------------------------- writers
def _class_folder(video: AnnotatedVideo, classes: Sequence[AnnotatedClass]) -> str:
    folder, _, name = video.path.partition("/")
    if folder != classes[video.label].name or not name:
        raise ValueError(f"{video.path}: expected <class>/<video>, class {classes[video.label].name!r}")
    return name


def _test_videos(splits: Mapping[str, Sequence[AnnotatedVideo]]) -> list[AnnotatedVideo]:
    """The val and test videos (both read the released test list), each once, in order."""
    return list(dict.fromkeys([*splits.get("val", ()), *splits.get("test", ())]))


def write_ucf101(data_dir: str, classes: Sequence[AnnotatedClass],
                 splits: Mapping[str, Sequence[AnnotatedVideo]]) -> None:
    """``classInd.txt``, ``trainlist01.txt`` (train, with 1-based labels) and ``testlist01.txt``
    (val and test, paths only), with the released files' CRLF line endings."""
    def write(name: str, lines: list[str]) -> None:
        with open(os.path.join(data_dir, name), "w", encoding="utf-8", newline="") as f:
            f.writelines(line + "\r\n" for line in lines)

    for video in [*splits.get("train", ()), *_test_videos(splits)]:
        _class_folder(video, classes)
    write(UCF101_CLASS_FILE, [f"{i} {c.name}" for i, c in enumerate(classes, start=1)])
    write("trainlist01.txt", [f"{v.path} {v.label + 1}" for v in splits.get("train", ())])
    write("testlist01.txt", [v.path for v in _test_videos(splits)])


def write_hmdb51(data_dir: str, classes: Sequence[AnnotatedClass],
                 splits: Mapping[str, Sequence[AnnotatedVideo]]) -> None:
    """One ``<class>_test_split1.txt`` per class: its train videos tagged 1, its val and test videos
    tagged 2, each line with the released files' trailing space."""
    lines: dict[int, list[str]] = {label: [] for label in range(len(classes))}
    for tag, videos in ((1, splits.get("train", ())), (2, _test_videos(splits))):
        for video in videos:
            lines[video.label].append(f"{_class_folder(video, classes)} {tag} \n")
    for label, cls in enumerate(classes):
        with open(os.path.join(data_dir, f"{cls.name}_test_split1.txt"), "w", encoding="utf-8") as f:
            f.writelines(lines[label])
