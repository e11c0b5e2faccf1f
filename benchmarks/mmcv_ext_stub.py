"""Stand-in for mmcv's compiled ops module (``mmcv._ext``) on the lent GPU machine.

ADPD calls none of mmcv's compiled ops (it uses mmcv's pure-Python bricks: DropPath, FFN,
LayerScale), but mmdet imports ``mmcv.ops`` at import time, and every ``mmcv.ops`` module
looks its kernels up in ``mmcv._ext``. Building them on the device costs about two of the
session's 15 GPU minutes, so ``benchmarks/run_gpu.sh`` copies this file to
``<mmcv source>/mmcv/_ext.py`` instead (``BUILD_MMCV_OPS=1`` builds the real ops).

Any op that WOULD run raises at once, naming itself: a stub can never produce a number.
"""


def get_compiler_version() -> str:
    return 'not built (benchmarks/mmcv_ext_stub.py)'


def get_compiling_cuda_version() -> str:
    return 'not built (benchmarks/mmcv_ext_stub.py)'


def __getattr__(name: str):
    if name.startswith('__'):
        raise AttributeError(name)

    def op(*args, **kwargs):
        raise NotImplementedError(
            f'mmcv op {name!r} was called, but mmcv._ext is the stub of '
            'benchmarks/mmcv_ext_stub.py; rerun benchmarks/run_gpu.sh with BUILD_MMCV_OPS=1')

    op.__name__ = name
    return op
