"""Does a model's region classifier localise, or only classify? (phantom set: region truth)

    python tools/analysis_tools/region_localisation.py PREDICTIONS.pkl \
        --truth data/phantom/cxr8/phantom_truth.json [--name NAME] [--out result.json] \
        [--attention CONFIG CHECKPOINT [--attention-images 60]]

PREDICTIONS.pkl: ``tools/test.py --out`` of an ADPD model on a phantom CXR8 split. Prints,
over every (image, pathology) with positive and negative regions in the ground truth:
the within-image region AUROC (``mmadpd.evaluation.functional.region_localisation``; 0.5 =
the classifier ranks lesion regions no higher than the others), the number of regions
predicted positive vs labelled positive, and the mean probability of positive / negative
regions.

``--attention``: also runs the model on the first images of the split and measures where
its decoder's cross-attention looks: per region query, the attention mass on feature cells
whose centre lies in the region's ground-truth box, divided by the share of cells in the
box (1 = uniform, > 1 = attends to its own region).
"""
import argparse
import json
import os.path as osp
import pickle
import sys

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('predictions')
    p.add_argument('--truth', required=True, help='phantom_truth.json of the split')
    p.add_argument('--name', default=None, help='row name (default: the pickle folder)')
    p.add_argument('--out', help='write the numbers as JSON here')
    p.add_argument('--attention', nargs=2, metavar=('CONFIG', 'CHECKPOINT'))
    p.add_argument('--attention-images', type=int, default=60)
    return p.parse_args(argv)


def fail(msg):
    print(f'error: {msg}', file=sys.stderr)
    sys.exit(1)


def region_labels(entry, class_index, shape):
    labels = np.zeros(shape, bool)
    for r, names in enumerate(entry['region_pathologies']):
        for name in names:
            labels[r, class_index[name]] = True
    return labels


def localisation_summary(predictions, truth):
    from mmadpd.anatomy import PATHOLOGIES
    from mmadpd.evaluation.functional import region_localisation

    class_index = {c: i for i, c in enumerate(PATHOLOGIES)}
    acc = dict(auroc=[], pred_positive=[], gt_positive=[], p_pos=[], p_neg=[])
    fused = []
    for sample in predictions:
        entry = truth['images'].get(osp.basename(sample['img_path']))
        if entry is None:
            fail(f'{sample["img_path"]}: not in the truth file (another split?)')
        probs = np.asarray(sample['pred_regions']['pathology_probs'])
        one = region_localisation(probs, region_labels(entry, class_index, probs.shape))
        for key, values in one.items():
            acc[key].extend(values)
        fused.extend(len(f) for f in sample.get('fused_regions', []))
    if not acc['auroc']:
        fail('no (image, pathology) with both positive and negative regions')
    return dict(pairs=len(acc['auroc']),
                within_image_region_auroc=float(np.mean(acc['auroc'])),
                regions_predicted_positive=float(np.mean(acc['pred_positive'])),
                regions_labelled_positive=float(np.mean(acc['gt_positive'])),
                mean_p_positive_regions=float(np.mean(acc['p_pos'])),
                mean_p_negative_regions=float(np.mean(acc['p_neg'])),
                regions_fused_per_box=float(np.mean(fused)) if fused else None)


def attention_locality(config, checkpoint, truth, image_dir, count):
    """Mean and median over (image, region) of in-box attention / in-box cell share."""
    import torch
    from mmdet.apis import init_detector
    from mmengine.dataset import Compose, pseudo_collate

    from mmadpd.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    model = init_detector(config, checkpoint, device='cpu').eval()
    layer = model.anatomy_head.layers[0]
    seen = {}
    plain = layer.attention

    def attention(mha, query, key, value):  # the plain path, keeping the weights
        if mha is not layer.cross_attn:
            return plain(mha, query, key, value)
        out, weights = mha(query, key, value, need_weights=True, average_attn_weights=True)
        seen['weights'] = weights[0]
        return out.contiguous()

    layer.attention = attention
    pipeline = Compose(model.cfg.test_dataloader.dataset.pipeline)
    ratios = []
    for name in sorted(truth['images'])[:count]:
        data = pipeline(dict(img_path=osp.join(image_dir, name), img_id=0))
        batch = model.data_preprocessor(pseudo_collate([data]), False)
        with torch.no_grad():
            feats = model.extract_feat(batch['inputs'])
            feats = feats[-1] if isinstance(feats, (list, tuple)) else feats
            model.anatomy_head(feats)
        weights = seen['weights'].numpy()  # (R, H*W)
        h, w = feats.shape[-2:]
        size = batch['inputs'].shape[-1]
        scale = data['data_samples'].metainfo['scale_factor'][0]
        cy, cx = (np.arange(h) + 0.5) * size / h, (np.arange(w) + 0.5) * size / w
        for r, box in enumerate(truth['images'][name]['region_boxes']):
            x1, y1, x2, y2 = (v * scale for v in box)
            inside = ((cy[:, None] >= y1) & (cy[:, None] <= y2)
                      & (cx[None] >= x1) & (cx[None] <= x2)).reshape(-1)
            if inside.any() and not inside.all():
                ratios.append(float(weights[r][inside].sum() / inside.mean()))
    return dict(feature_grid=[int(h), int(w)], images=min(count, len(truth['images'])),
                attention_in_box_over_uniform_mean=float(np.mean(ratios)),
                attention_in_box_over_uniform_median=float(np.median(ratios)))


def main(argv=None):
    args = parse_args(argv)
    for path in (args.predictions, args.truth):
        if not osp.isfile(path):
            fail(f'{path}: not found')
    with open(args.predictions, 'rb') as f:
        predictions = pickle.load(f)
    truth = json.load(open(args.truth))
    name = args.name or osp.basename(osp.dirname(osp.abspath(args.predictions)))
    result = dict(name=name, predictions=args.predictions,
                  **localisation_summary(predictions, truth))
    if args.attention:
        result.update(attention_locality(*args.attention, truth,
                                         osp.join(osp.dirname(args.truth), 'images'),
                                         args.attention_images))
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    main()
