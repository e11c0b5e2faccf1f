"""mmadpd/benchmark/profiling.py: kernel time counted once, synchronising calls found."""
import pytest
import torch

from mmadpd.benchmark import profiling


def test_kernel_time_counts_device_events_once():
    """A CPU op reporting its kernels' time as its own device time is not counted twice."""
    from types import SimpleNamespace
    from torch.autograd import DeviceType
    events = [SimpleNamespace(device_type=DeviceType.CPU, self_device_time_total=900.0),
              SimpleNamespace(device_type=DeviceType.CUDA, self_device_time_total=600.0),
              SimpleNamespace(device_type=DeviceType.CUDA, self_device_time_total=300.0)]
    assert profiling.kernel_ms(events) == pytest.approx(0.9)


def test_synchronising_calls_are_recorded_with_their_line(monkeypatch):
    """On CUDA, one step runs in torch's sync debug mode 'warn'; each synchronising call
    comes back as 'file:line: message', and the previous mode is restored."""
    import warnings
    from types import SimpleNamespace
    state = dict(mode=0, modes=[])

    def set_mode(mode):
        state['modes'].append(mode)
        state['mode'] = mode

    monkeypatch.setattr(torch.cuda, 'get_sync_debug_mode', lambda: state['mode'])
    monkeypatch.setattr(torch.cuda, 'set_sync_debug_mode', set_mode)

    def step():  # what torch does for a blocking call while the mode is 'warn'
        if state['mode'] == 'warn':
            warnings.warn('called a synchronizing CUDA operation\nmore', UserWarning)
            warnings.warn('something unrelated', UserWarning)

    calls = profiling.synchronising_calls(step, SimpleNamespace(type='cuda'))
    assert len(calls) == 1
    assert calls[0].split(':')[0].endswith('test_profiling.py')  # the line that synced
    assert calls[0].endswith(': called a synchronizing CUDA operation')
    assert state['modes'] == ['warn', 0] and state['mode'] == 0
    assert profiling.synchronising_calls(step, torch.device('cpu')) is None
