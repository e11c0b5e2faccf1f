"""The timed train steps: ADPD through mmengine's optimizer wrapper, and a bare
torchvision DenseNet121 classifier on the same input, optimizer, AMP and memory format.

The synthetic batch is what ``adpd_collate`` + ``ADPDDataPreprocessor`` hand the model:
one uint8 (B, 1, S, S) image tensor on the device, data samples on the CPU.
"""
from __future__ import annotations

import torch

from ..utils.compile import mark_step
from .results import compile_kwargs
from .timing import autocast


def synthetic_batch(batch_size, size, num_regions, num_classes, device, seed=0):
    """A training batch as PackADPDInputs + collate produce it, already on ``device``:
    uint8 (B, 1, S, S) images and data samples with every region present."""
    from mmengine.structures import InstanceData
    from mmdet.structures import DetDataSample
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, 256, (batch_size, 1, size, size), generator=g, dtype=torch.uint8)
    samples = []
    for _ in range(batch_size):
        xy = torch.rand(num_regions, 2, generator=g) * size * 0.6
        wh = torch.rand(num_regions, 2, generator=g) * size * 0.35 + 4
        s = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                        pad_shape=(size, size), batch_input_shape=(size, size),
                                        scale_factor=(1.0, 1.0)))
        gt = InstanceData()
        gt.bboxes = torch.cat([xy, xy + wh], 1)
        gt.labels = torch.arange(num_regions)
        gt.pathology_labels = (torch.rand(num_regions, num_classes, generator=g) < 0.05).float()
        s.gt_instances = gt
        s.gt_image_labels = gt.pathology_labels.amax(0)
        samples.append(s)
    # data samples stay on the CPU, as ADPDDataPreprocessor leaves them by default
    return dict(inputs=inputs.to(device), data_samples=samples)


def optim_wrapper_cfg(cfg, args, device):
    """The config's optimizer wrapper with the CLI's --amp and --grad-norm-log-interval."""
    optim_cfg = cfg.optim_wrapper.copy()
    if args.amp != 'none' and device.type != 'cuda':
        # mmengine's AmpOptimWrapper refuses to start without a GPU: a dry run on the CPU
        # uses the plain wrapper and runs the step under CPU autocast (see train_step).
        print(f'--amp {args.amp} on {device}: OptimWrapper + torch.autocast (CPU dry run)')
        optim_cfg['type'] = 'OptimWrapper'
        optim_cfg.pop('loss_scale', None)
        optim_cfg.pop('dtype', None)
    elif args.amp != 'none':
        optim_cfg.update(type='AmpOptimWrapper',
                         dtype='bfloat16' if args.amp == 'bf16' else 'float16')
        # bf16 has fp32's range: the dynamic loss scaler only adds an unscale pass and
        # two host synchronisations per step (its inf check).
        optim_cfg['loss_scale'] = (dict(enabled=False) if args.amp == 'bf16'
                                   else 'dynamic')
    else:
        optim_cfg['type'] = 'OptimWrapper'
        optim_cfg.pop('loss_scale', None)
        optim_cfg.pop('dtype', None)
    optim_cfg.pop('grad_norm_log_interval', None)
    if args.grad_norm_log_interval > 1:  # mmadpd's sync-free logging variants
        optim_cfg['type'] = 'LazyGradNorm' + optim_cfg['type']
        optim_cfg['grad_norm_log_interval'] = args.grad_norm_log_interval
    return optim_cfg


def build_adpd(cfg, args, device):
    from mmengine.optim import build_optim_wrapper
    from mmdet.registry import MODELS
    model_cfg = cfg.model.copy()
    model_cfg.backbone.init_cfg = None  # random weights: timing only, no download
    model_cfg.data_preprocessor['channels_last'] = bool(args.channels_last)
    model = MODELS.build(model_cfg).to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if args.compile:
        from mmadpd.utils.compile import compile_submodules
        compile_submodules(model, **compile_kwargs(args))
    optim_cfg = optim_wrapper_cfg(cfg, args, device)
    return model, build_optim_wrapper(model, optim_cfg)


def still_compiled(model):
    """The ADPD parts that run compiled (compile_submodules' fallback resets a part whose
    compiled call failed to eager)."""
    from mmadpd.utils.compile import DEFAULT_PARTS, is_compiled
    return [name for name in DEFAULT_PARTS if is_compiled(model, name)]


def train_step(model, data, optim_wrapper, args, device):
    """model.train_step; on a CPU with --amp, under CPU autocast (AmpOptimWrapper's
    optim_context does that on a GPU). Compiled, each step is one CUDA-graph iteration
    (as ADPDCompileHook marks them in a Runner)."""
    if args.compile:
        mark_step()
    if args.amp != 'none' and device.type != 'cuda':
        with autocast(device, args.amp):
            return model.train_step(data, optim_wrapper)
    return model.train_step(data, optim_wrapper)


def bare_classifier(cfg, args, device, num_classes):
    """Bare torchvision DenseNet121 multi-label classifier and the config's optimizer."""
    import torchvision
    net = torchvision.models.densenet121(weights=None, num_classes=num_classes).to(device)
    if args.channels_last:
        net = net.to(memory_format=torch.channels_last)
    opt_cfg = dict(cfg.optim_wrapper.optimizer)
    opt_cls = getattr(torch.optim, opt_cfg.pop('type'))
    return net, opt_cls(net.parameters(), **opt_cfg)


def grey_mean_std(cfg):
    """The grey mean and std of the config's ADPDDataPreprocessor (0-255 scale)."""
    pre = cfg.model.data_preprocessor
    return float(pre['mean'][0]), float(pre['std'][0])


def bare_loss(net, images, target, args, device, mean_std):
    """BCE loss of the bare classifier: uint8 (B, 1, S, S) ``images`` preprocessed as
    ADPDDataPreprocessor does (normalise with ``mean_std``, expand to 3 channels, memory
    format); ``target`` (B, C) 0/1 on the device."""
    mean, std = mean_std
    x = ((images.float() - mean) / std).expand(-1, 3, -1, -1)
    x = x.contiguous(memory_format=torch.channels_last if args.channels_last
                     else torch.contiguous_format)
    with autocast(device, args.amp):
        return torch.nn.functional.binary_cross_entropy_with_logits(net(x).float(), target)


def image_targets(batch, device):
    return torch.stack([s.gt_image_labels for s in batch['data_samples']]).to(device)


def bare_train_step(cfg, batch, args, device, num_classes):
    """One train step of a bare torchvision DenseNet121 multi-label classifier on the same
    input, optimizer, AMP and memory format as ADPD's (a callable)."""
    net, opt = bare_classifier(cfg, args, device, num_classes)
    if args.compile:
        net.compile(**compile_kwargs(args))
    target = image_targets(batch, device)  # built once: (a) has its data on the device
    mean_std = grey_mean_std(cfg)

    def step():
        if args.compile:
            mark_step()
        loss = bare_loss(net, batch['inputs'], target, args, device, mean_std)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()

    net.train()
    return step
