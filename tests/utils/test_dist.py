"""The orderly end of a torchrun launch (tools/train.py and tools/test.py call it)."""
import torch.distributed as dist

from mmadpd.utils import shutdown_distributed


def test_shutdown_destroys_the_process_group(tmp_path):
    dist.init_process_group('gloo', init_method=f'file://{tmp_path / "store"}', rank=0,
                            world_size=1)
    assert dist.is_initialized()
    shutdown_distributed()
    assert not dist.is_initialized()


def test_shutdown_outside_a_distributed_run_is_a_no_op():
    assert not dist.is_initialized()
    shutdown_distributed()
    assert not dist.is_initialized()
