"""step_cost counts what a forward + backward asks of the device, on the meta device."""
import pytest
import torch

from mmadpd.utils.step_cost import OpCounter, train_step_cost

META = torch.device('meta')


def test_linear_flops_and_operators_are_counted_exactly():
    torch.manual_seed(0)
    layer = torch.nn.Linear(8, 4).to(META)
    x = torch.empty(2, 8, device=META)
    cost = train_step_cost(lambda: layer(x).sum())
    # forward addmm 2*2*8*4 = 128; backward: weight gradient mm 128 (x needs no grad)
    assert cost['flops'] == 256
    assert cost['forward']['by_op']['aten.addmm.default'] == 1
    assert cost['backward']['by_op'].get('aten.mm.default') == 1
    assert cost['forward']['device_ops'] >= 2  # addmm + sum
    assert cost['forward']['host_ops'] == 0
    assert layer.weight.grad is not None and layer.weight.grad.device == META


def test_cpu_work_is_host_operators_and_views_launch_nothing():
    w = torch.nn.Parameter(torch.empty(3, 4, device=META))

    def loss():
        target = torch.arange(12.0).reshape(3, 4) * 2 + 1  # CPU: built on the host
        t = target.to(META)
        return (w.view(4, 3).t() - t).square().sum()

    cost = train_step_cost(loss)
    fwd = cost['forward']
    # arange, mul, add on the CPU; the copy to the device counts as a device operator
    assert fwd['host_ops'] == 3
    assert fwd['view_ops'] >= 3  # reshape/view/t
    assert 'aten.view.default' not in fwd['by_op'] and 'aten.t.default' not in fwd['by_op']
    assert fwd['by_op']['aten._to_copy.default'] == 1
    assert {'aten.sub.Tensor', 'aten.sum.default'} <= set(fwd['by_op'])
    assert cost['flops'] == 0  # no matmul or convolution


def test_counter_counts_each_call():
    counter = OpCounter()
    a = torch.empty(5, device=META)
    with counter:
        for _ in range(4):
            a = a + 1
    assert counter.summary() == dict(device_ops=4, host_ops=0, view_ops=0)


def test_non_scalar_loss_is_refused():
    layer = torch.nn.Linear(3, 2).to(META)
    with pytest.raises(ValueError, match='scalar'):
        train_step_cost(lambda: layer(torch.empty(4, 3, device=META)))
