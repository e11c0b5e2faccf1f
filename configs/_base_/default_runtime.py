_base_ = ['mmdet::_base_/default_runtime.py']

custom_imports = dict(imports=['mmadpd'], allow_failed_imports=False)
default_scope = 'mmdet'

default_hooks = dict(
    # mmengine's RuntimeInfoHook reads every loss back to the host each iteration (a GPU
    # sync that exposes all per-step host work); this one reads them once per logging
    # interval and fills the message hub with exactly the same values.
    runtime_info=dict(type='LazyRuntimeInfoHook'),
    # validation metrics logged at the iteration (mmengine's default is the epoch: 0 here)
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    # Iteration-based checkpoints; the best one is selected on CXR8 val mAP.
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=500, max_keep_ckpts=3,
                    save_best='cxr8/mAP', rule='greater'),
    # After every validation/test run: <work_dir>/report/ with metrics.json, table.md,
    # PR curves and overlays (rank 0 only). A default hook, not a custom one, so configs
    # that replace `custom_hooks` keep it. Disable it with
    # default_hooks.report.on_val=False / .on_test=False (mmengine accepts None only for
    # its own built-in default hooks).
    report=dict(type='ADPDReportHook'),
    # Stops persistent DataLoader workers when train()/val()/test() ends: left to exit,
    # older torch joins each with a 5 s timeout, ~160 s for 16 + 16 workers.
    worker_shutdown=dict(type='WorkerShutdownHook'),
    # checkpoints' meta.dataset_meta = the 8 target classes + palette (what mmdet's
    # init_detector / DetInferencer name the labels with), not the 29 training regions
    target_meta=dict(type='TargetClassesMetaHook'))
# One overlay per image (regions, fused regions, pathology boxes, GT) to every vis backend;
# add e.g. dict(type='TensorboardVisBackend') to vis_backends for TensorBoard.
visualizer = dict(type='ADPDLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')],
                  name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)

# Same seed -> same initialisation and data order; deterministic=True additionally forces
# deterministic cuDNN/CUDA kernels (slower).
randomness = dict(seed=0, deterministic=False)
