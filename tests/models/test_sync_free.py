"""The whole training step never reads a device tensor back to the host.

On a GPU every such read (``.item()``, ``float(t)``, ``bool(t)``, boolean-mask indexing,
``nonzero``, ``repeat_interleave`` without ``output_size``, ``.cpu()``) makes the host wait
for the GPU; the host then cannot queue the next step while the GPU works, and all per-step
host work becomes GPU idle time. The meta device has shapes but no data, so every one of
those reads raises there: a step that runs on meta is free of them. This is the CPU check
of what ``torch.cuda.set_sync_debug_mode('error')`` would check on a GPU.

The other direction blocks too: a host->device copy made without ``non_blocking`` (a
tensor built from Python numbers on the device, ``t.new_tensor([eps])``, ``.to(device)``)
waits for the GPU's queue. Meta tensors accept those silently, so ``_BlockingUploads``
watches for them: tensor factories with Python data and a non-CPU device, and CPU ->
device copies that are not ``non_blocking``.
"""
from types import SimpleNamespace

from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper, build_optim_wrapper

from mmdet.registry import MODELS

from mmadpd.engine import LazyRuntimeInfoHook
from mmadpd.utils import register_all_modules

from adpd_model_builders import make_sample, tiny_adpd_cfg

META = torch.device('meta')
SIZE, NUM_REGIONS, NUM_CLASSES = 64, 4, 3


def _batch(batch_size=3):
    """uint8 images on the meta device; gt on the CPU, as ADPDDataPreprocessor keeps it
    (targets are built there and copied to the device)."""
    g = torch.Generator().manual_seed(0)
    samples = []
    for i in range(batch_size):
        labels = [0, 2, 3] if i % 2 else [0, 1, 2, 3, 1]  # a missing and a repeated region
        xy = torch.rand(len(labels), 2, generator=g) * 30
        boxes = torch.cat([xy, xy + 10 + torch.rand(len(labels), 2, generator=g) * 20], 1)
        path = (torch.rand(len(labels), NUM_CLASSES, generator=g) < 0.3).float()
        samples.append(make_sample(boxes, labels, size=SIZE, pathology=path,
                                   image_labels=path.amax(0)))
    images = torch.empty((batch_size, 1, SIZE, SIZE), dtype=torch.uint8, device=META)
    return dict(inputs=images, data_samples=samples)


def _meta_model(channels_last=False, **cfg_kw):
    register_all_modules()
    cfg = tiny_adpd_cfg(NUM_REGIONS, NUM_CLASSES, **cfg_kw)
    cfg['data_preprocessor'] = dict(type='ADPDDataPreprocessor', channels_last=channels_last)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.to(META)


class _BlockingUploads:
    """Records blocking host->device uploads made inside the ``with`` block."""

    FACTORIES = {torch.tensor, torch.as_tensor, torch.Tensor.new_tensor}

    def __init__(self):
        self.calls = []
        self.async_uploads = 0  # non-blocking CPU -> device copies (allowed; counted)
        outer = self

        class Functions(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                if func in outer.FACTORIES:
                    dev = kwargs.get('device')
                    if dev is None and func is torch.Tensor.new_tensor:
                        dev = args[0].device
                    if dev is not None and torch.device(dev).type != 'cpu':
                        outer.calls.append(f'{func.__name__} on {dev}')
                return func(*args, **kwargs)

        class Copies(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                if func is torch.ops.aten._to_copy.default:
                    dev = kwargs.get('device')
                    if (args[0].device.type == 'cpu' and dev is not None
                            and torch.device(dev).type != 'cpu'):
                        if kwargs.get('non_blocking', False):
                            outer.async_uploads += 1
                        else:
                            outer.calls.append(
                                f'blocking copy of {tuple(args[0].shape)} to {dev}')
                return func(*args, **kwargs)

        self._modes = [Functions(), Copies()]

    def __enter__(self):
        for mode in self._modes:
            mode.__enter__()
        return self

    def __exit__(self, *exc):
        for mode in reversed(self._modes):
            mode.__exit__(*exc)


def _fake_runner(hub):
    return SimpleNamespace(message_hub=hub, iter=0, max_iters=1000,
                           train_dataloader=list(range(500)))


@pytest.mark.parametrize('mode', ['loc', 'mil', 'loc+mil', 'loc channels_last'])
def test_train_step_has_no_device_to_host_read(mode):
    model = _meta_model(channels_last='channels_last' in mode,
                        loc=mode.startswith('loc'), mil='mil' in mode)
    wrapper = build_optim_wrapper(model, dict(
        type='LazyGradNormOptimWrapper', grad_norm_log_interval=50,
        optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-5),
        clip_grad=dict(max_norm=5.0, norm_type=2)))
    hub = MessageHub.get_instance(f'sync-free-{mode}')
    hook = LazyRuntimeInfoHook()
    model.train()
    for step in range(2):
        batch = _batch()
        with _BlockingUploads() as uploads:
            log_vars = model.train_step(batch, wrapper)
        assert uploads.calls == []
        # the images are on the device already: the one upload is both heads' targets
        assert uploads.async_uploads == 1
        hook.after_train_iter(_fake_runner(hub), step, outputs=log_vars)
        assert all(p.device == META for p in model.parameters())
        assert set(log_vars) >= {'loss', 'loss_presence', 'loss_bbox', 'loss_giou'}
    assert 'train/loss' not in hub.log_scalars  # kept on the device, not read yet
    assert len(hook._pending) == 2


def test_the_check_catches_a_host_read():
    """mmengine's own OptimWrapper logs float(grad_norm) every step: caught."""
    model = _meta_model()
    wrapper = OptimWrapper(optimizer=torch.optim.AdamW(model.parameters(), lr=1e-4),
                           clip_grad=dict(max_norm=5.0))
    model.train()
    with pytest.raises((RuntimeError, NotImplementedError), match='meta'):
        model.train_step(_batch(), wrapper)


def test_the_upload_check_catches_blocking_uploads():
    """mmdet's GIoULoss made its epsilon with union.new_tensor([eps]): caught, as are
    a blocking .to(device) and torch.tensor(data, device=...)."""
    from mmdet.models.losses import GIoULoss
    boxes = torch.empty((5, 4), device=META)
    with _BlockingUploads() as uploads:
        GIoULoss()(boxes, boxes)
        torch.zeros(3).to(META)
        torch.zeros(3).to(META, non_blocking=True)  # not caught: asynchronous
        torch.tensor([1.0, 2.0], device=META)
    assert uploads.calls == ['new_tensor on meta', 'blocking copy of (3,) to meta',
                             'tensor on meta']


def test_network_forward_has_no_host_read():
    model = _meta_model().eval()
    data = model.data_preprocessor(_batch(), False)
    with torch.no_grad():
        presence, boxes, logits = model._forward(data['inputs'])
    assert presence.shape == (3, NUM_REGIONS) and boxes.shape == (3, NUM_REGIONS, 4)
    assert logits.shape == (3, NUM_REGIONS, NUM_CLASSES)


def test_asl_mean_and_lse_pool_over_all_regions_upload_nothing():
    """Both used to make a tensor from a host number every step (new_tensor): a blocking
    upload in eager training, and an error inside a CUDA-graph capture (graph_heads)."""
    from mmadpd.models.losses.asymmetric_loss import asymmetric_loss
    from mmadpd.models.losses.lse_pool_mil_loss import lse_pool
    with _BlockingUploads() as uploads:
        asymmetric_loss(torch.empty((4, 3), device=META), torch.empty((4, 3), device=META),
                        reduction='mean')
        lse_pool(torch.empty((2, 5, 3), device=META),
                 torch.empty((2, 5), dtype=torch.bool, device=META), absent='all_regions')
    assert uploads.calls == []
