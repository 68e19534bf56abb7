import pytest
import torch
import torchvision.transforms.v2 as T

from videoregion.data.transforms import (
    TestTransform,
    TrainTransform,
    random_resized_crop,
    resize_short_side,
    spatial_crop,
)


def column_video(t=4, h=48, w=64):
    """(T, C, H, W) uint8 whose pixel value grows with the column: a flip reverses the order."""
    cols = torch.arange(w, dtype=torch.uint8) * 3
    return cols.expand(t, 3, h, w).clone()


def test_train_transform_shapes_and_range():
    transform = TrainTransform(crop_size=32, jitter_scales=(40, 48))
    g = torch.Generator().manual_seed(0)
    sizes = {transform.decode_size(g) for _ in range(50)}
    assert min(sizes) >= 40 and max(sizes) <= 48 and len(sizes) > 3
    clip = transform(torch.randint(0, 256, (8, 3, 40, 53), dtype=torch.uint8), g)
    assert clip.shape == (3, 8, 32, 32) and clip.dtype == torch.uint8 and clip.is_contiguous()


def test_random_resized_crop_shape_and_mode():
    transform = TrainTransform(crop_size=32, crop_mode="random_resized_crop", flip=False)
    g = torch.Generator().manual_seed(0)
    assert transform.decode_size(g) is None
    for _ in range(10):
        assert transform(column_video(), g).shape == (3, 4, 32, 32)
    assert random_resized_crop(column_video(), 16, g, scale=(1.0, 1.0), ratio=(10, 20)).shape == (4, 3, 16, 16)
    with pytest.raises(ValueError, match="crop_mode"):
        TrainTransform(crop_size=32, crop_mode="centre")


@pytest.mark.parametrize("crop_mode", ["scale_crop", "random_resized_crop"])
def test_no_flip_when_disabled(crop_mode):
    g = torch.Generator().manual_seed(0)
    no_flip = TrainTransform(crop_size=32, flip=False, crop_mode=crop_mode)
    for _ in range(30):
        row = no_flip(column_video(), g)[0, 0, 0].int()
        assert (row.diff() >= 0).all()
    flip = TrainTransform(crop_size=32, flip=True, crop_mode=crop_mode)
    flipped = [bool((flip(column_video(), g)[0, 0, 0].int().diff() < 0).any()) for _ in range(30)]
    assert 0 < sum(flipped) < 30


def test_rand_augment_and_erasing_are_seeded_per_item():
    transform = TrainTransform(crop_size=32, rand_augment=T.RandAugment(num_ops=2, magnitude=9),
                               random_erasing=T.RandomErasing(p=1.0, value="random"))
    video = torch.randint(0, 256, (4, 3, 40, 53), dtype=torch.uint8)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = transform(video, torch.Generator().manual_seed(7))
    b = transform(video, torch.Generator().manual_seed(7))
    assert torch.equal(torch.get_rng_state(), before)  # the global generator is left alone
    assert torch.equal(a, b) and a.dtype == torch.uint8 and a.shape == (3, 4, 32, 32)
    c = transform(video, torch.Generator().manual_seed(8))
    assert not torch.equal(a, c)


def test_test_crops_cover_the_long_side():
    video = column_video(w=96)  # short side 48 = crop size
    transform = TestTransform(crop_size=48, num_crops=3)
    assert transform.decode_size() == 48
    crops = [transform(video, None, k) for k in range(3)]
    assert all(c.shape == (3, 4, 48, 48) for c in crops)
    firsts = [int(c[0, 0, 0, 0]) for c in crops]
    assert firsts == [0, 24 * 3, 48 * 3]  # left, centre, right
    tall = column_video(h=96, w=48).transpose(-1, -2)  # portrait: crops go down the height
    assert spatial_crop(tall, 48, 2, 3).shape == (4, 3, 48, 48)
    with pytest.raises(ValueError, match="1 or 3"):
        spatial_crop(video, 48, 0, 2)


def test_resize_short_side_keeps_aspect():
    assert resize_short_side(column_video(h=48, w=64), 24).shape == (4, 3, 24, 32)
