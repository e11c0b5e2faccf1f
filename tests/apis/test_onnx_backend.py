"""ONNX export + ONNX Runtime backend: the same network outputs (1e-4) and the same
pathology boxes as the torch path, on phantom chest X-rays (issue 26, acceptance 2).
The export (the slow part) runs once per session: the ``exported`` fixture (conftest)."""
import json

import numpy as np
import pytest
import torch
from apis_checkpoint import SYNTHETIC_CONFIG, load_tool


def test_network_outputs_match_torch_within_1e4(exported, random_ckpt):
    from mmadpd.apis import ADPDInferencer
    from mmadpd.apis.onnx_export import ADPDNetwork

    onnx_path, images = exported
    torch_inf = ADPDInferencer(SYNTHETIC_CONFIG, random_ckpt, device='cpu')
    onnx_inf = ADPDInferencer(SYNTHETIC_CONFIG, random_ckpt, backend='onnxruntime',
                              onnx_model=onnx_path)
    from mmengine.dataset import pseudo_collate

    from mmadpd.apis.input_discovery import expand_inputs
    batch = [torch_inf._prepare(torch_inf._load(item), item, i)
             for i, item in enumerate(expand_inputs(images))]
    inputs = torch_inf.model.data_preprocessor(pseudo_collate(batch), False)['inputs']
    with torch.no_grad():
        reference = ADPDNetwork(torch_inf.model)(inputs)
    # --dynamic-batch from a batch-1 example: the batch must stay free (torch.export would
    # make a size-1 dimension a constant) and 3 images run in ONE session call
    assert onnx_inf.network.fixed_batch is None
    assert onnx_inf.network.session.get_inputs()[0].shape[0] == 'batch'
    for ref, got in zip(reference, onnx_inf.network(inputs)):  # batch 3, dynamic batch
        assert ref.shape == got.shape
        assert float((ref - got).abs().max()) < 1e-4

    ref_results = torch_inf(images)['predictions']
    onnx_results = onnx_inf(images)['predictions']
    num_boxes = 0
    for ref, got in zip(ref_results, onnx_results):
        # the same classes fused from the same regions (the order of regions and of classes
        # follows the scores, which this saturated random model ties up to float noise)
        ref_boxes = {p['class']: p for p in ref['pathologies']}
        got_boxes = {p['class']: p for p in got['pathologies']}
        assert set(ref_boxes) == set(got_boxes)
        for name, p in ref_boxes.items():
            q = got_boxes[name]
            assert sorted(p['regions']) == sorted(q['regions'])
            np.testing.assert_allclose(p['box'], q['box'], atol=2e-3)  # px, rounded to 1e-3
            assert abs(p['score'] - q['score']) < 1e-4
        num_boxes += len(ref_boxes)
    assert num_boxes > 0 and got['model']['backend'] == 'onnxruntime'


@pytest.mark.parametrize('stride,padding', [(2, 3), (1, 0), (1, 2)])
def test_grey_fold_equals_the_convolution_of_the_repeated_channel(stride, padding):
    from torch import nn

    from mmadpd.apis.onnx_export import fold_grey_input

    conv = nn.Conv2d(3, 8, 5, stride=stride, padding=padding, bias=True)
    x = torch.randn(2, 1, 23, 19, generator=torch.Generator().manual_seed(1))
    grey = fold_grey_input(conv)
    assert grey.weight.shape == (8, 1, 5, 5) and conv.weight.shape == (8, 3, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(grey(x), conv(x.expand(-1, 3, -1, -1)),
                                   atol=1e-5, rtol=1e-5)


def test_default_export_takes_the_grey_channel_and_refuses_colour(exported):
    from mmadpd.apis.onnx_backend import OnnxRuntimeNetwork

    network = OnnxRuntimeNetwork(exported[0])
    assert network.input_channels == 1
    grey = torch.rand(1, 1, 128, 128)
    for a, b in zip(network(grey.expand(-1, 3, -1, -1)), network(grey)):
        assert torch.equal(a, b)
    colour = grey.expand(-1, 3, -1, -1).clone()
    colour[:, 2] += 0.5
    with pytest.raises(ValueError, match='model.onnx.*grey.*--input-channels 3'):
        network(colour)


def test_onnxruntime_runs_hold_torch_to_one_thread(exported, random_ckpt):
    from mmadpd.apis import ADPDInferencer

    onnx_inf = ADPDInferencer(SYNTHETIC_CONFIG, random_ckpt, backend='onnxruntime',
                              onnx_model=exported[0])
    torch_inf = ADPDInferencer(SYNTHETIC_CONFIG, random_ckpt, device='cpu')
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with onnx_inf.run_threads():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with torch_inf.run_threads():  # the torch network keeps the user's threads
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_three_channel_torchscript_export_matches_torch(random_ckpt, tmp_path):
    from mmadpd.apis import ADPDInferencer
    from mmadpd.apis.onnx_backend import OnnxRuntimeNetwork
    from mmadpd.apis.onnx_export import ADPDNetwork

    onnx_path = str(tmp_path / 'rgb.onnx')
    export = load_tool('tools/deployment/pytorch2onnx.py')
    assert export.main([SYNTHETIC_CONFIG, random_ckpt, '--out', onnx_path, '--exporter',
                        'torchscript', '--input-channels', '3', '--no-verify']) == 0
    network = OnnxRuntimeNetwork(onnx_path)
    assert network.input_channels == 3 and network.fixed_batch == 1
    x = torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(2))
    model = ADPDInferencer(SYNTHETIC_CONFIG, random_ckpt, device='cpu').model
    with torch.no_grad():
        reference = ADPDNetwork(model)(x)
    for ref, got in zip(reference, network(x)):  # channels differ: the stem sees all three
        assert float((ref - got).abs().max()) < 1e-4


def test_infer_tool_with_onnxruntime_backend(exported, random_ckpt, tmp_path):
    onnx_path, images = exported
    infer = load_tool('tools/infer.py')
    out = tmp_path / 'out'
    assert infer.main([SYNTHETIC_CONFIG, random_ckpt, *images, '--out-dir', str(out),
                       '--backend', 'onnxruntime', '--onnx-model', onnx_path,
                       '--workers', '0', '--no-overlay', '--batch-size', '2']) == 0
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['num_ok'] == 3 and not list(out.glob('*.png'))
    assert json.loads((out / 'phantom_1.json').read_text())['width'] == 300


def test_missing_onnx_file_is_named(random_ckpt, tmp_path):
    from mmadpd.apis import ADPDInferencer

    missing = str(tmp_path / 'nothing.onnx')
    with pytest.raises(FileNotFoundError, match='nothing.onnx.*pytorch2onnx'):
        ADPDInferencer(SYNTHETIC_CONFIG, random_ckpt, backend='onnxruntime',
                       onnx_model=missing)
