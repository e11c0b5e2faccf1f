"""The benchmark's results file."""
from __future__ import annotations

import json
import os
import os.path as osp


def write_json(res, path, final=False):
    """Write the results so far (atomically): a run stopped by a time limit keeps every
    part it finished; ``complete`` says whether all requested parts ran."""
    if not path:
        return
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp'
    with open(tmp, 'w') as f:
        json.dump(dict(res, complete=final), f, indent=2)
    os.replace(tmp, path)


def mode_suffix(compile_mode):
    """Key suffix of a torch.compile mode: '' for the default mode, else '_' + the mode
    with '-' as '_' (``reduce-overhead`` -> ``_reduce_overhead``)."""
    return f'_{compile_mode.replace("-", "_")}' if compile_mode else ''


def result_suffix(compile, compile_mode=None):
    """Suffix of the result keys of a run: '' eager, '_compiled' with the default
    torch.compile mode, '_compiled_reduce_overhead' etc. with another mode (so a summary
    can hold the loop of each mode side by side)."""
    return f'_compiled{mode_suffix(compile_mode)}' if compile else ''
