"""Static INT8 quantisation of an exported ADPD network, for ONNX Runtime on the CPU.

An opt-in speed layer beside the fp32 export (:mod:`.onnx_export`), not a replacement:
the fp32 network is the one held to the torch model within 1e-4; an INT8 network gives
different numbers, so its accuracy is measured, not assumed
(``benchmarks/int8_accuracy.py``), and every result it produces says it came from it
(``model.onnx_quantization`` in the result JSON).

The scheme is ONNX Runtime's own (``onnxruntime.quantization.quantize_static``): QDQ
format, the convolutions only (the backbone, where the network's CPU time goes; the
decoder's matrix products stay fp32), weights int8 per output channel, activations uint8
with MinMax ranges from calibration images run through the model's own preprocessing. On x86 CPUs
without AVX512-VNNI (or AVX-VNNI) ONNX Runtime's uint8 x int8 kernels can saturate; such
a CPU should be measured before an INT8 model is used there (ONNX Runtime's quantisation
documentation, "reduce_range").
"""
from __future__ import annotations

import json
import os
import os.path as osp
import tempfile
from typing import Dict, Iterable, Optional, Sequence

import numpy as np

from .calibration import file_sha256
from .onnx_export import ONNX_INPUT

META_QUANTIZATION = 'mmadpd.quantization'
QUANTIZED_OPS = ('Conv',)
# node types that only a quantised graph has (QDQ and QOperator formats)
QUANTIZED_NODE_TYPES = ('QuantizeLinear', 'DequantizeLinear', 'QLinearConv', 'ConvInteger',
                        'QLinearMatMul', 'MatMulInteger')


def quantization_of(metadata: Dict[str, str]) -> Optional[Dict]:
    """The quantisation record of an ONNX model's metadata map, or None (fp32)."""
    value = metadata.get(META_QUANTIZATION)
    return json.loads(value) if value else None


class _Calibration:
    """``onnxruntime.quantization.CalibrationDataReader`` over a list of inputs."""

    def __init__(self, inputs: Iterable[np.ndarray]) -> None:
        self._inputs = iter(inputs)

    def get_next(self):
        item = next(self._inputs, None)
        return None if item is None else {ONNX_INPUT: item}


def calibration_batches(inputs: np.ndarray) -> list:
    """(N, K, S, S) float network inputs -> N arrays of (1, K, S, S) float32 (one image per
    calibration run: a fixed-batch-1 export takes nothing else)."""
    inputs = np.asarray(inputs, dtype=np.float32)
    if inputs.ndim != 4 or len(inputs) == 0:
        raise ValueError(f'calibration inputs must be (N >= 1, K, S, S), got {inputs.shape}')
    return [np.ascontiguousarray(inputs[i:i + 1]) for i in range(len(inputs))]


def quantize_network(fp32_path: str, out_path: str, calibration: np.ndarray) -> Dict:
    """Write the INT8 (QDQ) version of an exported fp32 ADPD network.

    Args:
        fp32_path: an ``.onnx`` written by :func:`.onnx_export.export_onnx`.
        out_path: where the quantised model goes (written whole, then renamed: an
            interruption leaves no half-written model).
        calibration: (N, K, S, S) float32 network inputs (the data preprocessor's output,
            K as the exported graph's input) whose activation ranges fix the uint8 scales.

    Returns:
        The quantisation record also stored in the model's metadata
        (:data:`META_QUANTIZATION`); the fp32 model's own metadata (image size, classes)
        is kept.
    """
    import onnx
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quant_pre_process, quantize_static)

    source = onnx.load(fp32_path)
    quantized_nodes = sorted({node.op_type for node in source.graph.node
                              if node.op_type in QUANTIZED_NODE_TYPES})
    if quantized_nodes:
        raise ValueError(f'{fp32_path}: already quantised (it has {", ".join(quantized_nodes)} '
                         f'nodes); quantise the fp32 export')
    batches = calibration_batches(calibration)
    channels = source.graph.input[0].type.tensor_type.shape.dim[1].dim_value
    if channels and batches[0].shape[1] != channels:
        raise ValueError(f'{fp32_path}: takes {channels}-channel input, the calibration '
                         f'inputs have {batches[0].shape[1]} channels')
    record = {'format': 'QDQ', 'ops': list(QUANTIZED_OPS), 'weights': 'int8 per channel',
              'activations': 'uint8', 'calibration': 'MinMax',
              'calibration_images': len(batches), 'source_sha256': file_sha256(fp32_path),
              'tool': 'onnxruntime.quantization.quantize_static'}
    folder = osp.dirname(osp.abspath(out_path))
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        prepared, quantized = osp.join(tmp, 'prepared.onnx'), osp.join(tmp, 'int8.onnx')
        # shape inference + constant folding first, as ONNX Runtime's guide asks
        quant_pre_process(fp32_path, prepared, skip_symbolic_shape=False)
        quantize_static(prepared, quantized, _Calibration(batches),
                        quant_format=QuantFormat.QDQ, op_types_to_quantize=list(QUANTIZED_OPS),
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
        model = onnx.load(quantized)
        del model.metadata_props[:]
        for entry in source.metadata_props:
            if entry.key != META_QUANTIZATION:
                model.metadata_props.add(key=entry.key, value=entry.value)
        model.metadata_props.add(key=META_QUANTIZATION, value=json.dumps(record))
        onnx.checker.check_model(model)
        onnx.save(model, quantized)
        os.replace(quantized, out_path)
    return record


def output_differences(reference: Sequence[np.ndarray], other: Sequence[np.ndarray],
                       names: Sequence[str]) -> Dict[str, Dict[str, float]]:
    """Per output name: the largest and the mean absolute difference of two runs."""
    return {name: {'max_abs': float(np.abs(a - b).max()), 'mean_abs': float(np.abs(a - b).mean())}
            for name, a, b in zip(names, reference, other)}


def calibration_inputs(inferencer, items: Sequence, count: int, channels: int = 1,
                       seed: int = 0):
    """Up to ``count`` network inputs from ``items`` (:class:`.input_discovery.InputItem`),
    preprocessed exactly as :class:`.inferencer.ADPDInferencer` does before its network.

    The items are visited in a seeded random order (a sample of the whole list, the same
    for the same list and seed); an input that cannot be used is skipped and reported.

    Returns:
        ((N, channels, S, S) float32 array, [(input name, reason), ...] of skipped inputs).
    """
    import torch
    from mmengine.dataset import pseudo_collate

    from .failure_reason import exception_reason

    if count < 1:
        raise ValueError(f'calibration needs at least 1 image, got count={count}')
    order = np.random.default_rng(seed).permutation(len(items))
    prepared, skipped = [], []
    for index in order.tolist():
        if len(prepared) == count:
            break
        try:
            _, data = inferencer.load_and_prepare(items[index], index)
        except Exception as exc:  # this input's failure alone (as the archive runner)
            skipped.append((items[index].name, exception_reason(exc)))
            continue
        prepared.append(data)
    if not prepared:
        return np.zeros((0, channels, 1, 1), np.float32), skipped
    with torch.no_grad():
        inputs = inferencer.model.data_preprocessor(pseudo_collate(prepared), False)['inputs']
    # the grey export takes channel 0 of the preprocessor's repeated channels
    return np.ascontiguousarray(inputs[:, :channels].float().cpu().numpy()), skipped
