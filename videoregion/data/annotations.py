"""Annotation files <-> video records (path, label) and class names.

Pure functions, one set per released format; :mod:`.layouts` registers them as dataset layouts.

- ``kinetics``: the SlowFast csv (``path label`` per line, space- or comma-separated, no header) or
  the official Kinetics csv (header ``label,youtube_id,time_start,time_end[,split...]``, videos
  named ``<youtube_id>_<start:06d>_<end:06d>.mp4``), told apart by the header. Split files are
  ``{train,val,test}.csv`` (the official ``validate.csv`` is accepted for val).
- ``ssv2``: Something-Something v2's released json files (``something-something-v2-labels.json``
  and ``-train.json`` / ``-validation.json``), videos ``<id>.webm``. Test reads ``-test.json``
  when its entries carry templates; the released one has none, so test uses the validation list.
- ``folder``: no annotation file; the folders are the annotations: ``train/<class>/<video>``,
  ``val/<class>/<video>`` and optionally ``test/<class>/<video>`` (else test uses val). Class names
  are the sorted folder names of ``train``; files whose suffix is not in :data:`VIDEO_SUFFIXES`
  are skipped with one warning.

UCF101's and HMDB51's released split files are read by :mod:`.released_splits`.

Class names come from the annotations themselves (SSv2's labels file) or from a class-name file:
a text file with one name per line (line i names label i) or a json mapping name -> index (as in
SlowFast's ``classids.json``); ``classnames.txt``, ``classnames.json`` or ``classids.json`` in the
annotation folder are found without configuration. Every problem is an :class:`AnnotationError`
naming file and line.

The writers (:func:`write_kinetics_csv`, :func:`write_ssv2_json`, :func:`write_class_names`,
:func:`write_folder`) write the same files for generated data, so that file names and rules live here
once.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from videoregion.errors import AnnotationError

__all__ = [
    "AnnotatedClass",
    "AnnotatedVideo",
    "AnnotationError",
    "VideoRecord",
    "VIDEO_SUFFIXES",
    "find_class_names_file",
    "folder_class_names",
    "is_video_file",
    "load_folder",
    "load_kinetics",
    "load_ssv2",
    "read_class_folders",
    "read_class_names",
    "read_kinetics_csv",
    "read_kinetics_official_csv",
    "read_ssv2_json",
    "read_ssv2_labels",
    "write_class_names",
    "write_folder",
    "write_json",
    "write_kinetics_csv",
    "write_ssv2_json",
]

SPLITS = ("train", "val", "test")
# Looked for in the annotation folder when no class-name file is configured.
DEFAULT_CLASS_NAME_FILES = ("classnames.txt", "classnames.json", "classids.json")
OFFICIAL_KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end")
SSV2_LABELS = "something-something-v2-labels.json"
SSV2_SPLIT_FILES = {
    "train": "something-something-v2-train.json",
    "val": "something-something-v2-validation.json",
    "test": "something-something-v2-test.json",
}
SSV2_VIDEO_SUFFIX = ".webm"
# What the folder layout counts as a video (compared case-insensitively); other files are skipped.
VIDEO_SUFFIXES = frozenset((".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv",
                            ".3gp", ".ogv"))
# Generated videos are written here (relative to the dataset folder) before a layout's writer runs.
GENERATED_VIDEO_DIR = "videos"
# Non-video files named in the folder layout's warning (the count covers the rest).
_LISTED_SKIPPED = 10

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoRecord:
    """One annotated video: its full path and integer label."""

    path: str
    label: int


@dataclass(frozen=True)
class AnnotatedClass:
    """A class to write: its short name and its SSv2-style template (``"Moving [something] up"``)."""

    name: str
    template: str


@dataclass(frozen=True)
class AnnotatedVideo:
    """A video to write: its path relative to the video folder, its label, and what it shows
    (the words that fill its class template's ``[something]``)."""

    path: str
    label: int
    thing: str


# ----------------------------------------------------------------------------- class names
def read_class_names(path: str) -> list[str]:
    """Class names ordered by label: a text file (one per line) or a json {name: index}."""
    if not os.path.isfile(path):
        raise AnnotationError(path, "class-name file not found")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise AnnotationError(path, f"not valid json: {e.msg}", e.lineno) from None
        if isinstance(data, list) and all(isinstance(n, str) for n in data):
            return data
        if not isinstance(data, dict):
            raise AnnotationError(path, "expected a json object {class name: index} or a list of names")
        return _names_from_mapping(data, path)
    names = text.splitlines()
    while names and not names[-1].strip():
        names.pop()
    for number, name in enumerate(names, start=1):
        if not name.strip():
            raise AnnotationError(path, "empty class name", number)
    names = [n.strip() for n in names]
    if not names:
        raise AnnotationError(path, "no class names")
    return names


def _names_from_mapping(mapping: dict, path: str) -> list[str]:
    """{name: index} (index int or digit string, 0..N-1 each once) -> names ordered by index."""
    by_index: dict[int, str] = {}
    for name, index in mapping.items():
        try:
            index = int(index)
        except (TypeError, ValueError):
            raise AnnotationError(path, f"class {name!r} has a non-integer index {index!r}") from None
        if index in by_index:
            raise AnnotationError(path, f"classes {by_index[index]!r} and {name!r} share index {index}")
        by_index[index] = name
    if sorted(by_index) != list(range(len(by_index))):
        raise AnnotationError(path, f"class indices must be 0..{len(by_index) - 1}, each once")
    return [by_index[i] for i in range(len(by_index))]


def find_class_names_file(data_dir: str, configured: str = "") -> str | None:
    """The configured class-name file (relative to ``data_dir``), else a default one that exists."""
    if configured:
        return configured if os.path.isabs(configured) else os.path.join(data_dir, configured)
    for name in DEFAULT_CLASS_NAME_FILES:
        candidate = os.path.join(data_dir, name)
        if os.path.isfile(candidate):
            return candidate
    return None


# ----------------------------------------------------------------------------- kinetics
_SLOWFAST_LINE = re.compile(r"(?P<path>.+?)[ ,\t]+(?P<label>[-+]?\d+)")


def read_kinetics_csv(path: str, path_prefix: str, num_classes: int) -> list[VideoRecord]:
    """SlowFast csv: ``<video path> <label>`` per line (space, tab or comma), blank lines skipped."""
    records = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            match = _SLOWFAST_LINE.fullmatch(line)
            if match is None:
                raise AnnotationError(path, f"malformed line {line!r}; expected '<video path> <label>'", number)
            label = int(match["label"])
            if not 0 <= label < num_classes:
                raise AnnotationError(path, f"label {label} out of range [0, {num_classes})", number)
            records.append(VideoRecord(os.path.join(path_prefix, match["path"]), label))
    return records


def read_kinetics_official_csv(path: str, path_prefix: str, class_names: list[str]) -> list[VideoRecord]:
    """Official Kinetics csv (header ``label,youtube_id,time_start,time_end,...``)."""
    index = {name: i for i, name in enumerate(class_names)}
    records = []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in OFFICIAL_KINETICS_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise AnnotationError(path, f"missing columns {missing} in the header", 1)
        for row in reader:
            number = reader.line_num
            if None in row.values() or None in row:
                raise AnnotationError(path, f"malformed line: expected {len(reader.fieldnames)} fields", number)
            label = row["label"].strip()
            if label not in index:
                raise AnnotationError(path, f"unknown class {label!r}", number)
            try:
                start, end = int(float(row["time_start"])), int(float(row["time_end"]))
            except ValueError:
                raise AnnotationError(
                    path, f"malformed times {row['time_start']!r}, {row['time_end']!r}", number
                ) from None
            name = f"{row['youtube_id'].strip()}_{start:06d}_{end:06d}.mp4"
            records.append(VideoRecord(os.path.join(path_prefix, name), index[label]))
    return records


def _is_official_kinetics_csv(path: str) -> bool:
    with open(path, encoding="utf-8") as f:
        header = f.readline().strip().lower()
    return header.split(",")[:2] == ["label", "youtube_id"]


def _kinetics_split_file(data_dir: str, split: str) -> str:
    candidates = [f"{split}.csv"] + (["validate.csv"] if split == "val" else [])
    for name in candidates:
        path = os.path.join(data_dir, name)
        if os.path.isfile(path):
            return path
    raise AnnotationError(os.path.join(data_dir, candidates[0]), f"missing {split} split file")


def load_kinetics(
    data_dir: str, split: str, path_prefix: str, class_names_file: str = "", num_classes: int = 400, fold: int = 1
) -> tuple[list[VideoRecord], list[str]]:
    """Records of one split and the class names (numbered when no class-name file exists); one split
    only, so ``fold`` is not used."""
    path = _kinetics_split_file(data_dir, split)
    names_file = find_class_names_file(data_dir, class_names_file)
    class_names = read_class_names(names_file) if names_file else None
    if _is_official_kinetics_csv(path):
        if class_names is None:
            raise AnnotationError(
                path, "official Kinetics csv needs a class-name list (DATA.CLASS_NAMES_FILE or "
                f"{' / '.join(DEFAULT_CLASS_NAME_FILES)} in {data_dir})"
            )
        return read_kinetics_official_csv(path, path_prefix, class_names), class_names
    class_names = class_names or [str(i) for i in range(num_classes)]
    return read_kinetics_csv(path, path_prefix, len(class_names)), class_names


# ----------------------------------------------------------------------------- ssv2
def _template_key(template: str) -> str:
    """SSv2 train entries write ``[something]``; the labels file writes ``something``."""
    return template.replace("[", "").replace("]", "")


def _load_json(path: str, what: str):
    if not os.path.isfile(path):
        raise AnnotationError(path, f"missing {what}")
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise AnnotationError(path, f"not valid json: {e.msg}", e.lineno) from None


def read_ssv2_labels(path: str) -> list[str]:
    """``something-something-v2-labels.json`` ({template: "index"}) -> templates by index."""
    data = _load_json(path, "SSv2 labels file")
    if not isinstance(data, dict):
        raise AnnotationError(path, "expected a json object {template: index}")
    return _names_from_mapping(data, path)


def read_ssv2_json(path: str, path_prefix: str, class_names: list[str],
                   video_ext: str = SSV2_VIDEO_SUFFIX) -> list[VideoRecord]:
    """A split file (a json list of entries with ``id`` and ``template``) -> records."""
    entries = _load_json(path, "SSv2 split file")
    if not isinstance(entries, list):
        raise AnnotationError(path, "expected a json list of entries")
    index = {_template_key(name): i for i, name in enumerate(class_names)}
    records = []
    for number, entry in enumerate(entries):
        where = f"entry {number}"
        if not isinstance(entry, dict) or "id" not in entry or "template" not in entry:
            raise AnnotationError(path, f"{where}: expected an object with 'id' and 'template', got {entry!r:.80}")
        key = _template_key(str(entry["template"]))
        if key not in index:
            raise AnnotationError(path, f"{where} (id {entry['id']}): unknown class {entry['template']!r}")
        records.append(VideoRecord(os.path.join(path_prefix, f"{entry['id']}{video_ext}"), index[key]))
    return records


def load_ssv2(
    data_dir: str, split: str, path_prefix: str, class_names_file: str = "", num_classes: int = 174, fold: int = 1
) -> tuple[list[VideoRecord], list[str]]:
    """Records of one split; class names are the labels file's templates (``num_classes`` and
    ``fold`` are not used)."""
    labels = os.path.join(data_dir, class_names_file or SSV2_LABELS)
    class_names = read_ssv2_labels(labels)
    records = read_ssv2_json(_ssv2_split_file(data_dir, split), path_prefix, class_names)
    return records, class_names


def _ssv2_split_file(data_dir: str, split: str) -> str:
    """The json list of a split; test falls back to validation when the test list has no labels."""
    path = os.path.join(data_dir, SSV2_SPLIT_FILES[split])
    if split == "test":
        entries = _load_json(path, "SSv2 split file") if os.path.isfile(path) else []
        if not (isinstance(entries, list) and entries and isinstance(entries[0], dict) and "template" in entries[0]):
            return os.path.join(data_dir, SSV2_SPLIT_FILES["val"])
    return path


# ----------------------------------------------------------------------------- folder
def is_video_file(name: str) -> bool:
    """Whether the folder layout counts ``name`` as a video: its suffix is in :data:`VIDEO_SUFFIXES`."""
    return os.path.splitext(name)[1].lower() in VIDEO_SUFFIXES


def _visible(folder: str) -> list[os.DirEntry]:
    """The entries of ``folder`` by name, hidden ones (``.DS_Store``, ``.ipynb_checkpoints``) left out."""
    with os.scandir(folder) as entries:
        return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)


def folder_class_names(train_dir: str) -> list[str]:
    """The class names of the folder layout: the sorted names of the folders in ``train_dir``."""
    if not os.path.isdir(train_dir):
        raise AnnotationError(train_dir, "missing train folder: the folder layout needs "
                                         "train/<class>/<video> and val/<class>/<video>")
    names = [e.name for e in _visible(train_dir) if e.is_dir()]
    if not names:
        raise AnnotationError(train_dir, "no class folders: expected train/<class>/<video>")
    return names


def _class_folder_videos(class_dir: str) -> tuple[list[str], list[str]]:
    """(videos, other files) under one class folder, subfolders included, in sorted order."""
    videos, others = [], []
    for root, dirs, files in os.walk(class_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                (videos if is_video_file(name) else others).append(os.path.join(root, name))
    return videos, others


def read_class_folders(split_dir: str, class_names: Sequence[str]) -> tuple[list[VideoRecord], list[str]]:
    """(records, skipped files) of one split folder ``<split_dir>/<class>/<video>``.

    A file that is not a video (or lies outside any class folder) is skipped; a class folder that is
    not one of ``class_names``, or holds no video, is an :class:`AnnotationError` naming it.
    """
    index = {name: i for i, name in enumerate(class_names)}
    records, skipped = [], []
    for entry in _visible(split_dir):
        if not entry.is_dir():
            skipped.append(entry.path)
            continue
        if entry.name not in index:
            raise AnnotationError(entry.path, f"class folder {entry.name!r} has no folder of that name in train/, "
                                              "so it has no label")
        videos, others = _class_folder_videos(entry.path)
        if not videos:
            raise AnnotationError(entry.path, f"empty class folder: no video files ({len(others)} other files; "
                                              f"video suffixes: {' '.join(sorted(VIDEO_SUFFIXES))})")
        records += [VideoRecord(path, index[entry.name]) for path in videos]
        skipped += others
    return records, skipped


def _folder_split_dir(data_dir: str, split: str) -> str:
    """``<data_dir>/<split>``; test falls back to val when there is no test folder."""
    path = os.path.join(data_dir, split)
    if split == "test" and not os.path.isdir(path):
        path = os.path.join(data_dir, "val")
    if not os.path.isdir(path):
        raise AnnotationError(path, f"missing {os.path.basename(path)} folder: the folder layout needs "
                                    "train/<class>/<video> and val/<class>/<video>")
    return path


def load_folder(
    data_dir: str, split: str, path_prefix: str = "", class_names_file: str = "", num_classes: int = 0, fold: int = 1
) -> tuple[list[VideoRecord], list[str]]:
    """Records of one split of the folder layout and the class names (the train folder's class folders).

    Paths are ``<data_dir>/<split>/<class>/...``: ``path_prefix``, ``class_names_file``,
    ``num_classes`` and ``fold`` are not used. Skipped files are listed in one warning.
    """
    class_names = folder_class_names(os.path.join(data_dir, "train"))
    split_dir = _folder_split_dir(data_dir, split)
    records, skipped = read_class_folders(split_dir, class_names)
    if skipped:
        listed = [os.path.relpath(p, split_dir) for p in skipped[:_LISTED_SKIPPED]]
        more = f" and {len(skipped) - len(listed)} more" if len(skipped) > len(listed) else ""
        logger.warning("%s: skipping %d files that are not videos in class folders (video suffixes: %s): %s%s",
                       split_dir, len(skipped), " ".join(sorted(VIDEO_SUFFIXES)), ", ".join(listed), more)
    if not records:
        raise AnnotationError(split_dir, f"no videos in the {split} split: expected {split_dir}/<class>/<video>")
    return records, class_names


# ----------------------------------------------------------------------------- writers
def write_json(path: str, obj) -> None:
    """``obj`` as the annotation writers write json: indent 1, a final newline."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def write_class_names(path: str, class_names: Sequence[str]) -> None:
    """A json class-name file {name: index}, as :func:`read_class_names` reads it."""
    write_json(path, {name: i for i, name in enumerate(class_names)})


def write_kinetics_csv(data_dir: str, classes: Sequence[AnnotatedClass],
                       splits: Mapping[str, Sequence[AnnotatedVideo]]) -> None:
    """SlowFast csv files ``{split}.csv`` (``<path> <label>`` per line) in ``data_dir``."""
    for split, videos in splits.items():
        with open(os.path.join(data_dir, f"{split}.csv"), "w", encoding="utf-8") as f:
            f.writelines(f"{v.path} {v.label}\n" for v in videos)


def write_ssv2_json(data_dir: str, classes: Sequence[AnnotatedClass],
                    splits: Mapping[str, Sequence[AnnotatedVideo]]) -> None:
    """SSv2's labels file and one json list per split, entries as in the released files.

    Video ids are the video paths without their suffix. Unlike the released test list, the test
    file keeps each entry's template (its label).
    """
    labels = {_template_key(c.template): str(i) for i, c in enumerate(classes)}
    write_json(os.path.join(data_dir, SSV2_LABELS), labels)
    for split, videos in splits.items():
        entries = []
        for video in videos:
            template = classes[video.label].template
            text = template.replace("[something]", video.thing)
            entries.append({"id": os.path.splitext(video.path)[0], "label": text[0].lower() + text[1:],
                            "template": template, "placeholders": [video.thing]})
        write_json(os.path.join(data_dir, SSV2_SPLIT_FILES[split]), entries)



def _remove_empty_folders(root: str) -> None:
    """Remove ``root`` and the folders under it that hold no file."""
    for folder, _, _ in sorted(os.walk(root), key=lambda walked: -len(walked[0])):
        if not os.listdir(folder):
            os.rmdir(folder)


def write_folder(data_dir: str, classes: Sequence[AnnotatedClass],
                 splits: Mapping[str, Sequence[AnnotatedVideo]]) -> None:
    """The folder layout: moves each generated video from ``<data_dir>/videos/<class>/...`` to
    ``<data_dir>/<split>/<class>/...`` (a copy when a video is in more than one split), then removes
    the emptied ``videos`` folder. A video's first folder must be its class name."""
    placed: dict[str, str] = {}
    for split, videos in splits.items():
        for video in videos:
            if video.path.split("/")[0] != classes[video.label].name:
                raise ValueError(f"{video.path}: the folder layout needs <class>/<video>, class "
                                 f"{classes[video.label].name!r}")
            target = os.path.join(data_dir, split, video.path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if video.path in placed:
                shutil.copyfile(placed[video.path], target)
            else:
                os.replace(os.path.join(data_dir, GENERATED_VIDEO_DIR, video.path), target)
                placed[video.path] = target
    generated = os.path.join(data_dir, GENERATED_VIDEO_DIR)
    if os.path.isdir(generated):
        _remove_empty_folders(generated)
