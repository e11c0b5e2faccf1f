import math
import os.path as osp

import pytest
import torch

from mmadpd.models.losses import (AsymmetricLoss, LSEPoolMILLoss, asymmetric_loss,
                                  asymmetric_loss_fused, lse_pool)


def asl_direct(p, y, gn=4.0, gp=1.0, clip=0.05, eps=1e-8):
    """Elementwise ASL written out in plain python floats."""
    if y == 1:
        return -((1 - p) ** gp) * math.log(max(p, eps))
    pm = min(1 - p + clip, 1.0)
    return -((1 - pm) ** gn) * math.log(max(pm, eps))


@pytest.mark.parametrize('fused', [False, True])
@pytest.mark.parametrize('reduction', ['sum', 'mean'])
def test_asl_matches_direct_formula(reduction, fused):
    g = torch.Generator().manual_seed(0)
    probs = torch.rand(3, 5, 7, generator=g, dtype=torch.float64)
    probs[0, 0, 0] = 0.99  # inside the clip margin: negative loss is exactly 0
    targets = (torch.rand(3, 5, 7, generator=g) > 0.6).double()
    mask = torch.rand(3, 5, 1, generator=g) > 0.3
    terms = [asl_direct(float(p), float(y)) * float(m)
             for p, y, m in zip(probs.flatten(), targets.flatten(),
                                mask.expand_as(probs).flatten())]
    expected = sum(terms)
    if reduction == 'mean':
        expected /= float(mask.expand_as(probs).sum())
    loss_fn = asymmetric_loss_fused if fused else asymmetric_loss
    got = loss_fn(probs, targets, mask, reduction=reduction)
    assert got.item() == pytest.approx(expected, rel=1e-10)
    # The registered module on logits = weight x the function on sigmoid(logits).
    logits = torch.logit(probs)
    module = AsymmetricLoss(reduction=reduction, loss_weight=0.01, fused=fused)
    assert module(logits, targets, mask).item() == pytest.approx(0.01 * expected, rel=1e-5)


def test_asl_clip_zeroes_easy_negatives():
    loss = asymmetric_loss(torch.tensor([0.03]), torch.tensor([0.0]), reduction='none')
    assert loss.item() == 0.0


def test_lse_tends_to_max_and_mean():
    g = torch.Generator().manual_seed(1)
    probs = torch.rand(2, 6, 3, generator=g, dtype=torch.float64)
    present = torch.ones(2, 6, dtype=torch.bool)
    mx, mean = probs.amax(1), probs.mean(1)
    assert torch.allclose(lse_pool(probs, present, r=1e4), mx, atol=1e-3)
    assert torch.allclose(lse_pool(probs, present, r=1e-6), mean, atol=1e-5)
    # Monotone in r between the two limits.
    values = [lse_pool(probs, present, r=r) for r in (0.1, 1, 5, 50)]
    for lo, hi in zip(values, values[1:]):
        assert (hi >= lo - 1e-12).all()
    assert ((values[0] >= mean - 1e-12) & (values[-1] <= mx + 1e-12)).all()


def test_lse_present_only_masking():
    probs = torch.tensor([[[0.2], [0.4], [0.99], [0.01]]], dtype=torch.float64)
    present = torch.tensor([[True, True, False, False]])
    # Absent regions change nothing: their probabilities are ignored.
    assert lse_pool(probs, present, r=1e-6).item() == pytest.approx(0.3, abs=1e-6)
    assert lse_pool(probs, present, r=1e4).item() == pytest.approx(0.4, abs=1e-3)
    # Reference behaviour: the mean divides by all 4 regions.
    r = 5.0
    expected = math.log((math.exp(r * 0.2) + math.exp(r * 0.4)) / 4) / r
    got = lse_pool(probs, present, r=r, absent='all_regions').item()
    assert got == pytest.approx(max(expected, 0.0), abs=1e-9)
    exclude = math.log((math.exp(r * 0.2) + math.exp(r * 0.4)) / 2) / r
    assert lse_pool(probs, present, r=r).item() == pytest.approx(exclude, abs=1e-9)


def test_mil_loss_ignores_images_without_regions_and_has_finite_grad():
    logits = torch.randn(2, 5, 3, requires_grad=True)
    present = torch.tensor([[True, False, True, False, False], [False] * 5])
    labels = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    loss = LSEPoolMILLoss(r=5.0)(logits, present, labels)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    assert logits.grad[1].abs().sum() == 0  # no present region: no evidence, no gradient
    assert logits.grad[0, 1].abs().sum() == 0  # absent region of image 0
    only_first = LSEPoolMILLoss(r=5.0)(logits[:1], present[:1], labels[:1])
    assert loss.item() == pytest.approx(only_first.item())


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match='reduction'):
        AsymmetricLoss(reduction='avg')
    with pytest.raises(ValueError, match='absent'):
        LSEPoolMILLoss(absent='some')


def _random_boxes(n, g):
    """(n, 4) xyxy boxes: random, plus degenerate (zero width/height) and disjoint rows."""
    xy = torch.rand(n, 2, generator=g) * 100
    wh = torch.rand(n, 2, generator=g) * 50
    wh[: n // 8, 0] = 0  # zero-width boxes
    return torch.cat([xy, xy + wh], 1)


@pytest.mark.parametrize('fused', [False, True])
@pytest.mark.parametrize('avg_factor', [None, 7, 0.0])
def test_aligned_giou_loss_equals_mmdet_giou_loss(avg_factor, fused):
    """Same numbers and gradients as mmdet's GIoULoss (which this replaces because it
    blocks on a host->device copy), incl. degenerate, identical and disjoint pairs; the
    plain (``prod``) and the fused form alike."""
    from mmdet.models.losses import GIoULoss
    from mmadpd.models.losses import AlignedGIoULoss
    g = torch.Generator().manual_seed(3)
    pred = _random_boxes(200, g)
    target = _random_boxes(200, g)
    target[:10] = pred[:10]  # identical pairs: GIoU 1
    target[10:20] = pred[10:20] + 1000  # disjoint pairs: GIoU < 0
    pred_a = pred.clone().requires_grad_()
    pred_b = pred.clone().requires_grad_()
    ours = AlignedGIoULoss(loss_weight=2.0, fused=fused)(pred_a, target,
                                                         avg_factor=avg_factor)
    ref = GIoULoss(loss_weight=2.0)(pred_b, target, avg_factor=avg_factor)
    assert torch.allclose(ours, ref, rtol=1e-6, atol=0), (ours, ref)
    ours.backward()
    ref.backward()
    assert torch.allclose(pred_a.grad, pred_b.grad, rtol=1e-5, atol=1e-9)


def test_aligned_giou_values_and_shape_check():
    from mmadpd.models.losses import AlignedGIoULoss, aligned_giou
    a = torch.tensor([[0., 0., 2., 2.], [0., 0., 1., 1.], [0., 0., 2., 2.]])
    b = torch.tensor([[0., 0., 2., 2.], [2., 0., 3., 1.], [1., 1., 3., 3.]])
    # identical: 1; disjoint with a gap: IoU 0, enclosure 3, union 2 -> -1/3;
    # overlap 1, union 7, enclosure 9 -> 1/7 - 2/9
    expected = torch.tensor([1.0, -1 / 3, 1 / 7 - 2 / 9])
    assert torch.allclose(aligned_giou(a, b), expected, atol=1e-6)
    with pytest.raises(ValueError, match=r'\(n, 4\)'):
        AlignedGIoULoss()(a, b[:2])


def _asl_data(batch, classes=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, 8, generator=g),
            (torch.rand(batch, classes, generator=g) < 0.3).float())


def test_asl_batch_normalize_to_gives_every_batch_the_same_per_sample_scale():
    """One sample repeated 16 or 128 times: with batch_normalize_to=128 the gradient is
    the same; the reference's plain sum grows with the batch (x 8)."""
    from asl_ddp_worker import asl_grads
    x, y = _asl_data(1)
    normed = [asl_grads(x.expand(n, -1), y.expand(n, -1), 128) for n in (16, 128)]
    torch.testing.assert_close(normed[0], normed[1], rtol=1e-5, atol=1e-8)
    summed = [asl_grads(x.expand(n, -1), y.expand(n, -1), None) for n in (16, 128)]
    torch.testing.assert_close(summed[1], 8 * summed[0], rtol=1e-5, atol=1e-8)
    torch.testing.assert_close(summed[1], normed[1])  # at 128 both are the sum
    with pytest.raises(ValueError, match='batch_normalize_to'):
        AsymmetricLoss(reduction='mean', batch_normalize_to=128)


def test_asl_batch_normalize_to_makes_two_ranks_of_64_equal_one_of_128(tmp_path):
    """1 x 128 in one process vs 2 x 64 under DistributedDataParallel (2 CPU processes,
    gloo): DDP averages the ranks' gradients, so only the normalised sum gives the single
    process's gradient (the plain sum gives half of it). The ranks are forked (seconds
    instead of a minute for spawning) from a fresh interpreter, where no autograd thread
    exists yet."""
    import subprocess
    import sys

    from asl_ddp_worker import asl_grads
    x, y = _asl_data(128)
    data, out = tmp_path / 'data.pt', tmp_path / 'grads.pt'
    torch.save(dict(x=x, y=y), data)
    worker = osp.join(osp.dirname(osp.abspath(__file__)), 'asl_ddp_worker.py')
    proc = subprocess.run([sys.executable, worker, str(data), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ddp = torch.load(out)
    single = {norm: asl_grads(x, y, norm) for norm in (128, None)}
    torch.testing.assert_close(ddp[128], single[128], rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(ddp[None], single[None] / 2, rtol=1e-5, atol=1e-7)
