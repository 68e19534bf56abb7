import pytest
import torch

from videoregion.data.batch import BatchTransform, Mixup, mix_batch, normalize, smooth_one_hot


def batch(b=4, c=3, t=2, h=8, w=8):
    return {"clip": torch.randint(0, 256, (b, c, t, h, w), dtype=torch.uint8), "label": torch.arange(b) % 3}


def test_normalize_matches_the_formula():
    clips = batch()["clip"]
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    out = normalize(clips, mean, std)
    expected = (clips.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1, 1)
    assert out.dtype == torch.float32 and torch.allclose(out, expected, atol=1e-5)


def test_eval_transform_keeps_int_labels():
    transform = BatchTransform([0.45] * 3, [0.225] * 3, num_classes=3)
    data = batch()
    clips, targets = transform(data, "cpu")
    assert clips.shape == (4, 3, 2, 8, 8) and clips.dtype == torch.float32
    assert targets.dtype == torch.int64 and torch.equal(targets, data["label"])


def test_smooth_one_hot():
    t = smooth_one_hot(torch.tensor([0, 2]), 4, smoothing=0.2)
    assert torch.allclose(t.sum(1), torch.ones(2))
    assert t[0, 0] == pytest.approx(0.85) and t[0, 1] == pytest.approx(0.05)


@pytest.mark.parametrize("mixup_alpha, cutmix_alpha", [(0.8, 0.0), (0.0, 1.0), (0.8, 1.0)])
def test_mix_batch_soft_targets(mixup_alpha, cutmix_alpha):
    data = batch()
    clips = data["clip"].float()
    for seed in range(5):
        mixed, targets = mix_batch(clips, data["label"], 3, torch.Generator().manual_seed(seed),
                                   mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha, smoothing=0.1)
        assert mixed.shape == clips.shape and targets.shape == (4, 3)
        assert torch.allclose(targets.sum(1), torch.ones(4))
        assert (targets >= 0).all()
        # every mixed clip lies between itself and its partner (the batch reversed)
        lo, hi = torch.minimum(clips, clips.flip(0)), torch.maximum(clips, clips.flip(0))
        assert (mixed >= lo - 1e-4).all() and (mixed <= hi + 1e-4).all()


def test_cutmix_weight_matches_the_box():
    clips = torch.zeros(2, 1, 2, 10, 10)
    clips[1] = 1.0
    labels = torch.tensor([0, 1])
    mixed, targets = mix_batch(clips, labels, 2, torch.Generator().manual_seed(1), mixup_alpha=0.0, smoothing=0.0)
    share = mixed[0].mean()  # part of clip 0 that came from clip 1
    assert targets[0, 1] == pytest.approx(float(share))


def test_train_transform_mixes_deterministically():
    def make() -> BatchTransform:
        return BatchTransform([0.45] * 3, [0.225] * 3, num_classes=3, mixup=Mixup(), seed=3)

    data = batch()
    a, ta = make()(data, "cpu")
    b, tb = make()(data, "cpu")
    assert torch.equal(a, b) and torch.equal(ta, tb) and ta.dtype == torch.float32
