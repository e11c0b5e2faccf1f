# Loc-ADPD on the synthetic phantom set, sized for a 2-core CPU (`make demo` trains it in
# about 9 minutes): small batch, a short iteration schedule, plain fp32 (AMP needs a GPU).
#
# The phantom data root and image size come from the dataset base
# (configs/_base_/datasets/synthetic.py).
#
# ImageNet weights cannot be downloaded everywhere, so the backbone starts from random
# weights unless a local torchvision DenseNet121 checkpoint is given, either with
#   MMADPD_DENSENET_CKPT=/path/densenet121.pth python tools/train.py CONFIG
# or with
#   --cfg-options "model.backbone.init_cfg=dict(type='Pretrained',checkpoint='/path/x.pth')"
_base_ = [
    '../_base_/models/adpd.py', '../_base_/datasets/synthetic.py',
    '../_base_/schedules/adpd_25e.py', '../_base_/default_runtime.py'
]

densenet_ckpt = '{{$MMADPD_DENSENET_CKPT:none}}'  # 'none': random weights
# The pathology loss keeps the paper's scale (ASL sum normalised to a batch of 128, from
# the model base), so at batch 16 it weighs against the box losses as in the paper.
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=densenet_ckpt)
                  if densenet_ckpt != 'none' else None))

max_iters = 500
warmup_iters = 30
val_interval = 250  # two validations: each costs ~10 s of the demo's 12-minute budget
train_dataloader = dict(batch_size=16)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)
# Random init and a few hundred steps: a much larger learning rate than the real runs.
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=5e-4, weight_decay=1e-5),
                     clip_grad=dict(max_norm=5.0, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, end_factor=1.0, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=max_iters - warmup_iters, eta_min=0.0,
         by_epoch=False, begin=warmup_iters, end=max_iters),
]
custom_hooks = []  # no early stopping in a 500-iteration CPU run
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(interval=val_interval, max_keep_ckpts=2))
log_processor = dict(window_size=10)
