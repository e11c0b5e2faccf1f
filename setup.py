"""mmadpd: Anatomy-Driven Pathology Detection on chest X-rays as an MMDetection 3.x plugin.

``install_requires`` is requirements/runtime.txt; torch/torchvision and mmcv with compiled
ops are installed by tools/install_deps.sh (as mmdet leaves them to its install guide:
pip would pull an unpinned torch or an ops-less mmcv). Extras: ``tracking``
(TensorBoard), ``tests``.

configs/, tools/ and model-index.yml ship inside the package as ``mmadpd/.mim/`` (OpenMMLab's
``mim`` layout, as mmdet's setup.py does it): copies in wheels and sdists, symlinks for an
editable install, so ``mim train mmadpd loc_adpd_synthetic`` finds them.
"""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

ROOT = osp.dirname(osp.abspath(__file__))
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def parse_requirements(name: str) -> list:
    """``name==version`` lines of requirements/<name> (comments and blanks dropped)."""
    with open(osp.join(ROOT, 'requirements', name)) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


def add_mim_extension(root: str = ROOT, symlink=None) -> str:
    """(Re)create ``<root>/mmadpd/.mim`` with ``MIM_FILES``; symlinks when ``symlink``
    (default: an editable/develop install), else copies. Returns the folder."""
    if symlink is None:
        symlink = any(cmd in sys.argv for cmd in ('develop', 'editable_wheel'))
    mim = osp.join(root, 'mmadpd', '.mim')
    os.makedirs(mim, exist_ok=True)
    for name in MIM_FILES:
        src, dst = osp.join(root, name), osp.join(mim, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if not osp.exists(src):
            continue
        if symlink:
            os.symlink(osp.relpath(src, mim), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)
    return mim


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmadpd',
        version='0.1.0',
        description='Anatomy-driven pathology detection (ADPD) on chest X-rays for '
                    'MMDetection 3.x',
        long_description=open(osp.join(ROOT, 'README.md'), encoding='utf-8').read(),
        long_description_content_type='text/markdown',
        license='Apache-2.0',
        python_requires='>=3.10',
        packages=find_packages(include=['mmadpd', 'mmadpd.*']),
        package_data={'mmadpd': ['data/*.csv', 'data/*.json', '.mim/model-index.yml',
                                 '.mim/configs/**/*.py', '.mim/configs/**/*.md',
                                 '.mim/configs/**/*.yml', '.mim/tools/**/*.py',
                                 '.mim/tools/**/*.sh']},
        include_package_data=True,
        install_requires=parse_requirements('runtime.txt'),
        extras_require={'tracking': parse_requirements('tracking.txt'),
                        'tests': parse_requirements('tests.txt')},
        zip_safe=False,
    )
