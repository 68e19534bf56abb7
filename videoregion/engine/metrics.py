"""Scores of many views -> one score per video -> accuracies and a confusion matrix.

    views (N, K) softmax, video_index (N,), view_index (N,)
      -> gathered over processes, duplicate (video, view) pairs dropped (DistributedSampler pads)
      -> aggregate_views: (V, K) per video, sum or max
      -> classification_metrics: top-1, top-5, mean class accuracy, per-class accuracy, confusion
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from videoregion.errors import ConfigError, DataError

from .distributed import all_gather_objects, all_gather_variable

__all__ = [
    "AGGREGATIONS",
    "VideoResults",
    "ViewCollector",
    "aggregate_views",
    "classification_metrics",
    "confusion_matrix",
    "first_occurrences",
    "plot_confusion_matrix",
    "topk_correct",
    "write_confusion_csv",
]

AGGREGATIONS = ("sum", "max")


def first_occurrences(keys: torch.Tensor) -> torch.Tensor:
    """Indices of the first row of each distinct row of ``keys`` (N, D), in ascending order."""
    if keys.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long)
    distinct, inverse = torch.unique(keys, dim=0, return_inverse=True)
    order = torch.arange(keys.shape[0])
    first = torch.full((distinct.shape[0],), keys.shape[0], dtype=torch.long)
    first = first.scatter_reduce(0, inverse, order, reduce="amin")
    return first.sort().values


def aggregate_views(
    scores: torch.Tensor, video_index: torch.Tensor, method: str = "sum"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Combine view scores (N, K) into per-video scores.

    Returns ``(videos (V,), video_scores (V, K))`` with ``videos`` the sorted distinct video indices;
    ``method`` "sum" adds the views' scores, "max" takes their element-wise maximum.
    """
    if method not in AGGREGATIONS:
        raise ConfigError(f"DATA.ENSEMBLE_METHOD {method!r} is not one of {AGGREGATIONS}")
    videos, inverse = torch.unique(video_index, return_inverse=True)
    out = torch.zeros((videos.shape[0], scores.shape[1]), dtype=scores.dtype)
    index = inverse[:, None].expand_as(scores)
    if method == "sum":
        out = out.scatter_add(0, index, scores)
    else:
        out = out.scatter_reduce(0, index, scores, reduce="amax", include_self=False)
    return videos, out


def topk_correct(scores: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """(N,) bool: the label is among the ``k`` highest scores (k is capped at the class count)."""
    k = min(k, scores.shape[1])
    return (scores.topk(k, dim=1).indices == labels[:, None]).any(dim=1)


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(K, K) counts; row = true class, column = predicted class."""
    flat = labels.long() * num_classes + preds.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def classification_metrics(scores: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict:
    """Accuracies in percent from per-video scores (V, K) and labels (V,).

    ``mean_class_acc`` averages the per-class accuracies of the classes present in ``labels``;
    ``per_class_acc`` has NaN for absent classes.
    """
    if scores.shape[0] == 0:
        raise DataError("no predictions to score (the test split is empty or every video failed to decode)")
    preds = scores.argmax(dim=1)
    cm = confusion_matrix(preds, labels, num_classes)
    support = cm.sum(dim=1)
    per_class = torch.where(support > 0, cm.diag().double() / support.clamp(min=1), torch.nan) * 100.0
    return {
        "top1_acc": topk_correct(scores, labels, 1).double().mean().item() * 100.0,
        "top5_acc": topk_correct(scores, labels, 5).double().mean().item() * 100.0,
        "mean_class_acc": per_class[support > 0].mean().item(),
        "per_class_acc": per_class.tolist(),
        "num_videos": int(scores.shape[0]),
        "confusion": cm,
    }


@dataclass
class VideoResults:
    """Per-video outcome of an evaluation, identical on every process."""

    videos: torch.Tensor  # (V,) dataset video indices
    scores: torch.Tensor  # (V, K) aggregated softmax scores
    labels: torch.Tensor  # (V,)
    paths: list[str]  # (V,)
    num_views: int  # distinct (video, view) pairs that were scored


@dataclass
class ViewCollector:
    """Accumulates softmax scores of views batch by batch, then gathers them over processes."""

    scores: list[torch.Tensor] = field(default_factory=list)
    keys: list[torch.Tensor] = field(default_factory=list)  # (B, 3): video, view, label
    paths: dict[int, str] = field(default_factory=dict)

    def add(
        self, probs: torch.Tensor, video_index: torch.Tensor, view_index: torch.Tensor, labels: torch.Tensor,
        paths: Sequence[str],
    ) -> None:
        self.scores.append(probs.detach().float().cpu())
        self.keys.append(torch.stack([video_index.cpu().long(), view_index.cpu().long(), labels.cpu().long()], dim=1))
        for v, p in zip(video_index.tolist(), paths):
            self.paths.setdefault(int(v), p)

    def results(self, num_classes: int, method: str = "sum") -> VideoResults:
        """Gather every process's views, drop duplicated (video, view) pairs, aggregate per video."""
        scores = torch.cat(self.scores) if self.scores else torch.zeros((0, num_classes))
        keys = torch.cat(self.keys) if self.keys else torch.zeros((0, 3), dtype=torch.long)
        scores, keys = all_gather_variable(scores), all_gather_variable(keys)
        paths: dict[int, str] = {}
        for part in all_gather_objects(self.paths):
            paths.update(part)
        keep = first_occurrences(keys[:, :2])
        scores, keys = scores[keep], keys[keep]
        videos, video_scores = aggregate_views(scores, keys[:, 0], method)
        inverse = torch.searchsorted(videos, keys[:, 0].contiguous())
        labels = torch.zeros(videos.shape[0], dtype=torch.long).scatter_(0, inverse, keys[:, 2])
        return VideoResults(
            videos=videos,
            scores=video_scores,
            labels=labels,
            paths=[paths.get(int(v), "") for v in videos],
            num_views=int(keys.shape[0]),
        )


def write_confusion_csv(path: str, cm: torch.Tensor, class_names: Sequence[str]) -> None:
    """Rows = true class, columns = predicted class, with a header of class names."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["true \\ predicted", *class_names])
        for name, row in zip(class_names, cm.tolist()):
            writer.writerow([name, *row])


def plot_confusion_matrix(path: str, cm: torch.Tensor, class_names: Sequence[str]) -> None:
    """A PNG of the row-normalised confusion matrix with class names (labels hidden past 60 classes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = cm.shape[0]
    rates = cm.double() / cm.sum(dim=1, keepdim=True).clamp(min=1)
    side = min(max(4.0, 0.35 * k + 2.0), 30.0)
    fig, ax = plt.subplots(figsize=(side, side))
    image = ax.imshow(rates.numpy(), cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if k <= 60:
        ax.set_xticks(range(k), labels=list(class_names), rotation=90, fontsize=7)
        ax.set_yticks(range(k), labels=list(class_names), fontsize=7)
        if k <= 20:
            for i in range(k):
                for j in range(k):
                    if cm[i, j]:
                        ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=6,
                                color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix (rows normalised)")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
