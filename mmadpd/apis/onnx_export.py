"""Export the ADPD network (image -> region boxes, presence logits, pathology probabilities)
to ONNX; the post-processing stays the shared Python code (``ADPD.predict_by_feat``).

ONNX graph contract (:data:`ONNX_INPUT`, :data:`ONNX_OUTPUTS`):

* ``image``: (B, K, S, S) float32, the data preprocessor's output (normalised, letterboxed
  to the config's S x S). K = 1 by default: the preprocessor repeats ONE grey channel to
  the backbone's 3, so the export folds that repeat into the first convolution (its
  weights summed over the input channels, :func:`fold_grey_input`), which is exact up to
  float rounding and saves 2/3 of that layer's work. K = 3 (``input_channels=3``) keeps
  the backbone's own stem;
* ``boxes``: (B, R, 4) normalised (cx, cy, w, h) of the network input;
* ``presence_logits``: (B, R);
* ``pathology_probs``: (B, R, C) sigmoid probabilities.

B is fixed to the export batch unless ``dynamic_batch``. The image size and the names of
regions and classes are stored in the model's metadata (:data:`META_IMAGE_SIZE`); K is the
graph input's own channel dimension.
"""
from __future__ import annotations

import copy
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
GREY_FOLD_TOLERANCE = 1e-3  # largest |grey - 3-channel| output allowed by the export check


def fold_grey_input(conv: nn.Conv2d) -> nn.Conv2d:
    """A copy of ``conv`` for a ONE-channel input that gives the same output as ``conv`` on
    that channel repeated ``conv.in_channels`` times: weight (O, I, k, k) -> its sum over
    I, (O, 1, k, k); bias, stride, padding and dilation unchanged (zero padding of a
    repeated channel is the repeat of the zero-padded channel, so borders match too)."""
    if conv.groups != 1:
        raise ValueError(f'fold_grey_input: a grouped first convolution (groups={conv.groups}) '
                         'cannot be folded; export with input_channels=3')
    grey = copy.deepcopy(conv)
    grey.in_channels = 1
    grey.weight = nn.Parameter(conv.weight.detach().sum(dim=1, keepdim=True))
    return grey


def first_conv_name(module: nn.Module) -> str:
    """The qualified name of the first ``nn.Conv2d`` in ``module``'s registration order
    (a backbone's stem for torchvision's and mmdet's CNNs; :func:`export_onnx` checks that
    it is the one applied to the input by comparing outputs)."""
    for name, child in module.named_modules():
        if isinstance(child, nn.Conv2d):
            return name
    raise ValueError('no Conv2d in the backbone to fold a grey input into')


class ADPDNetwork(nn.Module):
    """The network part of an ADPD detector as one module with tensor outputs.

    ``input_channels=1``: the network takes the grey channel alone (B, 1, S, S); it runs on
    a copy of the detector whose backbone stem is :func:`fold_grey_input`-ed, the given
    detector is left as it is.
    """

    def __init__(self, detector: nn.Module, input_channels: int = 3) -> None:
        super().__init__()
        if input_channels not in (1, 3):
            raise ValueError(f'input_channels must be 1 or 3, got {input_channels}')
        if input_channels == 1:
            detector = copy.deepcopy(detector)
            stem = first_conv_name(detector.backbone)
            detector.backbone.set_submodule(
                stem, fold_grey_input(detector.backbone.get_submodule(stem)))
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


def check_grey_fold(detector: nn.Module, grey: ADPDNetwork, image_size: int) -> float:
    """Largest output difference between ``grey`` on a random grey image and the detector
    on the same image repeated to 3 channels; raises when above
    :data:`GREY_FOLD_TOLERANCE` (a backbone that does something else to its input first)."""
    x = torch.randn(1, 1, image_size, image_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = ADPDNetwork(detector)(x.expand(-1, 3, -1, -1))
        got = grey(x)
    diff = max(float((r - g).abs().max()) for r, g in zip(ref, got))
    if not diff <= GREY_FOLD_TOLERANCE:
        raise ValueError(f'folding the grey input into the backbone\'s first convolution '
                         f'changes the outputs by {diff:.2e}; export with input_channels=3')
    return diff


def export_onnx(detector: nn.Module, path: str, image_size: int, batch_size: int = 1,
                dynamic_batch: bool = False, exporter: str = 'dynamo',
                input_channels: int = 1) -> str:
    """Write the detector's network to ``path`` (ONNX opset :data:`OPSET`).

    Args:
        detector: a built ADPD (weights loaded), any device; exported on the CPU in fp32.
        image_size: S of the (B, 3, S, S) input.
        batch_size: B of the example input (the fixed batch without ``dynamic_batch``).
        dynamic_batch: make B a free dimension (the graph input's batch is symbolic).
        exporter: ``'dynamo'`` (torch.export, torch's maintained exporter; needs
            onnxscript) or ``'torchscript'`` (the legacy tracer).
        input_channels: 1 (the grey channel, stem folded and checked against the
            3-channel network by :func:`check_grey_fold`) or 3 (the backbone as it is).
    """
    import onnx

    if exporter not in EXPORTERS:
        raise ValueError(f'exporter must be one of {EXPORTERS}, got {exporter!r}')
    detector = detector.cpu().float().eval()
    net = ADPDNetwork(detector, input_channels).eval()
    if input_channels == 1:
        check_grey_fold(detector, net, image_size)
    # torch.export specialises a dimension of size 1 to a constant: a dynamic batch needs
    # an example batch of at least 2, or the "dynamic" graph takes batch 1 alone
    example_batch = max(batch_size, 2) if dynamic_batch else batch_size
    example = torch.zeros(example_batch, input_channels, image_size, image_size)
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
