"""Helpers of the ImaGenome converter tests: a small clean phantom, the CLI run in-process,
and the record accounting every run must satisfy."""
import gzip
import importlib.util
import json
import os
import os.path as osp
import shutil

from mmadpd.datasets.synthetic import generate_dataset

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'dataset_converters', 'imagenome_to_coco.py')
#: 14 clean MIMIC-style images (one of them gold), 64 px: a conversion takes ~0.1 s
SMALL = dict(seed=1, num_train=10, num_val=2, num_test=2, num_cxr8=0, size=64,
             defect_rate=0.0)


def run_tool(argv):
    """``imagenome_to_coco.main(argv)`` in this process (its exit status)."""
    spec = importlib.util.spec_from_file_location('imagenome_to_coco_tool', TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main(argv)


class Layout:
    """Paths of a phantom root in the real on-disk layout."""

    def __init__(self, root):
        self.root = str(root)
        self.silver = osp.join(self.root, 'chest-imagenome', 'silver_dataset')
        self.graphs = osp.join(self.silver, 'scene_graph')
        self.zip = self.graphs + '.zip'
        self.splits = osp.join(self.silver, 'splits')
        self.mimic = osp.join(self.root, 'mimic-cxr-jpg')
        self.metadata = osp.join(self.mimic, 'mimic-cxr-2.0.0-metadata.csv')
        self.mimic_split = osp.join(self.mimic, 'mimic-cxr-2.0.0-split.csv.gz')

    def args(self, out, *extra, scene_graphs=None):
        return ['--scene-graphs', scene_graphs or self.graphs, '--splits-dir', self.splits,
                '--images-root', self.mimic, '--metadata', self.metadata,
                '--out-dir', str(out), '--workers', '1', '--no-progress', *extra]

    def graph_path(self, dicom):
        return osp.join(self.graphs, f'{dicom}_SceneGraph.json')

    def load_graph(self, dicom):
        with open(self.graph_path(dicom)) as f:
            return json.load(f)

    def save_graph(self, dicom, graph):
        with open(self.graph_path(dicom), 'w') as f:
            json.dump(graph, f)

    def mimic_split_lines(self):
        with gzip.open(self.mimic_split, 'rt', newline='') as f:
            return f.read().splitlines()

    def write_mimic_split_lines(self, lines):
        with gzip.open(self.mimic_split, 'wt', newline='') as f:
            f.write('\n'.join(lines) + '\n')

    def train_dicoms(self):
        """Dicom ids of the MIMIC split's train rows that are not gold, in file order."""
        with open(osp.join(self.splits, 'images_to_avoid.csv')) as f:
            gold = {line.split(',')[2] for line in f.read().splitlines()[1:]}
        return [line.split(',')[0] for line in self.mimic_split_lines()[1:]
                if line.endswith(',train') and line.split(',')[0] not in gold]


def make_small_phantom(root):
    generate_dataset(str(root), **SMALL)
    return Layout(root)


def copy_phantom(src: Layout, dst) -> Layout:
    shutil.copytree(src.root, str(dst), symlinks=True)
    return Layout(dst)


def read_report(out):
    path = osp.join(str(out), 'imagenome_skipped.json')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def assert_accounted(report):
    """Every record read is kept or skipped under exactly one reason."""
    kept = sum(report['kept'].values())
    skipped = sum(v['count'] for v in report['skipped'].values())
    assert report['total'] == kept + skipped, report
    assert report['total'] == sum(report['records'].values())
    for entry in report['skipped'].values():
        assert entry['count'] == len(entry['ids'])


def strict_json(path):
    """Load a JSON file, failing on NaN/Infinity (not JSON, though Python writes them)."""
    def no_constant(name):
        raise ValueError(f'{path}: {name} in the output')
    with open(path) as f:
        return json.load(f, parse_constant=no_constant)


def output_files(out):
    return {n: open(osp.join(str(out), n), 'rb').read() for n in sorted(os.listdir(str(out)))
            if n.startswith('imagenome_') and n.endswith('.json') and 'skipped' not in n}
