import pytest
import torch

from videoregion.data.sampling import clip_span, dense_indices, segment_indices


def dense(n, fps, view, views, g=None, num_frames=8, rate=4, target=30):
    return dense_indices(n, fps, view, views, g, num_frames=num_frames, sampling_rate=rate, target_fps=target)


@pytest.mark.parametrize("n, fps", [(300, 30), (250, 25), (600, 60), (40, 30), (1, 30), (7, 24)])
def test_dense_indices_in_range(n, fps):
    g = torch.Generator().manual_seed(0)
    for view in [None, None, 0, 4, 9]:
        idx = dense(n, fps, view, 10, g)
        assert idx.dtype == torch.int64 and idx.shape == (8,)
        assert idx.min() >= 0 and idx.max() < n
        assert (idx.diff() >= 0).all()


def test_dense_stride_follows_fps():
    # 4 frames apart at 30 fps = 8 frames apart in a 60 fps video
    assert dense(600, 60, 0, 1).diff().tolist() == [8] * 7
    assert dense(300, 30, 0, 1).diff().tolist() == [4] * 7


def test_dense_test_views_spread_over_the_video():
    n = 300
    starts = [int(dense(n, 30, v, 10)[0]) for v in range(10)]
    assert starts[0] == 0 and int(dense(n, 30, 9, 10)[-1]) == n - 1
    assert all(b > a for a, b in zip(starts, starts[1:]))
    centre = dense(n, 30, 0, 1)
    assert abs((centre[0] + centre[-1]) / 2 - (n - 1) / 2) <= 1


def test_short_video_is_clamped_not_an_error():
    idx = dense(10, 30, None, 1, torch.Generator().manual_seed(1))
    assert idx.tolist() == [0, 4, 8, 9, 9, 9, 9, 9]
    assert clip_span(30, 8, 4, 30) == 29


def test_random_clips_deterministic_under_a_seed():
    a = [dense(300, 30, None, 1, torch.Generator().manual_seed(5)) for _ in range(2)]
    assert torch.equal(a[0], a[1])
    g = torch.Generator().manual_seed(5)
    starts = {int(dense(300, 30, None, 1, g)[0]) for _ in range(20)}
    assert len(starts) > 5  # random positions


@pytest.mark.parametrize("n", [3, 8, 50, 117])
def test_segment_indices(n):
    g = torch.Generator().manual_seed(0)
    for view in [None, 0, 1]:
        idx = segment_indices(n, 12.0, view, 2, g, num_frames=8)
        assert idx.shape == (8,) and idx.min() >= 0 and idx.max() < n and (idx.diff() >= 0).all()
    if n >= 8:  # one frame from each segment
        for _ in range(10):
            idx = segment_indices(n, 12.0, None, 1, g, num_frames=8)
            assert all(k * n / 8 - 1 < i < (k + 1) * n / 8 for k, i in enumerate(idx.tolist()))


def test_segment_test_view_is_the_centre():
    assert segment_indices(80, 12.0, 0, 1, num_frames=8).tolist() == [5, 15, 25, 35, 45, 55, 65, 75]
    a = torch.Generator().manual_seed(3)
    b = torch.Generator().manual_seed(3)
    assert torch.equal(segment_indices(80, 12.0, None, 1, a, num_frames=8),
                       segment_indices(80, 12.0, None, 1, b, num_frames=8))


def test_bad_requests_are_clear():
    with pytest.raises(ValueError, match="0 frames"):
        dense(0, 30, None, 1)
    with pytest.raises(ValueError, match="view 3 outside"):
        dense(100, 30, 3, 3)
