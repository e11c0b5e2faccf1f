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
