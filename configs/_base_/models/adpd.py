# ADPD model (Loc-ADPD defaults; FACTS.md §4). Class vocabularies are NAMED here and
# resolved from mmadpd.anatomy when the model is built ('REGIONS', 'PATHOLOGIES',
# 'CXR8_CLASSES', 'CXR8_MAPPING'), so configs and code cannot drift apart; explicit lists
# work too (classic mmengine configs cannot import packages).

embed_dims = 512  # d: 512 for Loc-ADPD, 256 for MIL-ADPD

# The speed layers (bf16, channels_last, torch.compile, CUDA graphs, fused loss forms) are
# switched on by configs/adpd/loc_adpd_fast-bf16.py; measured in benchmarks/README.md.

model = dict(
    type='ADPD',
    data_preprocessor=dict(
        type='ADPDDataPreprocessor',
        mean=[0.505 * 255], std=[0.248 * 255],  # grey stats, repeated to 3 channels
        out_channels=3,
        channels_last=False,  # True (the fast config): weights follow the input's format
        samples_to_device=False),  # gt stays on the CPU: targets are built there
    backbone=dict(
        type='TorchvisionDenseNet',
        arch='densenet121',
        # ImageNet weights; loaded strictly and never re-initialised afterwards.
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://densenet121')),
    anatomy_head=dict(
        type='AnatomyDETRHead',
        num_regions=29,
        region_names='REGIONS',
        in_channels=1024,
        embed_dims=embed_dims,
        num_layers=1,
        layer_cfg=dict(num_heads=8, ffn_ratio=4, dropout=0.3, drop_path=0.2,
                       layer_scale_init=0.1),
        proj_dropout=0.3,
        box_dropout=0.3,
        positional_encoding=dict(type='SinePositionalEncoding', normalize=True),
        loss_presence=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=5.0),
        loss_iou=dict(type='AlignedGIoULoss', loss_weight=2.0)),
    pathology_head=dict(
        type='RegionPathologyHead',
        in_channels=embed_dims,
        num_classes=53,
        class_names='PATHOLOGIES',
        # reduction='sum' as the released code that produced the paper's numbers;
        # 'mean' is what the paper's text describes. The sum is scaled to the paper's
        # batch of 128 (same per-sample gradient at any local batch and GPU count).
        loss_cls=dict(type='AsymmetricLoss', gamma_neg=4.0, gamma_pos=1.0, clip=0.05,
                      eps=1e-8, reduction='sum', loss_weight=0.01,
                      batch_normalize_to=128),
        loss_mil=None),
    postprocessor=dict(
        type='WBFPathologyPostProcessor',
        target_classes='CXR8_CLASSES',
        class_mapping='CXR8_MAPPING',
        presence_thr=0.5,  # on the presence LOGIT, as the reference code
        prob_thr=0.5,
        fusion='wbf',      # 'none' = "w/o WBF" ablation
        iou_thr=0.03))

# MIL-ADPD differences, merged into `model` by the MIL configs (`model = {{_base_.mil_model}}`).
mil_embed_dims = 256
mil_model = dict(
    anatomy_head=dict(embed_dims=mil_embed_dims),
    pathology_head=dict(
        in_channels=mil_embed_dims,
        loss_cls=None,
        loss_mil=dict(
            _delete_=True,  # the base value is None
            type='LSEPoolMILLoss',
            r=5.0,
            absent='exclude',  # 'all_regions' reproduces the reference code's mean over 29
            loss_cls=dict(type='AsymmetricLoss', use_sigmoid=False, gamma_neg=4.0,
                          gamma_pos=1.0, clip=0.05, eps=1e-8, reduction='sum',
                          loss_weight=0.01, batch_normalize_to=128))))
