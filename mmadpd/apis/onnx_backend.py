"""ONNX Runtime (CPU) in place of the torch network, for :class:`ADPDInferencer`.

The data preprocessor and the post-processing stay the torch model's own
(``model.data_preprocessor`` before, ``model.predict_by_feat`` after), so both backends give
the same predictions up to the network's float differences.
"""
from __future__ import annotations

import contextlib
import os
import os.path as osp
from typing import Iterator, Optional, Tuple

import numpy as np
import torch

from .onnx_export import META_IMAGE_SIZE, ONNX_INPUT, ONNX_OUTPUTS
from .onnx_quantize import quantization_of

BACKENDS = ('pytorch', 'onnxruntime')


def default_onnx_path(weights: Optional[str]) -> Optional[str]:
    """``work_dirs/x/latest.pth`` -> ``work_dirs/x/latest.onnx`` (where the export tool
    writes by default)."""
    return None if weights is None else osp.splitext(weights)[0] + '.onnx'


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the enclosed torch ops with ``count`` intra-op threads, then restore.

    Around ONNX Runtime the torch work (normalising one image, post-processing) is tiny,
    but torch's OpenMP threads keep spinning after each op and take the cores from ONNX
    Runtime's own pool: one thread for torch there makes the network itself faster.
    """
    before = torch.get_num_threads()
    if before == count:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class OnnxRuntimeNetwork:
    """An exported ADPD network (:mod:`.onnx_export`) run by ONNX Runtime.

    Args:
        path: the ``.onnx`` file.
        num_threads: intra-op threads (None: ONNX Runtime's default, one per core).

    ``quantization`` is the model's INT8 record (:mod:`.onnx_quantize`), None for fp32.
    Calling it with a (B, 3, S, S) float tensor returns torch tensors boxes (B, R, 4)
    normalised cxcywh, presence_logits (B, R), pathology_probs (B, R, C). A model exported
    with a fixed batch is run image by image. A model exported for the grey channel alone
    (input (B, 1, S, S), the default export) gets channel 0 of the preprocessor's 3
    repeated channels; 3 channels that differ are refused, since that model cannot see them.
    """

    def __init__(self, path: str, num_threads: Optional[int] = None) -> None:
        import onnxruntime as ort

        if not osp.isfile(path):
            raise FileNotFoundError(f'ONNX model not found: {path} (write it with '
                                    f'tools/deployment/pytorch2onnx.py CONFIG CKPT --out {path})')
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = int(num_threads)
        self.path = path
        self.session = ort.InferenceSession(os.fspath(path), options,
                                            providers=['CPUExecutionProvider'])
        shape = self.session.get_inputs()[0].shape
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None
        self.input_channels = shape[1] if isinstance(shape[1], int) else None
        meta = self.session.get_modelmeta().custom_metadata_map
        self.image_size = int(meta[META_IMAGE_SIZE]) if META_IMAGE_SIZE in meta else None
        # None for the fp32 export; an INT8 model's record (onnx_quantize), for provenance
        self.quantization = quantization_of(meta)

    def _run(self, images: np.ndarray):
        return self.session.run(list(ONNX_OUTPUTS), {ONNX_INPUT: images})

    def _channels(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.input_channels != 1 or inputs.shape[1] == 1:
            return inputs
        grey = inputs[:, :1]
        if not torch.equal(inputs, grey.expand_as(inputs)):
            raise ValueError(f'{self.path}: exported for grey input (1 channel), got '
                             f'{inputs.shape[1]} different channels; export with '
                             f'--input-channels 3')
        return grey

    def __call__(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        inputs = self._channels(inputs.detach().cpu().float())
        images = np.ascontiguousarray(inputs.numpy())
        if self.image_size is not None and images.shape[2:] != (self.image_size,) * 2:
            raise ValueError(f'{self.path}: exported for {self.image_size} px inputs, the '
                             f'config gives {images.shape[2]}x{images.shape[3]}; export again '
                             f'with this config')
        if self.fixed_batch is None or self.fixed_batch == len(images):
            outs = self._run(images)
        elif self.fixed_batch == 1:
            parts = [self._run(images[i:i + 1]) for i in range(len(images))]
            outs = [np.concatenate(column) for column in zip(*parts)]
        else:
            raise ValueError(f'{self.path}: exported for batch {self.fixed_batch}, got '
                             f'{len(images)}; export with --dynamic-batch')
        return tuple(torch.from_numpy(np.asarray(o)) for o in outs)
