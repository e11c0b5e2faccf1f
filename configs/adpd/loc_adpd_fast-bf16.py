# Loc-ADPD, fast path for GPUs with bf16 tensor cores (Ampere or newer: A100, A6000, H100,
# H200, RTX 30xx/40xx). Same model, data and schedule as loc_adpd.py; results differ only
# by bf16 rounding (and the fused optimizer kernel's). On older GPUs (V100, T4) keep
# loc_adpd.py (fp16 AMP).
#
# * bf16 autocast WITHOUT a loss scaler: bf16 has fp32's exponent range, and the dynamic
#   scaler's inf check reads a GPU flag back every step (a host-GPU sync).
# * channels_last activations and weights (tensor-core convolutions).
# * torch.compile of the backbone, both heads and the loss arithmetic (ADPD.loss_by_feat),
#   in place (checkpoint keys unchanged);
#   falls back to eager with a log line if compilation fails. The first iterations are
#   slow while kernels compile.
# * cuDNN autotuning (every training and test input is 224 x 224).
# * every training batch the same size (drop_last=True: the last, smaller batch of an
#   epoch is skipped, < 128 of ~234k images, a different few each shuffled epoch): a second
#   batch size would make torch.compile compile again (minutes) and then run a
#   dynamic-shape graph for every step. Validation runs eager (ADPDCompileHook's
#   eager_val): it is bound by image decoding, and its eval mode and batch sizes would
#   each be a compilation.
# * 16 DataLoader workers: one per core of an H100/H200 node slice, for training and for
#   the 91 validations too (a validation, 406 NIH PNGs of 1024 px, took 3.9 s on the H100
#   with 4 workers and 1.24-1.41 s with 16; decoding them is most of its CPU work).
# * torch.compile with CUDA graphs (mode 'reduce-overhead'): each compiled part's kernels
#   are replayed as one graph launch. At batch 128 the loop in torch's default mode was
#   host-bound on the H100 (1,290 samples/s: 99 ms per iteration for 35 ms of GPU kernels,
#   ~1,700 kernel launches); with CUDA graphs it ran 3,010 samples/s, 42.5 ms per iteration
#   (benchmarks/h100_2026-11-26_cudagraphs.json). Graphs, like compiled kernels, want one
#   batch size (drop_last, above); on a CPU torch skips the graphs and runs the kernels.
#   If CUDA graphs misbehave on your stack: default_hooks.compile.mode=None (torch's
#   default mode) or .options=dict(cpp_wrapper=True) (kernels launched from C++; not
#   measured: its compilation had not finished after the 5 minutes its H100 step had).
# * the validation report's figures (PR curves, overlays; ~1 s of CPU each time) drawn by a
#   background process while training goes on (ADPDReportHook(background=True)).
# * AdamW's fused kernel (same update, one kernel set for all parameters): the eager step
#   is host-bound at batch 128, and the default multi-tensor AdamW cost ~12 ms of host
#   time per step on the H100 host (benchmarks/h100_2026-11-26_train_profile.txt).
# With the default LazyRuntimeInfoHook and LazyGradNormAmpOptimWrapper, nothing in a
# training step waits for the GPU (tests/models/test_sync_free.py).
_base_ = './loc_adpd.py'

model = dict(data_preprocessor=dict(channels_last=True))
optim_wrapper = dict(type='LazyGradNormAmpOptimWrapper', dtype='bfloat16',
                     loss_scale=dict(_delete_=True, enabled=False),
                     optimizer=dict(fused=True))
default_hooks = dict(compile=dict(type='ADPDCompileHook', mode='reduce-overhead'),
                     report=dict(background=True))
env_cfg = dict(cudnn_benchmark=True)
train_dataloader = dict(num_workers=16, drop_last=True)
val_dataloader = dict(num_workers=16)
test_dataloader = dict(num_workers=16)
