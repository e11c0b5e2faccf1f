"""Session fixtures of the apis tests: one random-init checkpoint, one inferencer and one
ONNX export of that checkpoint."""
import pytest
from apis_checkpoint import SYNTHETIC_CONFIG, load_tool, random_checkpoint
from cxr_files import phantom_png


@pytest.fixture(scope='session')
def random_ckpt(tmp_path_factory):
    return random_checkpoint(str(tmp_path_factory.mktemp('ckpt') / 'random_loc_adpd.pth'))


@pytest.fixture(scope='session')
def inferencer(random_ckpt):
    from mmadpd.apis import ADPDInferencer

    return ADPDInferencer(SYNTHETIC_CONFIG, random_ckpt, device='cpu')


@pytest.fixture(scope='session')
def exported(random_ckpt, tmp_path_factory):
    """(dynamic-batch grey ONNX export of ``random_ckpt``, 3 phantom PNG paths)."""
    folder = tmp_path_factory.mktemp('onnx')
    onnx_path = str(folder / 'model.onnx')
    export = load_tool('tools/deployment/pytorch2onnx.py')
    assert export.main([SYNTHETIC_CONFIG, random_ckpt, '--out', onnx_path,
                        '--dynamic-batch', '--no-verify']) == 0
    images = [phantom_png(folder / f'phantom_{i}.png', i, w, h)
              for i, (w, h) in enumerate([(256, 256), (300, 210), (180, 320)])]
    return onnx_path, images
