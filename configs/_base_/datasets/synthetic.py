# Synthetic phantom set (same file formats as the real data, no credentials needed):
# imagenome_cxr8.py with the phantom roots, 128-px inputs and CPU-sized loaders.
# train = converted phantom ImaGenome train split, val/test = converted phantom CXR8 halves.
#
# Layout under the phantom root (env MMADPD_PHANTOM_DIR, default data/phantom):
#   python tools/dataset_converters/make_synthetic_cxr.py data/phantom
#   python tools/dataset_converters/imagenome_to_coco.py \
#       --scene-graphs data/phantom/chest-imagenome/silver_dataset/scene_graph \
#       --splits-dir data/phantom/chest-imagenome/silver_dataset/splits \
#       --images-root data/phantom/mimic-cxr-jpg \
#       --metadata data/phantom/mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv \
#       --out-dir data/phantom/imagenome_coco
#   python tools/dataset_converters/cxr8_to_coco.py \
#       --bbox-csv data/phantom/cxr8/BBox_List_2017.csv \
#       --data-entry data/phantom/cxr8/Data_Entry_2017_v2020.csv \
#       --image-dir data/phantom/cxr8/images --out-dir data/phantom/cxr8_coco
# Other converter output dirs: --cfg-options train_dataloader.dataset.data_root=DIR/
# val_dataloader.dataset.data_root=DIR/ test_dataloader.dataset.data_root=DIR/.
_base_ = './imagenome_cxr8.py'

phantom_root = '{{$MMADPD_PHANTOM_DIR:data/phantom}}/'
imagenome_root = phantom_root + 'imagenome_coco/'
cxr8_root = phantom_root + 'cxr8_coco/'
# 128 px instead of 224: the phantoms are simple and a 2-core CPU trains ~3x faster. The
# base's pipelines are evaluated with its size, so the two size-bearing lists are restated.
image_size = 128
backend_args = None

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
test_pipeline = [
    dict(type='LoadImageFromFile', color_type='unchanged', backend_args=backend_args),
    dict(type='ConvertToGrey'),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True,
         interpolation='area'),
    dict(type='Pad', size=(image_size, image_size), pad_val=dict(img=0)),
    dict(type='LoadADPDAnnotations'),
    dict(type='PackADPDInputs'),
]

# a small set: no annotation cache, 2 workers, no pinned memory (CPU)
train_dataloader = dict(
    batch_size=16, num_workers=2, pin_memory=False,
    dataset=dict(data_root=imagenome_root, cache_dir=None, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16, num_workers=2, pin_memory=False,
    dataset=dict(data_root=cxr8_root, pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=16, num_workers=2, pin_memory=False,
    dataset=dict(data_root=cxr8_root, pipeline=test_pipeline))
