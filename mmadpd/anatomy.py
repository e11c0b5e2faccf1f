"""Anatomy and pathology vocabularies of ADPD (data only; no torch, no registries).

Everything here is plain data that models, datasets, converters and metrics share:

* ``REGIONS``: the 29 Chest ImaGenome ``bbox_name`` values ADPD detects, in query order
  (query ``i`` of the anatomy head always predicts ``REGIONS[i]``).
* ``PATHOLOGIES``: the 53 training classes (43 anatomical findings + 10 diseases) in the
  order of the pathology head's outputs.
* ``CXR8_CLASSES`` and ``CXR8_MAPPING``: the 8 NIH ChestX-ray8 evaluation classes and the
  many-to-one mapping from training classes (a mapped score is the MEAN of the listed
  training-class probabilities).
* ``CLASS_GROUPS``: the class subsets reported separately (``nih8``, ``nih8_cig``).

"right"/"left" are the patient's sides: on a frontal image the patient's right lies on the
image's LEFT half. Never flip images horizontally.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Sequence, Tuple

REGIONS: Tuple[str, ...] = (
    'right lung', 'right upper lung zone', 'right mid lung zone', 'right lower lung zone',
    'right hilar structures', 'right apical zone', 'right costophrenic angle',
    'right hemidiaphragm',
    'left lung', 'left upper lung zone', 'left mid lung zone', 'left lower lung zone',
    'left hilar structures', 'left apical zone', 'left costophrenic angle',
    'left hemidiaphragm',
    'trachea', 'spine', 'right clavicle', 'left clavicle', 'aortic arch', 'mediastinum',
    'upper mediastinum', 'svc', 'cardiac silhouette', 'cavoatrial junction',
    'right atrium', 'carina', 'abdomen',
)

#: Silver scene-graph regions ADPD does not use (converters ignore them).
UNUSED_REGIONS: Tuple[str, ...] = (
    'right cardiophrenic angle', 'left cardiophrenic angle', 'right cardiac silhouette',
    'left cardiac silhouette', 'descending aorta', 'right upper abdomen',
    'left upper abdomen',
)

ANATOMICAL_FINDINGS: Tuple[str, ...] = (
    'atelectasis', 'vascular calcification', 'vascular congestion', 'lung opacity',
    'mediastinal displacement', 'pleural effusion', 'enlarged cardiac silhouette',
    'rib fracture', 'hernia', 'airspace opacity', 'pleural/parenchymal scarring',
    'enlarged hilum', 'subcutaneous air', 'hyperaeration', 'pulmonary edema/hazy opacity',
    'lung lesion', 'mass/nodule (not otherwise specified)', 'tortuous aorta',
    'linear/patchy atelectasis', 'consolidation', 'spinal degenerative changes',
    'pneumothorax', 'calcified nodule', 'scoliosis',
    'superior mediastinal mass/enlargement', 'elevated hemidiaphragm',
    'multiple masses/nodules', 'infiltration', 'mediastinal widening',
    'shoulder osteoarthritis', 'vascular redistribution', 'costophrenic angle blunting',
    'lobar/segmental collapse', 'hydropneumothorax', 'spinal fracture', 'bone lesion',
    'increased reticular markings/ild pattern', 'pneumomediastinum',
    'diaphragmatic eventration (benign)', 'sub-diaphragmatic air', 'cyst/bullae',
    'bronchiectasis', 'clavicle fracture',
)

DISEASES: Tuple[str, ...] = (
    'pneumonia', 'pericardial effusion', 'copd/emphysema', 'fluid overload/heart failure',
    'granulomatous disease', 'goiter', 'aspiration', 'lung cancer', 'alveolar hemorrhage',
    'interstitial lung disease',
)

PATHOLOGIES: Tuple[str, ...] = ANATOMICAL_FINDINGS + DISEASES

#: Scene-graph attribute categories whose ``yes`` entries make a region positive.
POSITIVE_CATEGORIES: Tuple[str, ...] = ('anatomicalfinding', 'disease')

CXR8_CLASSES: Tuple[str, ...] = (
    'Atelectasis', 'Cardiomegaly', 'Effusion', 'Infiltration', 'Mass', 'Nodule',
    'Pneumonia', 'Pneumothorax',
)

#: CXR8 class -> training classes whose probabilities are averaged. Note 'pneumothorax' is
#: lower case: the reference code's capitalised spelling silently dropped the class.
CXR8_MAPPING: Dict[str, Tuple[str, ...]] = {
    'Atelectasis': ('atelectasis',),
    'Cardiomegaly': ('enlarged cardiac silhouette',),
    'Effusion': ('pleural effusion',),
    'Infiltration': ('infiltration', 'lung opacity'),
    'Mass': ('mass/nodule (not otherwise specified)', 'multiple masses/nodules'),
    'Nodule': ('mass/nodule (not otherwise specified)',),
    'Pneumonia': ('pneumonia',),
    'Pneumothorax': ('pneumothorax',),
}

#: The NIH box file spells one class differently from the label file.
CXR8_BOX_LABEL_ALIASES: Dict[str, str] = {'Infiltrate': 'Infiltration'}

CLASS_GROUPS: Dict[str, Tuple[str, ...]] = {
    'nih8': CXR8_CLASSES,
    'nih8_cig': tuple(c for c in CXR8_CLASSES if c not in ('Mass', 'Nodule')),
}

#: Region indices of the two lungs (used by the whole-lung reference predictor).
LUNG_REGIONS: Tuple[str, ...] = ('right lung', 'left lung')


def validate_mapping(mapping: Mapping[str, Sequence[str]],
                     source_classes: Sequence[str]) -> Dict[str, Tuple[str, ...]]:
    """Check that every mapped training-class name exists (case-sensitive).

    Args:
        mapping: target class -> non-empty list of training-class names.
        source_classes: the model's training classes.

    Returns:
        The mapping with tuple values.

    Raises:
        ValueError: naming the first unknown (e.g. mis-cased) class and, when one exists,
            the case-insensitive match the user probably meant.
    """
    known = set(source_classes)
    lower = {c.lower(): c for c in source_classes}
    out: Dict[str, Tuple[str, ...]] = {}
    for target, sources in mapping.items():
        if isinstance(sources, str) or not len(sources):
            raise ValueError(f'class mapping for {target!r} must be a non-empty list of '
                             f'training-class names, got {sources!r}')
        for name in sources:
            if name not in known:
                hint = lower.get(str(name).lower())
                extra = f' (did you mean {hint!r}? names are case-sensitive)' if hint else ''
                raise ValueError(f'class mapping for {target!r} names unknown training '
                                 f'class {name!r}{extra}')
        out[target] = tuple(sources)
    return out


def mapping_indices(mapping: Mapping[str, Sequence[str]], source_classes: Sequence[str],
                    target_classes: Sequence[str]) -> List[List[int]]:
    """Index form of ``mapping``: for each target class (in ``target_classes`` order) the
    list of source-class indices whose probabilities are averaged."""
    mapping = validate_mapping(mapping, source_classes)
    missing = [t for t in target_classes if t not in mapping]
    if missing:
        raise ValueError(f'class mapping has no entry for target classes {missing}')
    index = {c: i for i, c in enumerate(source_classes)}
    return [[index[s] for s in mapping[t]] for t in target_classes]
