import csv

import pytest
import torch

from videoregion.engine.metrics import (
    ViewCollector,
    aggregate_views,
    classification_metrics,
    confusion_matrix,
    first_occurrences,
    plot_confusion_matrix,
    write_confusion_csv,
)


def test_views_are_summed_or_maxed_per_video():
    scores = torch.tensor([[0.6, 0.4], [0.1, 0.9], [0.2, 0.8], [0.7, 0.3], [0.5, 0.5]])
    video = torch.tensor([3, 3, 3, 1, 1])
    videos, summed = aggregate_views(scores, video, "sum")
    assert videos.tolist() == [1, 3]
    assert torch.allclose(summed, torch.tensor([[1.2, 0.8], [0.9, 2.1]]))
    _, maxed = aggregate_views(scores, video, "max")
    assert torch.allclose(maxed, torch.tensor([[0.7, 0.5], [0.6, 0.9]]))
    with pytest.raises(ValueError, match="ENSEMBLE_METHOD"):
        aggregate_views(scores, video, "mean")


def test_aggregation_decides_a_video_the_single_view_gets_wrong():
    # video 0 is class 1: one confident wrong view, two right ones
    scores = torch.tensor([[0.8, 0.2], [0.3, 0.7], [0.3, 0.7]])
    _, summed = aggregate_views(scores, torch.zeros(3, dtype=torch.long), "sum")
    assert summed.argmax().item() == 1
    _, maxed = aggregate_views(scores, torch.zeros(3, dtype=torch.long), "max")
    assert maxed.argmax().item() == 0


def test_duplicated_views_count_once():
    collector = ViewCollector()
    probs = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    collector.add(probs, torch.tensor([0, 1, 2]), torch.tensor([0, 0, 0]), torch.tensor([0, 1, 1]), ["a", "b", "c"])
    # a DistributedSampler pads the last batch with copies of the first items
    collector.add(probs[:2], torch.tensor([0, 1]), torch.tensor([0, 0]), torch.tensor([0, 1]), ["a", "b"])
    results = collector.results(num_classes=2)
    assert results.videos.tolist() == [0, 1, 2]
    assert results.num_views == 3
    assert torch.equal(results.scores, probs)
    assert results.labels.tolist() == [0, 1, 1]
    assert results.paths == ["a", "b", "c"]
    metrics = classification_metrics(results.scores, results.labels, 2)
    assert metrics["top1_acc"] == pytest.approx(200 / 3)


def test_first_occurrences():
    keys = torch.tensor([[1, 0], [0, 0], [1, 0], [1, 1], [0, 0]])
    assert first_occurrences(keys).tolist() == [0, 1, 3]
    assert first_occurrences(torch.zeros((0, 2), dtype=torch.long)).tolist() == []


def test_accuracies_and_confusion():
    scores = torch.tensor([
        [0.7, 0.2, 0.1, 0.0, 0.0, 0.0],  # label 0, right
        [0.5, 0.4, 0.1, 0.0, 0.0, 0.0],  # label 1, second
        [0.1, 0.2, 0.3, 0.4, 0.0, 0.0],  # label 2, second
        [0.05, 0.1, 0.2, 0.3, 0.4, 0.0],  # label 5, sixth (out of top-5)
    ])
    labels = torch.tensor([0, 1, 2, 5])
    m = classification_metrics(scores, labels, 6)
    assert m["top1_acc"] == pytest.approx(25.0)
    assert m["top5_acc"] == pytest.approx(75.0)
    assert m["per_class_acc"][:3] == [100.0, 0.0, 0.0]
    assert m["per_class_acc"][3] != m["per_class_acc"][3]  # NaN: class 3 absent
    assert m["mean_class_acc"] == pytest.approx(25.0)
    cm = confusion_matrix(scores.argmax(1), labels, 6)
    assert cm[1, 0] == 1 and cm[2, 3] == 1 and cm[5, 4] == 1 and cm.sum() == 4
    assert torch.equal(m["confusion"], cm)


def test_confusion_files(tmp_path):
    cm = torch.tensor([[3, 1], [0, 2]])
    write_confusion_csv(str(tmp_path / "cm.csv"), cm, ["push", "pull"])
    rows = list(csv.reader(open(tmp_path / "cm.csv")))
    assert rows == [["true \\ predicted", "push", "pull"], ["push", "3", "1"], ["pull", "0", "2"]]
    plot_confusion_matrix(str(tmp_path / "cm.png"), cm, ["push", "pull"])
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"
