"""Folder expansion: recursive, sorted, by extension or DICOM marker."""
import numpy as np
from cxr_files import phantom_pixels, write_dicom

from mmadpd.apis.input_discovery import expand_inputs


def test_folders_are_expanded_recursively_in_sorted_order(tmp_path):
    root = tmp_path / 'study'
    for rel in ['b.PNG', 'a.jpg', 'notes.txt', '.hidden.png', 'sub/z.dcm', 'sub/c.jpeg',
                '.cache/x.png', 'sub/deeper/y.dicom']:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b'x')
    write_dicom(root / 'sub' / 'EXPORT0001', phantom_pixels(4, 4), bits_stored=8)
    (root / 'sub' / 'README').write_text('no extension, not DICOM')
    items = expand_inputs(str(root))
    names = [p.name[len(str(root)) + 1:] for p in items]
    assert names == ['a.jpg', 'b.PNG', 'sub/EXPORT0001', 'sub/c.jpeg', 'sub/z.dcm',
                     'sub/deeper/y.dicom']
    assert all(item.error is None and item.source == item.name for item in items)


def test_mixed_inputs_keep_their_order_and_report_empty_folders(tmp_path):
    (tmp_path / 'empty').mkdir()
    arrays = [np.zeros((4, 4), np.uint8), np.ones((5, 5), np.uint8)]
    items = expand_inputs([arrays[0], str(tmp_path / 'missing.png'),
                           str(tmp_path / 'empty'), arrays[1]])
    assert [i.name for i in items] == ['array_0000', str(tmp_path / 'missing.png'),
                                       str(tmp_path / 'empty'), 'array_0001']
    assert items[1].error is None  # the loader reports the missing file
    assert 'no PNG, JPEG or DICOM' in str(items[2].error)
    assert items[3].source is arrays[1]
