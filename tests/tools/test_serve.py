"""tools/serve.py: the viewer's API over HTTP, and the page end to end in headless Chromium.

One model (random-weight checkpoint of the synthetic config) is loaded for the module; the
server runs on a free loopback port in a thread. The browser test needs Debian's chromium
and chromium-driver (``make test-browser`` installs them and runs this file); without them
it is skipped, saying so.
"""
import json
import os
import os.path as osp
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest
from viewer_server import REPO, SYNTHETIC_CONFIG, import_serve, random_checkpoint, running

CHROMIUM, CHROMEDRIVER = '/usr/bin/chromium', '/usr/bin/chromedriver'
SCREENSHOT = osp.join(REPO, 'resources', 'viewer.png')
PATIENT_NAME = 'Doe^Jane'


@pytest.fixture(scope='module')
def serve():
    return import_serve()


@pytest.fixture(scope='module')
def viewer(serve, tmp_path_factory):
    ckpt = random_checkpoint(str(tmp_path_factory.mktemp('ckpt') / 'random.pth'))
    return serve.build_viewer('loc_adpd_synthetic', ckpt, device='cpu')


@pytest.fixture(scope='module')
def base_url(serve, viewer):
    with running(serve.create_app(viewer)) as url:
        yield url


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    """A phantom PNG, a frontal DICOM with a patient name, a lateral DICOM, a text file."""
    import cv2
    from cxr_files import write_dicom

    from mmadpd.datasets.synthetic.phantom import make_phantom

    folder = tmp_path_factory.mktemp('inputs')
    phantom = make_phantom(np.random.default_rng(3), 320, 384, 'PA', kinds=['effusion'])
    cv2.imwrite(str(folder / 'phantom.png'), phantom.image)
    stored = phantom.image.astype(np.uint16) * 16
    header = {'PatientName': PATIENT_NAME, 'PatientID': 'PID-480177',
              'ViewPosition': 'PA', 'PixelSpacing': [0.5, 0.5]}
    write_dicom(folder / 'frontal.dcm', stored, bits_stored=12, header=header)
    write_dicom(folder / 'lateral.dcm', stored, bits_stored=12,
                header=dict(header, ViewPosition='LL'))
    (folder / 'notes.png').write_text('not an image\n')
    return folder


def _post(url, path, name=None):
    name = name or osp.basename(path)
    with open(path, 'rb') as f:
        request = urllib.request.Request(
            f'{url}/api/analyse?name={urllib.parse.quote(name)}', data=f.read(),
            headers={'Content-Type': 'application/octet-stream'}, method='POST')
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_cli_defaults_to_loopback_and_finds_configs_by_name(serve):
    args = serve.parse_args(['loc_adpd_synthetic'])
    assert args.host == '127.0.0.1' and args.port == 8000 and args.checkpoint is None
    assert serve.resolve_config('loc_adpd_synthetic') == SYNTHETIC_CONFIG
    with pytest.raises(ValueError, match='config not found'):
        serve.resolve_config('no_such_config')
    assert serve.main(['no_such_config']) == 2  # a clear error, no server started
    assert serve.safe_upload_name('../../etc/x y.dcm') == 'x_y.dcm'
    assert serve.safe_upload_name('..') == 'upload'


def test_upload_is_one_inference_in_a_temporary_folder_with_the_inferencers_result(
        base_url, viewer, inputs, tmp_path, monkeypatch):
    calls = []
    forward = viewer.inferencer._forward
    monkeypatch.setattr(viewer.inferencer, '_forward',
                        lambda batch: calls.append(len(batch)) or forward(batch))
    monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path))
    status, raw = _post(base_url, inputs / 'phantom.png', name='../../phantom.png')
    assert status == 200 and calls == [1], raw
    assert os.listdir(tmp_path) == []  # the upload's folder is gone
    body = json.loads(raw)
    assert body['ok'] and body['name'] == 'phantom.png' and body['result']['image'] == 'phantom.png'
    for key in ('overlay', 'overlay_no_regions'):
        assert body[key].startswith('data:image/png;base64,iVBORw0KGgo')  # a PNG
    # the very JSON tools/infer.py writes for this file, but for the path it was read from
    direct = viewer.inferencer(str(inputs / 'phantom.png'))['predictions'][0]
    assert body['result']['pathologies'] == direct['pathologies']
    assert body['result']['regions'] == direct['regions']


def test_overlay_pair_differs_only_by_the_region_outlines(viewer):
    # the random model's regions all lie under its fused boxes, so draw a made-up result
    result = {'pathologies': [{'class': viewer.inferencer.class_names[0], 'score': 0.9,
                               'box': [10, 10, 30, 30],
                               'regions': [viewer.inferencer.region_names[0]]}],
              'regions': [{'box': [40, 5, 60, 60], 'present': True},
                          {'box': [5, 40, 30, 60], 'present': False}]}
    image = np.full((64, 64), 90, np.uint8)
    with_regions, without = viewer.inferencer.visualize(image, result)
    changed = np.abs(with_regions.astype(int) - without).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    scale = with_regions.shape[0] / 64
    # every changed pixel lies on the present region's outline (40..60, 5..60)
    assert changed.any() and xs.min() >= 39 * scale and ys.min() >= 4 * scale


def test_bad_files_get_the_inferencers_message_not_a_server_error(base_url, serve, viewer,
                                                                    inputs):
    status, raw = _post(base_url, inputs / 'notes.png')
    assert status == 422
    assert json.loads(raw)['error'].startswith('notes.png: not an image: unrecognised')
    status, raw = _post(base_url, inputs / 'lateral.dcm')
    assert status == 422 and 'lateral view refused (ViewPosition=LL)' in json.loads(raw)['error']
    assert PATIENT_NAME.encode() not in raw
    with running(serve.create_app(viewer, max_upload_mb=0.001)) as small:
        status, raw = _post(small, inputs / 'phantom.png')
    assert status == 413 and 'larger than' in json.loads(raw)['error']


def test_dicom_result_has_identifiers_and_mm_but_no_patient_name(base_url, inputs):
    status, raw = _post(base_url, inputs / 'frontal.dcm')
    assert status == 200
    result = json.loads(raw)['result']
    assert result['dicom']['ViewPosition'] == 'PA' and result['dicom']['SOPInstanceUID']
    assert result['pathologies'][0]['box_mm'] == [round(v * 0.5, 3)
                                                  for v in result['pathologies'][0]['box']]
    # everything but the overlay's base64 PNG, whose random letters can spell anything
    text = json.dumps({k: v for k, v in json.loads(raw).items()
                       if not (isinstance(v, str) and v.startswith('data:image/'))})
    assert len(text) > 1000 and 'frontal.dcm' in text
    for secret in ('Doe', 'Jane', 'PID-480177'):
        assert secret not in text


def _browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    # the background-networking flags keep Chromium off the (closed) network
    for flag in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                 '--disable-quic', '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync', '--window-size=1500,1050',
                 f'--user-data-dir={tmp_path / "chromium-profile"}'):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def _upload_and_wait(driver, path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("document.body.dataset.state = 'sent'")
    driver.find_element(By.ID, 'file').send_keys(str(path))
    WebDriverWait(driver, 120).until(
        lambda d: d.execute_script('return document.body.dataset.state') in ('done', 'error'))
    return driver.execute_script('return document.body.dataset.state')


def _column(driver, table, index=0):
    return driver.execute_script(
        'return Array.from(document.querySelectorAll(arguments[0] + " tbody tr"))'
        '.map((r) => r.cells[arguments[1]].textContent)', f'#{table}', index)


@pytest.mark.skipif(not (osp.exists(CHROMIUM) and osp.exists(CHROMEDRIVER)),
                    reason='needs Debian chromium + chromium-driver (/usr/bin/chromium, '
                           '/usr/bin/chromedriver): run `make test-browser`, which installs '
                           'them with apt-get and runs this file')
def test_page_in_headless_chromium(base_url, viewer, inputs, tmp_path):
    from pydicom.data import get_testdata_file
    from selenium.webdriver.common.by import By

    dicom = tmp_path / 'RG1_J2KI.dcm'  # a real CR chest PA, JPEG 2000 lossy
    shutil.copy(get_testdata_file('RG1_J2KI.dcm'), dicom)
    driver = _browser(tmp_path)
    try:
        driver.get(base_url + '/')
        assert driver.title == 'mmadpd viewer'
        for path in (inputs / 'phantom.png', dicom):
            assert _upload_and_wait(driver, path) == 'done'
            expected = viewer.inferencer(str(path))['predictions'][0]
            assert _column(driver, 'pathologies') == [p['class'] for p in
                                                      expected['pathologies']]
            assert _column(driver, 'regions') == [r['name'] for r in expected['regions']]
            assert driver.execute_script(
                'const img = document.getElementById("overlay");'
                'return img.complete && img.naturalWidth > 0')
        assert 'StudyInstanceUID' in driver.find_element(By.ID, 'dicom').text
        assert 'PixelSpacing' in driver.find_element(By.ID, 'warnings').text
        assert '.json' in driver.find_element(By.ID, 'download').get_attribute('download')

        overlay = driver.find_element(By.ID, 'overlay')
        assert overlay.get_attribute('data-regions') == 'on'
        driver.find_element(By.ID, 'toggle-regions').click()
        assert overlay.get_attribute('data-regions') == 'off'
        driver.find_element(By.ID, 'toggle-regions').click()
        assert overlay.get_attribute('data-regions') == 'on'
        driver.execute_script('window.scrollTo(0, 0)')
        driver.save_screenshot(str(tmp_path / 'viewer.png'))
        assert (tmp_path / 'viewer.png').stat().st_size > 10_000
        if os.environ.get('MMADPD_UPDATE_SCREENSHOT') == '1':
            shutil.copy(tmp_path / 'viewer.png', SCREENSHOT)

        assert _upload_and_wait(driver, inputs / 'notes.png') == 'error'
        assert driver.find_element(By.ID, 'error').text.startswith(
            'notes.png: not an image: unrecognised file signature')
    finally:
        driver.quit()
