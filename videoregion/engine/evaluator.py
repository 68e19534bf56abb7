"""The evaluation loop, what the final test writes (metrics, confusion matrix, predictions), and the
check that the test covered its videos (:func:`missing_videos`, :func:`check_missing_videos`)."""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterable, Sequence

import torch
from torch import nn
from tqdm import tqdm

from videoregion.data.batch import BatchTransform
from videoregion.errors import DataError

from .metrics import VideoResults, ViewCollector, classification_metrics, plot_confusion_matrix, write_confusion_csv
from .precision import Precision

logger = logging.getLogger(__name__)

__all__ = ["check_missing_videos", "evaluate", "missing_videos", "save_test_outputs"]


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable[dict],
    batch_transform: BatchTransform,
    *,
    device: torch.device,
    precision: Precision,
    num_classes: int,
    ensemble_method: str = "sum",
    progress: bool = False,
    desc: str = "eval",
) -> tuple[VideoResults, dict]:
    """Softmax scores of every view in ``loader``, gathered over processes and aggregated per video.

    Returns the per-video results and a metrics dict (accuracies in percent, "confusion" (K, K)).
    Every process returns the same values.
    """
    model.eval()
    collector = ViewCollector()
    for batch in tqdm(loader, disable=not progress, dynamic_ncols=True, leave=False, desc=desc):
        clips, labels = batch_transform(batch, device)
        with precision.autocast():
            logits = model(clips)
        collector.add(logits.float().softmax(dim=-1), batch["video_index"], batch["view_index"], labels, batch["path"])
    results = collector.results(num_classes, ensemble_method)
    metrics = classification_metrics(results.scores, results.labels, num_classes)
    metrics["num_views"] = results.num_views
    return results, metrics


def save_test_outputs(
    output_dir: str,
    results: VideoResults,
    metrics: dict,
    class_names: Sequence[str],
    *,
    results_path: str = "",
) -> None:
    """Confusion matrix (CSV and PNG), per-class accuracy CSV, and predictions at ``results_path``.

    ``results_path`` (relative to ``output_dir`` unless absolute) gets a torch file with per-video
    "scores" (V, K), "labels", "video_index", "paths", "class_names", plus a readable CSV beside it.
    """
    cm = metrics["confusion"]
    write_confusion_csv(os.path.join(output_dir, "confusion_matrix.csv"), cm, class_names)
    plot_confusion_matrix(os.path.join(output_dir, "confusion_matrix.png"), cm, class_names)
    with open(os.path.join(output_dir, "per_class_acc.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["class", "videos", "accuracy"])
        for name, support, acc in zip(class_names, cm.sum(dim=1).tolist(), metrics["per_class_acc"]):
            writer.writerow([name, support, "" if acc != acc else f"{acc:.2f}"])
    if not results_path:
        return
    path = results_path if os.path.isabs(results_path) else os.path.join(output_dir, results_path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.save(
        {
            "scores": results.scores,
            "labels": results.labels,
            "video_index": results.videos,
            "paths": list(results.paths),
            "class_names": list(class_names),
        },
        path,
    )
    preds = results.scores.argmax(dim=1)
    with open(os.path.splitext(path)[0] + ".csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["video_index", "path", "label", "prediction", "score"])
        for v, p, y, k, s in zip(results.videos.tolist(), results.paths, results.labels.tolist(), preds.tolist(),
                                   results.scores.max(dim=1).values.tolist()):
            writer.writerow([v, p, class_names[y], class_names[k], f"{s:.4f}"])
    logger.info("saved test predictions to %s", path)


def missing_videos(paths: Sequence[str], results: VideoResults) -> list[str]:
    """The videos of a test set (``paths``, by dataset video index) that have no result: none of their
    views could be read."""
    scored = set(results.videos.tolist())
    return [path for index, path in enumerate(paths) if index not in scored]


def check_missing_videos(missing: Sequence[str], num_videos: int, max_fraction: float, *, split: str = "test") -> None:
    """A DataError when more than ``max_fraction`` of the ``num_videos`` videos are ``missing`` (unscored).

    The message names how many, the first few, and TEST.MAX_MISSING_FRACTION.
    """
    if not missing or len(missing) <= max_fraction * num_videos:
        return
    first = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    raise DataError(
        f"{split} set: {len(missing)} of {num_videos} videos ({len(missing) / max(num_videos, 1):.1%}) could not be "
        f"read, more than TEST.MAX_MISSING_FRACTION {max_fraction:g} allows, so the accuracy is not that of the "
        f"{split} set (missing: {first}). Fix or remove them (tools/check_dataset.py lists why), or raise the key"
    )
