"""A tiny registered model, dataset and metric used to test the tools and the Runner
plumbing (train -> checkpoint -> test -> resume) without any real data."""
import numpy as np
import torch
from mmengine.dataset import BaseDataset
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmdet.registry import DATASETS, METRICS, MODELS


@MODELS.register_module()
class ToyRegressor(BaseModel):
    """y = w x + b fitted with MSE; predicts one float per sample."""

    def __init__(self, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.linear = torch.nn.Linear(4, 1)

    def forward(self, inputs, targets, mode='tensor', **unused):
        # default_collate has already stacked the batch: x (B, 4), y (B,)
        x = inputs.float()
        y = targets.float()
        pred = self.linear(x).squeeze(-1)
        if mode == 'loss':
            return dict(loss=((pred - y) ** 2).mean())
        if mode == 'predict':
            return [dict(pred=p.detach(), target=t) for p, t in zip(pred, y)]
        return pred


@DATASETS.register_module()
class ToyDataset(BaseDataset):
    """`num` samples x ~ N(0, 1)^4, y = x.sum(); deterministic."""

    def __init__(self, num=32, **kwargs):
        self.num = num
        super().__init__(serialize_data=False, lazy_init=False, **kwargs)

    def load_data_list(self):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((self.num, 4)).astype(np.float32)
        return [dict(inputs=torch.from_numpy(v), targets=torch.tensor(float(v.sum())),
                     sample_idx=i) for i, v in enumerate(x)]


@METRICS.register_module()
class ToyMSE(BaseMetric):
    default_prefix = 'toy'

    def process(self, data_batch, data_samples):
        for s in data_samples:
            self.results.append(float((s['pred'] - s['target']) ** 2))

    def compute_metrics(self, results):
        return dict(mse=float(np.mean(results)), count=len(results))
