"""DICOM header fields in results: view guard, identifiers, spacing and mm boxes, privacy,
and PACS-style folders (extension-less and UID-named files)."""
import json
import shutil

import numpy as np
import pytest
from cxr_files import phantom_pixels, write_dicom
from pydicom.data import get_testdata_file

from mmadpd.apis.dicom_header import DicomInfo, box_to_mm, parse_spacing
from mmadpd.apis.input_discovery import expand_inputs
from mmadpd.apis.view_guard import classify_view, view_warnings

UIDS = {'StudyInstanceUID': '1.2.826.0.1.3680043.8.498.1',
        'SeriesInstanceUID': '1.2.826.0.1.3680043.8.498.2'}
PATIENT = {'PatientName': 'Doe^Jane', 'PatientID': 'PID-480177',
           'PatientBirthDate': '19371104', 'InstitutionName': 'St Elsewhere'}


def _info(view=None, orientation=None, laterality=None):
    return DicomInfo({}, view, orientation, laterality)


@pytest.mark.parametrize('view, orientation, kind', [
    ('PA', None, 'frontal'), ('AP', ('R', 'F'), 'frontal'),
    ('LL', None, 'lateral'), ('RL', None, 'lateral'), ('LATERAL', None, 'lateral'),
    ('XTABLE LATERAL', None, 'lateral'), ('LAO', None, 'unknown'),
    (None, ('A', 'F'), 'lateral'), (None, ('P', 'FL'), 'lateral'),
    (None, ('L', 'F'), 'frontal'), (None, None, 'unknown'),
    ('LL', ('L', 'F'), 'lateral'),  # ViewPosition decides when both are present
])
def test_view_is_classified_from_view_position_then_patient_orientation(
        view, orientation, kind):
    assert classify_view(_info(view, orientation))[0] == kind


def test_view_warnings_name_the_reason_and_allow_views_overrides():
    from mmadpd.apis.errors import ImageLoadError

    with pytest.raises(ImageLoadError, match=r'x.dcm: lateral view refused \(ViewPosition=LL'):
        view_warnings(_info('LL'), 'x.dcm')
    assert 'allowed' in view_warnings(_info('LL'), 'x.dcm', allow_views=['ll'])[0]
    assert view_warnings(_info(None, ('A', 'F')), 'x.dcm', allow_views=['all'])
    with pytest.raises(ImageLoadError):  # allowing RL does not allow LL
        view_warnings(_info('LL'), 'x.dcm', allow_views=['RL'])
    assert view_warnings(_info('PA'), 'x.dcm') == []
    assert 'processed as PA/AP' in view_warnings(_info(), 'x.dcm')[0]
    assert 'one-sided' in view_warnings(_info('PA', None, 'R'), 'x.dcm')[0]
    assert view_warnings(None, 'x.png') == []


def test_spacing_parsing_and_mm_boxes_use_rows_for_y_and_columns_for_x():
    assert parse_spacing(['0.2', '0.1']) == ((0.2, 0.1), '')
    for bad in (['0.000', '0.000'], ['0.1'], ['a', '0.1'], [-1, 1], ['inf', 1]):
        assert parse_spacing(bad)[0] is None
    # row spacing 0.2 mm (y), column spacing 0.1 mm (x)
    assert box_to_mm([10, 20, 30, 40], (0.2, 0.1)) == [1.0, 4.0, 3.0, 8.0]


def test_lateral_refused_frontal_gets_uids_spacing_and_mm_boxes(tmp_path, inferencer,
                                                                 monkeypatch):
    pixels = phantom_pixels(60, 50, seed=7, max_value=4095)
    write_dicom(tmp_path / 'pa.dcm', pixels, bits_stored=12, header=dict(
        UIDS, ViewPosition='PA', ImagerPixelSpacing=[0.2, 0.1], PatientOrientation=['L', 'F']))
    write_dicom(tmp_path / 'lat.dcm', pixels, bits_stored=12,
                header={'ViewPosition': 'LL', 'PixelSpacing': [0.1, 0.1]})
    write_dicom(tmp_path / 'unknown.dcm', pixels, bits_stored=12,
                header={'PixelSpacing': ['0.000', '0.000'], 'ImagerPixelSpacing': [0.3, 0.3]})
    out = inferencer([str(tmp_path / n) for n in ('pa.dcm', 'lat.dcm', 'unknown.dcm')],
                     on_error='skip')
    assert out['failures'] == [{'input': str(tmp_path / 'lat.dcm'), 'reason':
                                out['failures'][0]['reason']}]
    assert out['failures'][0]['reason'].startswith('lateral view refused (ViewPosition=LL)')

    pa, unknown = out['predictions']
    dicom = pa['dicom']
    assert {k: dicom[k] for k in UIDS} == UIDS and dicom['SOPInstanceUID']
    assert dicom['ViewPosition'] == 'PA' and dicom['PatientOrientation'] == ['L', 'F']
    assert dicom['pixel_spacing_mm'] == [0.2, 0.1]
    assert dicom['pixel_spacing_source'] == 'ImagerPixelSpacing'
    assert pa['warnings'] == [] and pa['pathologies']
    for entry in pa['pathologies'] + pa['regions']:
        x1, y1, x2, y2 = entry['box']
        np.testing.assert_allclose(entry['box_mm'], [x1 * 0.1, y1 * 0.2, x2 * 0.1, y2 * 0.2],
                                   atol=1e-3)
    # a zero PixelSpacing (seen in real CR files) falls back to ImagerPixelSpacing, noted
    assert unknown['dicom']['pixel_spacing_mm'] == [0.3, 0.3]
    assert any('view not known' in w for w in unknown['warnings'])
    assert any('PixelSpacing' in w and 'ignored' in w for w in unknown['warnings'])

    monkeypatch.setattr(inferencer, 'allow_views', ('LL',))
    allowed = inferencer(str(tmp_path / 'lat.dcm'))['predictions'][0]
    assert allowed['dicom']['ViewPosition'] == 'LL' and 'allowed' in allowed['warnings'][0]


def test_patient_identity_never_reaches_any_output_file(tmp_path, inferencer):
    pixels = phantom_pixels(48, 40, seed=8, max_value=4095)
    (tmp_path / 'in').mkdir()
    write_dicom(tmp_path / 'in' / 'study.dcm', pixels, bits_stored=12,
                header=dict(PATIENT, ViewPosition='AP', PixelSpacing=[0.15, 0.15]))
    write_dicom(tmp_path / 'in' / 'lateral.dcm', pixels, bits_stored=12,
                header=dict(PATIENT, ViewPosition='RL'))
    raw = (tmp_path / 'in' / 'study.dcm').read_bytes()
    assert b'Doe^Jane' in raw and b'PID-480177' in raw  # the input does carry them
    out_dir = tmp_path / 'out'
    result = inferencer(str(tmp_path / 'in'), out_dir=str(out_dir), on_error='skip')
    assert len(result['predictions']) == 1 and len(result['failures']) == 1
    written = sorted(p for p in out_dir.rglob('*') if p.is_file())
    assert {p.suffix for p in written} == {'.json', '.png', '.csv'}
    text = b''.join(p.read_bytes() for p in written) + json.dumps(result).encode()
    for value in PATIENT.values():
        for part in value.split('^'):
            assert part.encode() not in text, f'{part} leaked into an output'


def test_pacs_folder_without_extensions_is_found_by_the_dicm_marker(tmp_path):
    export = tmp_path / 'export' / 'S0001'
    export.mkdir(parents=True)
    shutil.copy(get_testdata_file('MR_small.dcm'), export / 'IM000001')
    shutil.copy(get_testdata_file('CT_small.dcm'), export / '1.3.6.1.4.1.5962.1.1.1')
    shutil.copy(get_testdata_file('MR_small.dcm'), tmp_path / 'export' / 'DICOMDIR')
    (export / 'VERSION').write_text('1.0')
    (export / 'notes.1').write_text('a UID-like name but not DICOM')
    found = [item.name for item in expand_inputs(str(tmp_path / 'export'))]
    assert found == [str(export / '1.3.6.1.4.1.5962.1.1.1'), str(export / 'IM000001')]


def test_infer_tool_passes_allow_views_to_the_inferencer():
    import importlib.util
    import os.path as osp

    from apis_checkpoint import REPO

    spec = importlib.util.spec_from_file_location('infer_tool',
                                                  osp.join(REPO, 'tools', 'infer.py'))
    infer_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(infer_tool)
    args = infer_tool.parse_args(['c.py', 'k.pth', 'a.dcm', '--allow-views', 'LL', 'RL',
                                  '--out-dir', 'out'])
    assert args.allow_views == ['LL', 'RL'] and args.inputs == ['a.dcm']
    assert infer_tool.parse_args(['c.py', 'k.pth', 'a.dcm', '--out-dir', 'o']).allow_views == ()
