"""bench_file_to_json's schedule: the compared backends take turns pass by pass (a machine
episode then hits them alike), torch runs afterwards in a block of its own, every backend
gets one warm-up pass that is not counted."""
import mmadpd.apis.archive as archive
from mmadpd.benchmark.inference_scale import bench_file_to_json


def test_backends_take_turns_and_torch_runs_in_its_own_block(monkeypatch, tmp_path):
    calls = []

    def fake_run_archive(inferencer, items, stems, out_dir, batch_size, **kwargs):
        calls.append((inferencer, batch_size))
        return [{'status': 'ok'} for _ in items]

    monkeypatch.setattr(archive, 'run_archive', fake_run_archive)
    files = [str(tmp_path / f'{i}.png') for i in range(2)]
    res = bench_file_to_json({'pytorch': 'T', 'onnxruntime': 'A', 'int8': 'B'}, files,
                             batch_sizes=(1, 4), repeats=2)
    assert calls == [('A', 1), ('B', 1),                          # warm-up
                     ('A', 1), ('B', 1), ('A', 1), ('B', 1),      # batch 1
                     ('A', 4), ('B', 4), ('A', 4), ('B', 4),      # batch 4
                     ('T', 1), ('T', 1), ('T', 1), ('T', 4), ('T', 4)]  # torch
    assert list(res) == ['pytorch', 'onnxruntime', 'int8']  # the caller's order
    for per_batch in res.values():
        assert sorted(per_batch) == ['batch1', 'batch4']
        assert all(len(entry['repeats_ms']) == 2 for entry in per_batch.values())
