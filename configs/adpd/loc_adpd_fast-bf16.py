# Loc-ADPD, fast path for GPUs with bf16 tensor cores (Ampere or newer). Same model, data
# and schedule as loc_adpd.py; results differ only by bf16 rounding (and the fused
# kernels'). On older GPUs (V100, T4) keep loc_adpd.py (fp16 AMP). Measured speed of each
# layer: benchmarks/README.md.
#
# * FastADPD: in eager training the heads + losses replay as CUDA graphs (graph_heads),
#   the loss terms are summed in one operation; the fused forms of attention, GIoU and
#   ASL (fewer kernels, same numbers up to float rounding).
# * bf16 autocast WITHOUT a loss scaler (bf16 has fp32's range; the scaler's inf check
#   is a host-GPU sync every step); channels_last weights and activations.
# * torch.compile of backbone, heads and loss arithmetic with CUDA graphs
#   ('reduce-overhead'), in place (checkpoint keys unchanged), eager validation. Compiled
#   graphs want one batch size: drop_last=True skips the last, smaller batch of an epoch.
#   If CUDA graphs misbehave: default_hooks.compile.mode=None.
# * cuDNN autotuning (every input is 224 x 224), AdamW's fused kernel, 16 DataLoader
#   workers (one per core of an H100/H200 node slice), report figures drawn in the
#   background.
_base_ = './loc_adpd.py'

model = dict(
    type='FastADPD',
    graph_heads=True,
    data_preprocessor=dict(channels_last=True),
    anatomy_head=dict(layer_cfg=dict(fused_attention=True), loss_iou=dict(fused=True)),
    pathology_head=dict(loss_cls=dict(fused=True)))
optim_wrapper = dict(type='LazyGradNormAmpOptimWrapper', dtype='bfloat16',
                     loss_scale=dict(_delete_=True, enabled=False),
                     optimizer=dict(fused=True))
default_hooks = dict(compile=dict(type='ADPDCompileHook', mode='reduce-overhead'),
                     report=dict(background=True))
env_cfg = dict(cudnn_benchmark=True)
train_dataloader = dict(num_workers=16, drop_last=True)
val_dataloader = dict(num_workers=16)
test_dataloader = dict(num_workers=16)
