"""Plot training curves and time training from mmengine's JSON scalar logs (mmdet's
``analyze_logs.py`` interface, for iteration-based runs).

    python tools/analysis_tools/analyze_logs.py plot_curve \
        WORK_DIR/<timestamp>/vis_data/scalars.json [more.json ...] \
        [--keys loss lr grad_norm cxr8/mAP] [--legend a b] [--title T] [--out curves.png]
    python tools/analysis_tools/analyze_logs.py cal_train_time scalars.json [--include-outliers]

mmdet's tool keys every record by ``epoch`` and skips the rest; mmadpd trains with
``IterBasedTrainLoop``, whose records carry ``step`` (= the iteration) instead. Here a
record is a training record when it has ``lr`` or a ``loss*`` key, else a validation record;
every curve is plotted against ``step``. Without ``--keys``: every ``loss*`` key, ``lr``,
``grad_norm`` and the validation ``<metric>/mAP`` keys found (e.g. ``cxr8/mAP``). One panel
per key (their scales differ by orders of magnitude); one line per log file.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Sequence, Tuple

import numpy as np

Series = Dict[str, Tuple[List[int], List[float]]]


def load_scalars(path: str) -> Dict[str, Series]:
    """``{'train': {key: (steps, values)}, 'val': {...}}`` from a JSON-lines log.

    Raises:
        ValueError: a line that is not a JSON object or has no ``step``/``iter`` (names
            the file and line).
    """
    out: Dict[str, Series] = {'train': {}, 'val': {}}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f'{path}:{n}: not a JSON line ({exc.msg})') from None
            step = record.get('step', record.get('iter')) if isinstance(record, dict) else None
            if step is None:
                raise ValueError(f'{path}:{n}: record without "step" or "iter"')
            mode = 'train' if 'lr' in record or any(k.startswith('loss') for k in record) \
                else 'val'
            for key, value in record.items():
                if key in ('step', 'iter', 'epoch') or not isinstance(value, (int, float)):
                    continue
                steps, values = out[mode].setdefault(key, ([], []))
                steps.append(int(step))
                values.append(float(value))
    return out


def default_keys(logs: Sequence[Dict[str, Series]]) -> List[str]:
    """Losses, lr, grad norm and overall validation mAPs present in any of ``logs``."""
    train = sorted({k for log in logs for k in log['train']})
    val = sorted({k for log in logs for k in log['val']})
    keys = [k for k in train if k.startswith('loss')]
    keys += [k for k in ('lr', 'grad_norm') if k in train]
    # the metric's overall mAP (``cxr8/mAP``), not its class groups (``cxr8/nih8/mAP``) or
    # the report hook's copies (``cxr8_val/mAP``)
    return keys + [k for k in val if k.count('/') == 1 and k.endswith('/mAP')
                   and not k.split('/')[0].endswith(('_val', '_test'))]


def find_series(log: Dict[str, Series], key: str):
    """(steps, values) of ``key``, training records first; None when absent."""
    return log['train'].get(key) or log['val'].get(key)


def plot_curves(logs: Sequence[Dict[str, Series]], keys: Sequence[str],
                legends: Sequence[str], out_file: str, title: str = '') -> str:
    """One panel per key, x = iteration; written as PNG (folders created)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 2.4 * len(keys)), dpi=100)
    FigureCanvasAgg(fig)
    first = None
    for i, key in enumerate(keys):
        ax = fig.add_subplot(len(keys), 1, i + 1, sharex=first)  # one iteration axis
        first = first or ax
        for log, legend in zip(logs, legends):
            series = find_series(log, key)
            if series is not None:
                ax.plot(*series, marker='o' if len(series[0]) < 20 else None,
                        markersize=3, label=legend)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        if len(logs) > 1:
            ax.legend(fontsize=8)
    fig.axes[-1].set_xlabel('iteration')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    fig.savefig(out_file)
    return out_file


def train_time_stats(log: Dict[str, Series], include_outliers: bool = False) -> Dict:
    """Per logged window the mean seconds per iteration (``time``); the first window is
    left out unless ``include_outliers`` (it holds start-up and the first data loads)."""
    series = log['train'].get('time')
    if not series or not series[0]:
        raise ValueError('no training "time" records')
    steps, times = np.asarray(series[0]), np.asarray(series[1])
    if not include_outliers and len(times) > 1:
        steps, times = steps[1:], times[1:]
    return dict(mean_s_per_iter=float(times.mean()), std_s_per_iter=float(times.std()),
                slowest=(int(steps[times.argmax()]), float(times.max())),
                fastest=(int(steps[times.argmin()]), float(times.min())),
                last_iter=int(np.asarray(series[0]).max()))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Analyse mmengine JSON scalar logs')
    sub = parser.add_subparsers(dest='task', required=True)
    plot = sub.add_parser('plot_curve', help='plot curves against the iteration')
    plot.add_argument('json_logs', nargs='+', help='scalars.json file(s)')
    plot.add_argument('--keys', nargs='+', help='keys to plot (default: losses, lr, '
                      'grad_norm, <metric>/mAP)')
    plot.add_argument('--legend', nargs='+', help='one name per log file')
    plot.add_argument('--title', default='')
    plot.add_argument('--out', default='curves.png', help='PNG to write')
    timing = sub.add_parser('cal_train_time', help='seconds per training iteration')
    timing.add_argument('json_logs', nargs='+', help='scalars.json file(s)')
    timing.add_argument('--include-outliers', action='store_true',
                        help='count the first logged window too')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        logs = [load_scalars(p) for p in args.json_logs]
        if args.task == 'plot_curve':
            keys = args.keys or default_keys(logs)
            missing = [k for k in keys if all(find_series(log, k) is None for log in logs)]
            if missing or not keys:
                raise ValueError(f'keys not in {", ".join(args.json_logs)}: '
                                 f'{missing or "nothing to plot"}')
            legends = args.legend or [osp.basename(osp.dirname(osp.dirname(osp.abspath(p))))
                                      for p in args.json_logs]
            if len(legends) != len(logs):
                raise ValueError(f'{len(legends)} legends for {len(logs)} logs')
            print(f'wrote {plot_curves(logs, keys, legends, args.out, args.title)} '
                  f'({", ".join(keys)})')
        else:
            for path, log in zip(args.json_logs, logs):
                stats = train_time_stats(log, args.include_outliers)
                print(f'{path}\n'
                      f'  slowest window: ending at iter {stats["slowest"][0]}, '
                      f'{stats["slowest"][1]:.4f} s/iter\n'
                      f'  fastest window: ending at iter {stats["fastest"][0]}, '
                      f'{stats["fastest"][1]:.4f} s/iter\n'
                      f'  time std over windows: {stats["std_s_per_iter"]:.4f} s\n'
                      f'  average: {stats["mean_s_per_iter"]:.4f} s/iter, '
                      f'{stats["mean_s_per_iter"] * stats["last_iter"] / 60:.1f} min '
                      f'for {stats["last_iter"]} iterations')
    except (OSError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
