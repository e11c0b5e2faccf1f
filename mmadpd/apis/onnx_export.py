"""Export the ADPD network (image -> region boxes, presence logits, pathology probabilities)
to ONNX; the post-processing stays the shared Python code (``ADPD.predict_by_feat``).

ONNX graph contract (:data:`ONNX_INPUT`, :data:`ONNX_OUTPUTS`):

* ``image``: (B, 3, S, S) float32, the data preprocessor's output (normalised, grey
  expanded to 3 channels, letterboxed to the config's S x S);
* ``boxes``: (B, R, 4) normalised (cx, cy, w, h) of the network input;
* ``presence_logits``: (B, R);
* ``pathology_probs``: (B, R, C) sigmoid probabilities.

B is fixed to the export batch unless ``dynamic_batch``. The image size and the names of
regions and classes are stored in the model's metadata (:data:`META_IMAGE_SIZE`).
"""
from __future__ import annotations

import json
from typing import Tuple

import torch
from torch import nn

ONNX_INPUT = 'image'
ONNX_OUTPUTS = ('boxes', 'presence_logits', 'pathology_probs')
META_IMAGE_SIZE = 'mmadpd.image_size'
META_CLASSES = 'mmadpd.pathology_classes'
EXPORTERS = ('dynamo', 'torchscript')
OPSET = 18


class ADPDNetwork(nn.Module):
    """The network part of an ADPD detector as one module with tensor outputs."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out, logits = self.detector._heads(image)
        return out['boxes'], out['presence_logits'], logits.sigmoid()


def test_image_size(cfg) -> int:
    """The square network input S of the config's test pipeline (its ``Pad`` size, else
    its ``Resize`` scale)."""
    pipeline = cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline') \
        or cfg.get('test_pipeline') or []
    for kind, key in (('Pad', 'size'), ('Resize', 'scale')):
        for t in pipeline:
            if str(t.get('type', '')).split('.')[-1] == kind and t.get(key):
                size = t[key]
                size = (size, size) if isinstance(size, int) else tuple(size)
                if size[0] != size[1]:
                    raise ValueError(f'ONNX export needs a square test input, the test '
                                     f'pipeline {kind} gives {size}')
                return int(size[0])
    raise ValueError('the test pipeline has no Pad size or Resize scale to export at')


def export_onnx(detector: nn.Module, path: str, image_size: int, batch_size: int = 1,
                dynamic_batch: bool = False, exporter: str = 'dynamo') -> str:
    """Write the detector's network to ``path`` (ONNX opset :data:`OPSET`).

    Args:
        detector: a built ADPD (weights loaded), any device; exported on the CPU in fp32.
        image_size: S of the (B, 3, S, S) input.
        batch_size: B of the example input (the fixed batch without ``dynamic_batch``).
        dynamic_batch: make B a free dimension.
        exporter: ``'dynamo'`` (torch.export, torch's maintained exporter; needs
            onnxscript) or ``'torchscript'`` (the legacy tracer).
    """
    import onnx

    if exporter not in EXPORTERS:
        raise ValueError(f'exporter must be one of {EXPORTERS}, got {exporter!r}')
    net = ADPDNetwork(detector).cpu().float().eval()
    example = torch.zeros(batch_size, 3, image_size, image_size)
    kwargs = dict(input_names=[ONNX_INPUT], output_names=list(ONNX_OUTPUTS),
                  opset_version=OPSET, dynamo=exporter == 'dynamo')
    if exporter == 'dynamo':
        kwargs['external_data'] = False  # one self-contained file (DenseNet121: ~30 MB)
    if dynamic_batch and exporter == 'dynamo':
        kwargs['dynamic_shapes'] = ({0: torch.export.Dim('batch', min=1, max=4096)},)
    elif dynamic_batch:
        kwargs['dynamic_axes'] = {name: {0: 'batch'} for name in (ONNX_INPUT, *ONNX_OUTPUTS)}
    with torch.no_grad():
        torch.onnx.export(net, (example,), path, **kwargs)
    model = onnx.load(path)
    names = getattr(getattr(detector, 'pathology_head', None), 'class_names', None) or []
    for key, value in ((META_IMAGE_SIZE, str(image_size)), (META_CLASSES, json.dumps(names))):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path
