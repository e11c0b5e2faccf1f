"""mmadpd: Anatomy-Driven Pathology Detection (ADPD) on chest X-rays for MMDetection 3.x.

Importing the package registers every component (models, datasets, transforms, metrics,
hooks) into MMDetection's registries, so configs can name them with
``custom_imports = dict(imports=['mmadpd'])`` or simply after ``import mmadpd``.
"""
__version__ = '0.1.0'

from . import anatomy  # noqa: F401,E402
from . import datasets, engine, evaluation, models  # noqa: F401,E402
from .utils import register_all_modules  # noqa: F401,E402

__all__ = ['__version__', 'register_all_modules']
