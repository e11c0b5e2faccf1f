"""The benchmark's results file."""
from __future__ import annotations

import json
import os
import os.path as osp
import re


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


# result-key suffix of the eager steps with model.graph_heads (benchmark.py --graph-heads)
GRAPH_HEADS = '_graph_heads'


def compile_variant(compile_mode=None, compile_options=None):
    """Name of a torch.compile setting in result keys: the mode, else the names of the
    inductor options (``{'cpp_wrapper': True}`` -> ``'cpp_wrapper'``), else None (torch's
    default mode)."""
    if compile_mode:
        return compile_mode
    return '_'.join(sorted(compile_options)) if compile_options else None


def compile_kwargs(args):
    """The CLI's --compile-mode / --compile-options as ``torch.compile`` keywords (torch
    takes one of the two)."""
    kwargs = dict(mode=args.compile_mode, options=getattr(args, 'compile_options', None))
    return {k: v for k, v in kwargs.items() if v}


def mode_suffix(compile_mode):
    """Key suffix of a torch.compile mode or :func:`compile_variant`: '' for the default
    mode, else '_' + the name with '-' and '.' as '_' (``reduce-overhead`` ->
    ``_reduce_overhead``)."""
    return f'_{re.sub(r"[-.]", "_", compile_mode)}' if compile_mode else ''


def result_suffix(compile, compile_mode=None):
    """Suffix of the result keys of a run: '' eager, '_compiled' with the default
    torch.compile mode, '_compiled_reduce_overhead' etc. with another mode or variant
    (:func:`compile_variant`; so a summary can hold the loop of each side by side)."""
    return f'_compiled{mode_suffix(compile_mode)}' if compile else ''
