# Faster R-CNN on the phantom set: trained on the phantom CXR8 val half's boxes, tested on
# its test half; 224-px input as the real config (FPN anchors start at 32 px). CPU-sized:
# random initialisation (no weights can be downloaded), so nothing is frozen and BN
# trains; AdamW as the other phantom configs; batch 4 and 128 sampled RoIs per image
# (mmdet: 512) and 300 test proposals (mmdet: 1000) to fit the Table-1 CPU budget
# (benchmarks/cpu_2026-12-06_table1_iter_time.json).
_base_ = ['./faster-rcnn_r50_fpn_cxr8-val.py']

phantom_cxr8 = '{{$MMADPD_PHANTOM_DIR:data/phantom}}/cxr8_coco/'
model = dict(backbone=dict(init_cfg=None, frozen_stages=-1, norm_eval=False),
             train_cfg=dict(rcnn=dict(sampler=dict(num=128))),
             test_cfg=dict(rpn=dict(max_per_img=300)))
train_dataloader = dict(batch_size=4, num_workers=2, pin_memory=False,
                        dataset=dict(data_root=phantom_cxr8))
test_dataloader = dict(num_workers=2, pin_memory=False, dataset=dict(data_root=phantom_cxr8))

max_iters = 200
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=2e-4,
                                    weight_decay=1e-4),
                     clip_grad=dict(max_norm=5.0, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', T_max=max_iters - 30, by_epoch=False, begin=30,
         end=max_iters),
]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_iters))
