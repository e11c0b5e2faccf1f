"""Session fixtures shared by the end-to-end tests: one tiny converted phantom data set.

The phantom set is generated with ``mmadpd.datasets.synthetic.generate_dataset`` and
converted with the project's converters, laid out as ``configs/_base_/datasets/synthetic.py``
expects under ``MMADPD_PHANTOM_DIR``::

    ROOT/imagenome_coco/imagenome_{train,val,test}.json + images/   (ImaGenome converter)
    ROOT/cxr8_coco/cxr8_{val,test}.json + images/                     (CXR8 converter)

Sizes are chosen for speed (a few seconds): 48/8/8 MIMIC-style and 24 CXR8-style images
at 128 px, no defects. With seed 0 the computed CXR8 split has an ODD number of test
images, which the distributed test relies on (the sampler pads to a multiple of the world
size and the results must be truncated again); the fixture asserts it.
"""
import os
import os.path as osp

import pytest

PHANTOM_SIZE = dict(seed=0, num_train=48, num_val=8, num_test=8, num_cxr8=24, size=128,
                    defect_rate=0.0)


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'slow: runs the real tools (training/evaluation subprocesses); '
        'still part of `make test`')


def _quiet(_msg):
    pass


@pytest.fixture(scope='session')
def phantom_root(tmp_path_factory):
    """Absolute path (no trailing slash) of the converted phantom root."""
    from mmadpd.datasets.converters import convert_cxr8, convert_imagenome
    from mmadpd.datasets.synthetic import generate_dataset

    root = str(tmp_path_factory.mktemp('phantom'))
    generate_dataset(root, **PHANTOM_SIZE)
    silver = osp.join(root, 'chest-imagenome', 'silver_dataset')
    mimic = osp.join(root, 'mimic-cxr-jpg')
    cxr8 = osp.join(root, 'cxr8')
    convert_imagenome(osp.join(silver, 'scene_graph'), osp.join(silver, 'splits'), mimic,
                      osp.join(mimic, 'mimic-cxr-2.0.0-metadata.csv'),
                      osp.join(root, 'imagenome_coco'), progress=False, log=_quiet)
    summary = convert_cxr8(osp.join(cxr8, 'BBox_List_2017.csv'),
                           osp.join(cxr8, 'Data_Entry_2017_v2020.csv'),
                           osp.join(root, 'cxr8_coco'), image_dir=osp.join(cxr8, 'images'),
                           log=_quiet)
    assert summary['images']['test'] % 2 == 1, (
        f'the distributed test needs an odd number of CXR8 test images, got '
        f'{summary["images"]}; change PHANTOM_SIZE')
    for path in ('imagenome_coco/imagenome_train.json', 'cxr8_coco/cxr8_val.json',
                 'cxr8_coco/cxr8_test.json'):
        assert osp.isfile(osp.join(root, path)), path
    return root


@pytest.fixture(scope='session')
def phantom_env(phantom_root):
    """Environment for tool subprocesses: the phantom root for the synthetic configs,
    one-line errors (no MMADPD_TRACEBACK) and ONE intra-op thread per process.

    One thread: on a small shared CPU (2 cores, several pytest/tool processes at once)
    OpenMP thread pools oversubscribe the cores and a training iteration measured 10-30x
    slower with 2 threads than with 1; torchrun gives each rank one thread anyway.
    """
    env = dict(os.environ)
    env['MMADPD_PHANTOM_DIR'] = phantom_root
    env.pop('MMADPD_TRACEBACK', None)
    env['OMP_NUM_THREADS'] = '1'
    env['MKL_NUM_THREADS'] = '1'
    return env


# Shrinks the synthetic configs to seconds on a 2-core CPU: no DataLoader worker
# processes, batch 4, a log line per iteration, a checkpoint every 2 iterations.
TINY_OPTIONS = (
    'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
    'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
    'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=2')

# A model trained for a few iterations predicts no pathology above 0.5, so every AP would
# be 0 and comparing numbers would prove nothing: evaluate with every region present and
# every mapped class a candidate (the post-processor and the metric run unchanged).
PREDICT_ALL_OPTIONS = ('model.postprocessor.prob_thr=0.0',
                       'model.postprocessor.presence_thr=-100.0')


@pytest.fixture
def tiny_options():
    return list(TINY_OPTIONS)


@pytest.fixture
def predict_all_options():
    return list(PREDICT_ALL_OPTIONS)
