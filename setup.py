"""mmadpd: Anatomy-Driven Pathology Detection on chest X-rays as an MMDetection 3.x plugin."""
from setuptools import find_packages, setup

setup(
    name='mmadpd',
    version='0.1.0',
    description='Anatomy-driven pathology detection (ADPD) on chest X-rays for MMDetection 3.x',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=find_packages(include=['mmadpd', 'mmadpd.*']),
    package_data={'mmadpd': ['data/*.csv', 'data/*.json']},
    include_package_data=True,
    # The pinned stack (torch, mmcv with compiled ops, mmdet, mmengine ...) is installed by
    # tools/install_deps.sh from requirements/; listing it here would let pip pull an
    # ops-less mmcv or an unpinned torch.
    install_requires=[],
    zip_safe=False,
)
