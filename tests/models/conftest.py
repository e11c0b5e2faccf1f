"""Model-test fixtures (registration, builders)."""
import pytest

from adpd_model_builders import make_sample, tiny_adpd_cfg


@pytest.fixture(scope='session', autouse=True)
def _registered():
    from mmadpd.utils import register_all_modules
    register_all_modules()


@pytest.fixture
def adpd_cfg():
    return tiny_adpd_cfg


@pytest.fixture
def sample_factory():
    return make_sample


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: training-based test (about a minute on CPU)')
