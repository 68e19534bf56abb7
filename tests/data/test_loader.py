import pytest
import torch

from videoregion.data.loader import DataError, EpochSampler, SkipReport, WorkerContiguousOrder


@pytest.mark.parametrize("n, batch, workers", [(30, 4, 2), (31, 4, 3), (8, 4, 4), (5, 4, 2), (120, 12, 2)])
def test_worker_contiguous_order(n, batch, workers):
    order = list(WorkerContiguousOrder(range(n), batch, workers))
    assert sorted(order) == list(range(n))
    batches = [order[i : i + batch] for i in range(0, n, batch)]
    assert all(len(b) == batch for b in batches[:-1])  # only the last batch may be short
    assert all(b == list(range(b[0], b[0] + len(b))) for b in batches)  # each batch is a natural one
    # worker w (batch p goes to p % workers) reads mostly one contiguous run
    for w in range(workers):
        mine = sorted(i for p, b in enumerate(batches) if p % workers == w for i in b)
        breaks = sum(1 for a, b in zip(mine, mine[1:]) if b != a + 1)
        assert breaks <= 1


def test_epoch_sampler_hands_out_the_epoch():
    sampler = EpochSampler(torch.utils.data.SequentialSampler(range(3)))
    sampler.set_epoch(4)
    assert list(sampler) == [(0, 4), (1, 4), (2, 4)] and len(sampler) == 3


def test_skip_report_threshold(tmp_path):
    report = SkipReport("train", str(tmp_path / "skipped.tsv"), max_bad_fraction=0.5, min_reads=4)
    report.add([("a.mp4", "missing file")], num_loaded=1)  # 1 of 2 failed, under min_reads
    report.add([], num_loaded=1)
    with pytest.raises(DataError, match="mostly unreadable: 3 of 5 video reads failed"):
        report.add([("b.mp4", "empty file"), ("a.mp4", "missing file")], num_loaded=0)
    assert (tmp_path / "skipped.tsv").read_text() == "a.mp4\tmissing file\nb.mp4\tempty file\n"


def test_epoch_sampler_resumes_mid_epoch_in_the_same_order():
    sampler = EpochSampler(torch.utils.data.DistributedSampler(range(10), num_replicas=1, rank=0, shuffle=True))
    sampler.set_epoch(3)
    whole = list(sampler)
    sampler.set_epoch(3, 4)
    assert list(sampler) == whole[4:] and len(sampler) == 6
    sampler.set_epoch(4)
    assert len(sampler) == 10 and list(sampler) != [(i, 4) for i, _ in whole]


def test_skip_report_can_leave_the_check_to_the_caller():
    report = SkipReport("train", None, max_bad_fraction=0.5, min_reads=2, check_locally=False)
    report.add([("a.mp4", "missing file"), ("b.mp4", "missing file")], num_loaded=0)  # no error here
    with pytest.raises(DataError, match="3 of 4 video reads failed in epoch 2"):
        report.check_totals(4, 3, where="in epoch 2")
