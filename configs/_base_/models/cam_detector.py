# CAM-family weakly supervised detector (paper Table 1 baselines): DenseNet121 + a 1x1
# classifier at every position, pooled to image logits (mmadpd/models/heads/cam_pooling.py),
# one box per class from the class heatmap at test time (mmadpd/models/postprocessing/
# cam_boxes.py). Any mmdet backbone works: replace `backbone` and set head.in_channels
# (and gradcam_layer for Grad-CAM).
#
# Used as a second base next to an ADPD config (whose data, schedule and runtime the
# baselines share): `model = {{_base_.cam_model}}` replaces the ADPD model.
cam_head = dict(
    type='CAMClassifierHead', in_channels=1024, num_classes=8,
    pooling=dict(type='gap'),  # 'gap' (CheXNet) | 'lse' (r) | 'weldon' (k_pos, k_neg, alpha)
    loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0))
cam_model = dict(
    _delete_=True,
    type='CAMDetector',
    data_preprocessor=dict(type='ADPDDataPreprocessor', mean=[0.505 * 255],
                           std=[0.248 * 255], out_channels=3),
    backbone=dict(type='TorchvisionDenseNet', arch='densenet121',
                  init_cfg=dict(type='Pretrained', checkpoint='torchvision://densenet121')),
    head=cam_head,
    cam_method='cam',  # 'gradcam': Grad-CAM heatmaps at gradcam_layer
    gradcam_layer='backbone.features.norm5',
    # heatmap threshold relative to the map's range; choose it on the val half
    box_threshold=0.5)
