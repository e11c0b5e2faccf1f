"""Every Table-1 baseline config parses and builds its model (training and testing of the
phantom configs: tests/tools/test_table1.py)."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from mmdet.models.detectors import FasterRCNN
from mmdet.registry import MODELS

from mmadpd.models.detectors import CAMDetector
from mmadpd.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'baselines', '*.py')))
POOLING = {'chexnet': 'gap', 'lse': 'lse', 'weldon': 'weldon'}


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_baseline_config_builds(path):
    register_all_modules()
    cfg = Config.fromfile(path)
    name = osp.basename(path)
    model_cfg = cfg.model.copy()
    model_cfg.backbone.init_cfg = None  # no ImageNet download here
    model = MODELS.build(model_cfg)
    train = cfg.train_dataloader.dataset
    assert cfg.test_dataloader.dataset.ann_file == 'cxr8_test.json'
    assert cfg.test_evaluator.type == 'CXR8DetectionMetric'
    if name.startswith('faster-rcnn'):
        assert isinstance(model, FasterRCNN) and model.roi_head.bbox_head.num_classes == 8
        # trained on the val half's boxes, so the val half cannot select a checkpoint
        assert (train.type, train.ann_file) == ('CXR8Dataset', 'cxr8_val.json')
        assert cfg.val_dataloader is None
        assert not any(t['type'] == 'RandomFlip' for t in train.pipeline)
    else:
        assert isinstance(model, CAMDetector)
        assert model.head.pooling['type'] == POOLING[name.split('_')[0]]
        assert model.cam_method == ('gradcam' if 'gradcam' in name else 'cam')
        assert train.type == 'CXR8ClassificationDataset'
        assert train.get('bbox_file', 'BBox_List_2017.csv') == 'BBox_List_2017.csv'
        root = train.data_root
        assert root.endswith('cxr8/') if 'synthetic' in name else root == 'data/nih/'
    assert model.data_preprocessor.out_channels == 3  # grey input repeated for ImageNet nets
