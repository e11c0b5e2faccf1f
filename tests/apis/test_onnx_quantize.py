"""INT8 quantisation of the ONNX export (an opt-in speed layer, mmadpd/apis/onnx_quantize.py):
the model is quantised (QDQ convolutions), keeps the export's metadata and free batch,
records where it came from, runs in the inferencer with that record in every result, and
stays near the fp32 network (its accuracy is measured by benchmarks/int8_accuracy.py)."""
import json

import numpy as np
import onnx
import pytest
from apis_checkpoint import SYNTHETIC_CONFIG, load_tool


@pytest.fixture(scope='module')
def quantized(exported, random_ckpt, tmp_path_factory):
    fp32, images = exported
    out = str(tmp_path_factory.mktemp('int8') / 'new_folder' / 'model_int8.onnx')
    tool = load_tool('tools/deployment/quantize_onnx.py')
    assert tool.main([SYNTHETIC_CONFIG, random_ckpt, '--onnx', fp32, '--out', out,
                      '--images', *images, '--count', '3']) == 0
    return fp32, out, images


def test_quantized_model_keeps_the_contract_and_records_its_origin(quantized):
    import hashlib

    from mmadpd.apis.onnx_backend import OnnxRuntimeNetwork
    from mmadpd.apis.onnx_export import META_CLASSES, META_IMAGE_SIZE

    fp32, out, _ = quantized
    graph = onnx.load(out).graph
    convs = [n for n in graph.node if n.op_type == 'Conv']
    dequantized = {o for n in graph.node if n.op_type == 'DequantizeLinear' for o in n.output}
    # every convolution reads quantised activations and weights
    assert convs and all(n.input[0] in dequantized and n.input[1] in dequantized
                         for n in convs)
    meta = {p.key: p.value for p in onnx.load(out).metadata_props}
    source = {p.key: p.value for p in onnx.load(fp32).metadata_props}
    assert meta[META_IMAGE_SIZE] == source[META_IMAGE_SIZE] == '128'
    assert meta[META_CLASSES] == source[META_CLASSES]
    network = OnnxRuntimeNetwork(out)
    assert network.fixed_batch is None and network.input_channels == 1
    with open(fp32, 'rb') as f:
        assert network.quantization['source_sha256'] == hashlib.sha256(f.read()).hexdigest()
    assert network.quantization['calibration_images'] == 3
    assert OnnxRuntimeNetwork(fp32).quantization is None


def test_quantized_network_stays_near_fp32_and_results_say_int8(quantized, random_ckpt):
    import torch

    from mmadpd.apis import ADPDInferencer

    fp32, out, images = quantized
    ref = ADPDInferencer(SYNTHETIC_CONFIG, random_ckpt, backend='onnxruntime',
                         onnx_model=fp32)
    int8 = ADPDInferencer(SYNTHETIC_CONFIG, random_ckpt, backend='onnxruntime',
                          onnx_model=out)
    x = torch.rand(2, 1, 128, 128, generator=torch.Generator().manual_seed(3))
    (b0, p0, q0), (b1, p1, q1) = ref.network(x), int8.network(x)
    assert not torch.equal(b0, b1)  # it is a different network ...
    assert float((b0 - b1).abs().max()) < 0.02  # ... near the fp32 one (normalised boxes)
    assert float((q0 - q1).abs().max()) < 0.05
    result = int8(images)['predictions'][0]
    assert result['model']['onnx_model'] == out
    assert result['model']['onnx_quantization']['format'] == 'QDQ'
    assert ref(images)['predictions'][0]['model']['onnx_quantization'] is None
    assert {p['class'] for p in result['pathologies']}  # it still finds boxes


def test_quantizing_twice_and_bad_inputs_are_refused(quantized, random_ckpt, tmp_path,
                                                     capsys):
    from mmadpd.apis.onnx_quantize import quantize_network

    fp32, out, images = quantized
    with pytest.raises(ValueError, match='already quantised.*DequantizeLinear'):
        quantize_network(out, str(tmp_path / 'again.onnx'), np.zeros((1, 1, 128, 128)))
    with pytest.raises(ValueError, match='calibration inputs must be'):
        quantize_network(fp32, str(tmp_path / 'none.onnx'), np.zeros((0, 1, 128, 128)))
    with pytest.raises(ValueError, match='1-channel input.*3 channels'):
        quantize_network(fp32, str(tmp_path / 'rgb.onnx'), np.zeros((1, 3, 128, 128)))
    assert not list(tmp_path.glob('*.onnx'))  # nothing half-written

    tool = load_tool('tools/deployment/quantize_onnx.py')
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'not an image')
    assert tool.main([SYNTHETIC_CONFIG, random_ckpt, '--onnx', fp32, '--out',
                      str(tmp_path / 'x.onnx'), '--images', str(broken)]) == 2
    err = capsys.readouterr().err
    assert 'skipped' in err and 'broken.png' in err and 'no usable calibration image' in err
    assert tool.main([SYNTHETIC_CONFIG, random_ckpt, '--onnx', fp32, '--out', fp32,
                      '--images', *images]) == 2
    assert 'overwrite the fp32 model' in capsys.readouterr().err
    assert tool.main([SYNTHETIC_CONFIG, random_ckpt, '--onnx', out, '--out',
                      str(tmp_path / 'y.onnx'), '--images', *images]) == 2
    assert 'already quantised' in capsys.readouterr().err
    assert not list(tmp_path.glob('*.onnx'))


def test_calibration_sample_is_seeded_and_skips_what_cannot_be_read(exported, inferencer,
                                                                   tmp_path):
    from mmadpd.apis import expand_inputs
    from mmadpd.apis.onnx_quantize import calibration_inputs

    _, images = exported
    missing = str(tmp_path / 'missing.png')
    items = expand_inputs([*images, missing])
    a, skipped = calibration_inputs(inferencer, items, count=4, seed=1)
    assert a.shape == (3, 1, 128, 128) and a.dtype == np.float32
    assert [name for name, _ in skipped] == [missing]
    b, _ = calibration_inputs(inferencer, items, count=2, seed=1)
    c, _ = calibration_inputs(inferencer, items, count=2, seed=1)
    np.testing.assert_array_equal(b, c)
    assert len(b) == 2
    with pytest.raises(ValueError, match='at least 1'):
        calibration_inputs(inferencer, items, count=0)
    json.dumps(skipped)  # reasons are plain strings (printed by the tool)
