"""The memory-mapped annotation cache of ImaGenomeDataset (cache_dir)."""
import json
import os

import numpy as np
import pytest
import torch
from mmdet.registry import DATASETS

import mmadpd  # noqa: F401  (registers the datasets)
from mmadpd.datasets import ImaGenomeDataset
from mmadpd.datasets.serialized_cache import load_serialized, save_serialized

from test_datasets import imagenome_json


def build(tmp_path, cache_dir, **kw):
    return DATASETS.build(dict(type='ImaGenomeDataset', data_root=str(tmp_path),
                               ann_file='imagenome_train.json', data_prefix=dict(img='im/'),
                               pipeline=[], cache_dir=cache_dir, **kw))


def infos(ds):
    return [ds.get_data_info(i) for i in range(len(ds))]


def forbid_parsing(monkeypatch):
    def fail(self):
        raise AssertionError('the annotation file was parsed although a cache exists')
    monkeypatch.setattr(ImaGenomeDataset, 'load_data_list', fail)


def test_second_build_memory_maps_the_cache_and_gives_the_same_items(tmp_path, monkeypatch):
    imagenome_json(tmp_path / 'imagenome_train.json')
    cache = tmp_path / 'cache'
    reference = infos(build(tmp_path, None))
    first = build(tmp_path, str(cache))
    assert infos(first) == reference
    files = sorted(os.listdir(cache))
    assert len(files) == 3 and all(f.startswith('imagenome_train-') for f in files)
    # the two arrays and the (empty) lock file the builders take turns on
    assert {f.split('.', 1)[1] for f in files} == {'address.npy', 'bytes.npy', 'lock'}

    forbid_parsing(monkeypatch)
    second = build(tmp_path, str(cache))
    assert isinstance(second.data_bytes, np.memmap)  # mapped, not read into memory
    assert len(second) == 2 and infos(second) == reference
    # indices select from the cached items exactly as from parsed ones (own cache key)
    monkeypatch.undo()
    sub = build(tmp_path, str(cache), indices=[1])
    assert infos(sub) == [dict(reference[1], sample_idx=0)]
    assert len(os.listdir(cache)) == 6


def test_a_changed_annotation_file_is_parsed_again(tmp_path):
    coco = imagenome_json(tmp_path / 'imagenome_train.json')
    cache = str(tmp_path / 'cache')
    build(tmp_path, cache)
    coco['annotations'][0]['bbox'] = [11.5, 20, 30, 40]
    (tmp_path / 'imagenome_train.json').write_text(json.dumps(coco))
    ds = build(tmp_path, cache)
    assert ds.get_data_info(0)['instances'][0]['bbox'] == [11.5, 20, 41.5, 60]


def test_cache_works_with_dataloader_workers(tmp_path):
    imagenome_json(tmp_path / 'imagenome_train.json')
    cache = str(tmp_path / 'cache')
    build(tmp_path, cache)
    ds = build(tmp_path, cache)

    class Ids(torch.utils.data.Dataset):
        def __len__(self):
            return len(ds)

        def __getitem__(self, i):
            return ds.get_data_info(i)['img_id']

    loader = torch.utils.data.DataLoader(Ids(), batch_size=1, num_workers=2)
    assert sorted(int(b) for b in loader) == [1, 2]


def test_unwritable_cache_dir_warns_and_the_dataset_still_loads(tmp_path):
    imagenome_json(tmp_path / 'imagenome_train.json')
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a folder')
    ds = build(tmp_path, str(blocker / 'cache'))
    assert len(ds) == 2 and ds.get_data_info(1)['img_id'] == 2


def test_truncated_or_mismatched_cache_is_rebuilt(tmp_path):
    imagenome_json(tmp_path / 'imagenome_train.json')
    cache = tmp_path / 'cache'
    reference = infos(build(tmp_path, str(cache)))
    bytes_file = next(p for p in cache.iterdir() if p.name.endswith('.bytes.npy'))
    data = np.load(bytes_file)
    np.save(bytes_file, data[:-5])  # valid .npy, but shorter than the addresses say
    assert infos(build(tmp_path, str(cache))) == reference
    assert len(np.load(bytes_file)) == len(data)  # rewritten
    bytes_file.write_bytes(b'garbage')  # not even a .npy file
    assert infos(build(tmp_path, str(cache))) == reference


def test_save_and_load_round_trip_and_reject_inconsistent_arrays(tmp_path):
    stem = str(tmp_path / 'x')
    data = np.arange(10, dtype=np.uint8)
    address = np.array([3, 7, 10], dtype=np.int64)
    assert save_serialized(stem, data, address)
    got_data, got_address = load_serialized(stem)
    np.testing.assert_array_equal(got_data, data)
    np.testing.assert_array_equal(got_address, address)
    assert not [p for p in os.listdir(tmp_path) if '.tmp-' in p]  # no leftovers
    assert save_serialized(stem, data, np.array([3, 3, 10], dtype=np.int64))
    assert load_serialized(stem) is None  # an empty item cannot be a pickle
    assert load_serialized(str(tmp_path / 'missing')) is None


def test_no_cache_dir_changes_nothing(tmp_path):
    imagenome_json(tmp_path / 'imagenome_train.json')
    ds = build(tmp_path, None)
    assert not isinstance(ds.data_bytes, np.memmap)
    assert sorted(os.listdir(tmp_path)) == ['imagenome_train.json']


def test_missing_annotation_file_keeps_its_helpful_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='imagenome_train.json.*imagenome_to_coco'):
        build(tmp_path, str(tmp_path / 'cache'))


def _build_in_child(root, cache, log, out):
    """Child process: count this process's parses in ``log``, then report its items."""
    import time as _time
    original = ImaGenomeDataset.load_data_list

    def counted(self):
        with open(log, 'a') as f:
            f.write(f'{os.getpid()}\n')
        _time.sleep(0.5)  # the others arrive while this one still parses
        return original(self)

    ImaGenomeDataset.load_data_list = counted
    from pathlib import Path
    ds = build(Path(root), cache)
    with open(out, 'w') as f:
        json.dump([ds.get_data_info(i)['img_id'] for i in range(len(ds))], f)


def test_processes_starting_together_parse_once(tmp_path):
    """Like the ranks of a DDP run: one process parses and writes the cache while the
    others wait on the lock, then map it."""
    import multiprocessing
    imagenome_json(tmp_path / 'imagenome_train.json')
    ctx = multiprocessing.get_context('fork')
    log = str(tmp_path / 'parses.log')
    procs = [ctx.Process(target=_build_in_child,
                         args=(str(tmp_path), str(tmp_path / 'cache'), log,
                               str(tmp_path / f'out{i}.json'))) for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with open(log) as f:
        assert len(f.read().split()) == 1
    for i in range(3):
        assert json.loads((tmp_path / f'out{i}.json').read_text()) == [1, 2]


def test_editing_the_dataset_code_invalidates_the_cache(tmp_path, monkeypatch):
    import mmadpd.datasets.serialized_cache as sc
    imagenome_json(tmp_path / 'imagenome_train.json')
    cache = str(tmp_path / 'cache')
    build(tmp_path, cache)
    forbid_parsing(monkeypatch)
    build(tmp_path, cache)  # same code: mapped
    monkeypatch.setattr(sc, '_module_digest', lambda cls: 'edited')
    with pytest.raises(AssertionError, match='parsed although'):
        build(tmp_path, cache)  # a new key: the file must be parsed again
