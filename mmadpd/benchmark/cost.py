"""(g) What ADPD adds to a bare DenseNet121 step, counted on the meta device: FLOPs and
device operators (kernel launches); plus the host time of ADPD's target building."""
from __future__ import annotations

import copy

import torch

from .steps import (bare_classifier, bare_loss, build_adpd, grey_mean_std, image_targets,
                    synthetic_batch)
from .timing import timed, worker_threads


def bench_cost(cfg, args, size):
    """(g) cost: FLOPs and device operators (each at least one kernel launch) of one ADPD
    and one bare forward + backward at the benchmark's batch and image size, counted on
    the meta device (no data, so any machine gives the counts a GPU would see; fp32: AMP
    adds its casts to both), and the host CPU ms per batch to build ADPD's targets from
    the data samples and to run the data preprocessor's per-sample bookkeeping. See
    mmadpd/utils/step_cost.py. Returns (costs, targets s, preprocessor s)."""
    from mmadpd.utils.step_cost import train_step_cost
    meta = torch.device('meta')
    meta_args = copy.copy(args)
    meta_args.amp, meta_args.compile = 'none', False
    model, _ = build_adpd(cfg, meta_args, meta)
    num_r, num_c = model.anatomy_head.num_regions, model.pathology_head.num_classes
    batch = synthetic_batch(args.batch_size, size, num_r, num_c, meta)
    model.train()

    def adpd_loss():
        data = model.data_preprocessor(batch, True)
        return model.parse_losses(model(**data, mode='loss'))[0]

    net, _ = bare_classifier(cfg, meta_args, meta, num_c)
    net.train()
    target = image_targets(batch, meta)
    costs = dict(adpd=train_step_cost(adpd_loss),
                 bare=train_step_cost(lambda: bare_loss(net, batch['inputs'], target,
                                                        meta_args, meta,
                                                        grey_mean_std(cfg))))
    costs['adpd']['param_tensors'] = sum(1 for _ in model.parameters())
    costs['bare']['param_tensors'] = sum(1 for _ in net.parameters())

    samples = batch['data_samples']

    def targets():  # what ADPD.loss builds on the host before every forward
        model.get_targets(samples, 'cpu')

    # The data preprocessor's per-sample bookkeeping (shapes written into every data
    # sample), on a batch of 8-px images: the per-sample host work without the
    # normalisation arithmetic, which runs on the device in training.
    from mmdet.registry import MODELS
    cpu = torch.device('cpu')
    preprocessor = MODELS.build(copy.deepcopy(cfg.model.data_preprocessor))
    tiny = synthetic_batch(args.batch_size, 8, num_r, num_c, cpu)

    with worker_threads():  # one core, as the main process has for it in the loop
        t_targets, _ = timed(targets, cpu, 1, 3, args.repeats)
        t_preprocess, _ = timed(lambda: preprocessor(tiny, True), cpu, 1, 3, args.repeats)
    return costs, t_targets, t_preprocess


def extra_ops(adpd, bare, top=15):
    """Device operators ADPD dispatches beyond the bare classifier (forward + backward),
    most frequent first."""
    from collections import Counter
    counts = Counter()
    for phase in ('forward', 'backward'):
        counts.update(adpd[phase]['by_op'])
        counts.subtract(bare[phase]['by_op'])
    return {k: v for k, v in counts.most_common(top) if v > 0}
