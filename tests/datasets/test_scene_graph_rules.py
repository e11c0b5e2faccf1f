"""Scene-graph rules added for real-data fidelity: value checks and label pooling."""
import json

import pytest

from mmadpd.anatomy import PATHOLOGIES, REGIONS
from mmadpd.datasets.converters import scene_graph


def region_object(**coords):
    obj = dict(bbox_name='right lung', original_x1=1, original_y1=2, original_x2=30,
               original_y2=40)
    obj.update(coords)
    return obj


@pytest.mark.parametrize('value', [True, False, float('nan'), 'nan', float('inf'),
                                   '-Infinity', 10 ** 400, None, [3], '3,5'])
def test_coordinate_must_be_a_finite_number(value):
    with pytest.raises(scene_graph.SceneGraphValueError, match='original_x2'):
        scene_graph.region_boxes([region_object(original_x2=value)], 100, 100)


def test_numeric_strings_and_json_numbers_are_coordinates():
    graph = json.loads('{"o": {"bbox_name": "right lung", "original_x1": "1.5", '
                       '"original_y1": 2, "original_x2": 3e1, "original_y2": 40.0}}')
    boxes, events = scene_graph.region_boxes([graph['o']], 100, 100)
    assert boxes == {0: [1.5, 2.0, 30.0, 40.0]} and events == []


@pytest.mark.parametrize('entry', [['right lung'], {'bbox_name': ['right lung']},
                                   {'bbox_name': 7}])
def test_entries_of_the_wrong_type_raise(entry):
    with pytest.raises(scene_graph.SceneGraphValueError):
        scene_graph.region_boxes([entry], 100, 100)
    with pytest.raises(scene_graph.SceneGraphValueError):
        scene_graph.graph_labels([entry])


ATTRIBUTES = [
    dict(bbox_name='right lung', attributes=[
        ['anatomicalfinding|yes|lung opacity', 'nlp|yes|abnormal'],
        ['anatomicalfinding|yes|not a class', 'disease|no|pneumonia']]),
    dict(bbox_name='left chest wall', attributes=[['anatomicalfinding|yes|rib fracture',
                                                   'anatomicalfinding|yes|lung opacity']]),
    dict(bbox_name='descending aorta', attributes=[['disease|yes|goiter']]),
    dict(attributes=[['tubesandlines|yes|endotracheal tube']]),  # no bbox_name
]


def test_labels_pooled_over_regions_report_what_they_leave_out():
    got = scene_graph.graph_labels(ATTRIBUTES)
    opacity = PATHOLOGIES.index('lung opacity')
    assert got.regions == {REGIONS.index('right lung'): {opacity}}
    assert got.image == {opacity}
    assert got.ignored == {'nlp|abnormal', 'anatomicalfinding|not a class',
                           'tubesandlines|endotracheal tube'}
    # lung opacity is also in a region: only classes missing from the image count
    assert got.outside_regions == {PATHOLOGIES.index('rib fracture'),
                                   PATHOLOGIES.index('goiter')}


def test_all_attributes_pooling_adds_exactly_the_outside_classes():
    regions = scene_graph.graph_labels(ATTRIBUTES, 'regions')
    every = scene_graph.graph_labels(ATTRIBUTES, 'all_attributes')
    assert every.regions == regions.regions
    assert every.image == regions.image | regions.outside_regions
    with pytest.raises(ValueError, match='image_labels'):
        scene_graph.graph_labels(ATTRIBUTES, 'union')
