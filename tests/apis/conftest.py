"""Session fixtures of the apis tests: one random-init checkpoint and one inferencer."""
import pytest
from apis_checkpoint import SYNTHETIC_CONFIG, random_checkpoint


@pytest.fixture(scope='session')
def random_ckpt(tmp_path_factory):
    return random_checkpoint(str(tmp_path_factory.mktemp('ckpt') / 'random_loc_adpd.pth'))


@pytest.fixture(scope='session')
def inferencer(random_ckpt):
    from mmadpd.apis import ADPDInferencer

    return ADPDInferencer(SYNTHETIC_CONFIG, random_ckpt, device='cpu')
