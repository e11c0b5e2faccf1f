# Real data: train on Chest ImaGenome (silver) regions, validate on the CXR8 val half,
# test on the CXR8 test half (FACTS.md §4/§7).
#
# Data roots come from environment variables (mmengine's {{$VAR:default}} substitution)
# and can be overridden with --cfg-options:
#   MMADPD_IMAGENOME_DIR  output dir of tools/dataset_converters/imagenome_to_coco.py:
#                         imagenome_{train,val,test}.json + images/ (a symlink to the
#                         MIMIC-CXR-JPG root, or the --resize-short-side 256 JPEG cache,
#                         recommended: full-size JPEG decoding bounds the training speed).
#                         Default data/imagenome.
#   MMADPD_CXR8_DIR       output dir of tools/dataset_converters/cxr8_to_coco.py:
#                         cxr8_{val,test}.json + images/ (a symlink to the NIH PNG folder,
#                         made when the converter gets --image-dir). Default data/cxr8.
# e.g. --cfg-options train_dataloader.dataset.data_root=/data/ig/ \
#      val_dataloader.dataset.data_root=/data/cxr8/ test_dataloader.dataset.data_root=/data/cxr8/
#
# Images are grey uint8 (1, H, W) end to end; ADPDDataPreprocessor (model config)
# normalises with mean 0.505, std 0.248 (0-1 scale) and repeats them to 3 channels.
imagenome_root = '{{$MMADPD_IMAGENOME_DIR:data/imagenome}}/'
cxr8_root = '{{$MMADPD_CXR8_DIR:data/cxr8}}/'
dataset_type = 'ImaGenomeDataset'
eval_dataset_type = 'CXR8Dataset'
image_size = 224
backend_args = None

# The paper's training augmentation (FACTS.md §4). NEVER a horizontal flip: "left" and
# "right" regions would swap identities.
train_pipeline = [
    dict(type='LoadGreyImageFromFile', backend_args=backend_args),
    dict(type='LoadADPDAnnotations'),
    dict(type='RandomResizedBBoxSafeCrop', size=image_size, erosion_rate=0.2),
    dict(type='RandomSimilarityAffine', max_rotate_degree=2.0,
         scaling_ratio_range=(0.95, 1.0), max_translate_ratio=0.02, min_visible_ratio=0.5),
    dict(type='RandomBrightnessContrast', brightness=(0.8, 1.2), contrast=(0.8, 1.2)),
    dict(type='RandomGaussianBlur', kernel_size=3, sigma=(0.1, 1.0), prob=0.5),
    dict(type='PackADPDInputs'),
]
# Letterbox instead of the paper's centre crop: keep-ratio resize so the long side is
# image_size, pad bottom/right. Nothing of a non-square image is cut away and predictions
# map back with one division by scale_factor. (The NIH PNGs are square, where both agree.)
# Annotations are loaded AFTER the resize so gt_instances stay in ORIGINAL pixels.
# mmdet's LoadImageFromFile first, so DetInferencer / inference_detector find the loader
# they replace; ConvertToGrey then makes any decoded image (H, W) uint8 grey.
test_pipeline = [
    dict(type='LoadImageFromFile', color_type='unchanged', backend_args=backend_args),
    dict(type='ConvertToGrey'),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True,
         interpolation='area'),
    dict(type='Pad', size=(image_size, image_size), pad_val=dict(img=0)),
    dict(type='LoadADPDAnnotations'),
    dict(type='PackADPDInputs'),
]

# Fast loading: adpd_collate stacks the uint8 (1, H, W) crops into one (B, 1, H, W)
# tensor inside the worker (one shared-memory block per batch, pinned once, one copy to
# the GPU); persistent workers keep their decoders warm between epochs.
train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    collate_fn=dict(type='adpd_collate'),
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=imagenome_root,
        ann_file='imagenome_train.json',
        data_prefix=dict(img='images/'),
        # The real training file (2.2 GB of JSON) costs ~90 s and a 12 GB memory peak per
        # process to parse; the first start writes its parsed form here (~1.2 GB) and
        # later starts memory-map it in well under a second, shared by all ranks and
        # workers. Rebuilt when the annotation file changes; None disables it.
        cache_dir=imagenome_root + 'annotation_cache/',
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    pin_memory=True,
    drop_last=False,
    collate_fn=dict(type='adpd_collate'),
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=eval_dataset_type,
        data_root=cxr8_root,
        ann_file='cxr8_val.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
# The test half: the val loader with the other annotation file and mmengine's default
# collate (mmengine's BaseInferencer, under mmdet's DetInferencer, reads test_dataloader.
# collate_fn as a registry key and fails on a dict).
test_dataloader = dict(
    {k: v for k, v in val_dataloader.items() if k != 'collate_fn'},
    dataset=dict(val_dataloader['dataset'], ann_file='cxr8_test.json'))

val_evaluator = dict(type='CXR8DetectionMetric')
test_evaluator = val_evaluator
