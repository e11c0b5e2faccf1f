# Faster R-CNN baseline (Table 1): mmdet's own FasterRCNN from mmdet's faster-rcnn_r50_fpn
# base, with mmadpd's grey input (grey loading, ADPD's box-safe augmentation without
# flips, one grey mean/std repeated to 3 channels). The paper's ~500 private expert boxes
# are not public: this config trains on the CXR8 VAL half's boxes (436 images, 492 boxes,
# the same order of size) and is tested on the test half, so it has no val split for
# checkpoint selection: the last checkpoint is tested. ImageNet ResNet-50 weights.
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py', '../_base_/datasets/imagenome_cxr8.py',
    '../_base_/schedules/adpd_25e.py', '../_base_/default_runtime.py'
]

model = dict(
    data_preprocessor=dict(_delete_=True, type='ADPDDataPreprocessor', mean=[0.505 * 255],
                           std=[0.248 * 255], out_channels=3, pad_size_divisor=32,
                           samples_to_device=True),  # mmdet's heads want gt on the device
    roi_head=dict(bbox_head=dict(num_classes=8)))
train_dataloader = dict(batch_size=16, dataset=dict(
    _delete_=True, type='CXR8Dataset', data_root={{_base_.cxr8_root}},
    ann_file='cxr8_val.json', data_prefix=dict(img='images/'),
    pipeline={{_base_.train_pipeline}}))
val_dataloader, val_evaluator, val_cfg = None, None, None  # the val half is training data

max_iters = 2000  # ~73 epochs of the 436 images at batch 16
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=200),
    dict(type='MultiStepLR', by_epoch=False, milestones=[1500, 1800], gamma=0.1),
]
default_hooks = dict(checkpoint=dict(interval=max_iters, save_best=None))
custom_hooks = []  # no validation, so no early stopping
