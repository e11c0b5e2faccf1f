"""tools/analysis_tools/dataset_load_benchmark.py: the scaled file is a valid converter
output of the requested size, and the dataset built from it in a fresh process has it."""
import json
import os.path as osp
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis_tools'))

import dataset_load_benchmark as dlb  # noqa: E402


def test_scaled_file_repeats_images_with_new_ids(phantom_root, tmp_path):
    src_path = osp.join(phantom_root, 'imagenome_coco', 'imagenome_train.json')
    with open(src_path) as f:
        src = json.load(f)
    n = 2 * len(src['images']) + 1
    num_anns = dlb.write_scaled(src, n, str(tmp_path / 'big.json'))
    with open(tmp_path / 'big.json') as f:
        big = json.load(f)
    assert [im['id'] for im in big['images']] == list(range(1, n + 1))
    assert len(big['annotations']) == num_anns
    assert [a['id'] for a in big['annotations']] == list(range(1, num_anns + 1))
    per_src = {}
    for a in src['annotations']:
        per_src[a['image_id']] = per_src.get(a['image_id'], 0) + 1
    k = len(src['images'])
    expected = sum(per_src.get(src['images'][i % k]['id'], 0) for i in range(n))
    assert num_anns == expected
    # the copy of image i has the regions of source image i % k
    first = src['images'][0]
    copy_of_first = big['images'][k]
    assert copy_of_first['file_name'] == first['file_name']
    boxes = sorted(a['bbox'] for a in big['annotations'] if a['image_id'] == k + 1)
    assert boxes == sorted(a['bbox'] for a in src['annotations']
                           if a['image_id'] == first['id'])
    assert big['categories'] == src['categories'] and big['pathologies'] == src['pathologies']
    with pytest.raises(ValueError, match='--images'):
        dlb.write_scaled(src, 0, str(tmp_path / 'none.json'))


def test_tool_builds_the_dataset_in_a_fresh_process(phantom_root, tmp_path):
    src_path = osp.join(phantom_root, 'imagenome_coco', 'imagenome_train.json')
    res = dlb.main([src_path, '--images', '50', '--work-dir', str(tmp_path),
                    '--cache-dir', str(tmp_path / 'cache'), '--out', str(tmp_path / 'load.json')])
    assert res['images'] == 50 and res['annotations'] > 50
    assert res['load_s'] > 0 and res['peak_rss_gb'] >= res['rss_before_gb'] > 0
    # with --cache-dir: a build that writes the cache, then one that maps it
    assert res['cache_write_images'] == res['cached_images'] == 50
    assert res['cache_gb'] > 0
    assert len(list((tmp_path / 'cache').glob('*.npy'))) == 2
    assert json.loads((tmp_path / 'load.json').read_text()) == res
    assert not (tmp_path / 'imagenome_scaled_50.json').exists()  # removed without --keep
