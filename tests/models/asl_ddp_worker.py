"""One rank of the 2-process ASL check in test_losses.py (a module of its own so that
spawned processes can import it)."""
import torch
import torch.distributed as dist


def asl_grads(x, y, batch_normalize_to, wrap=None):
    """Gradient of a seeded Linear(8, C) under AsymmetricLoss on (x, y)."""
    from mmadpd.models.losses.asymmetric_loss import AsymmetricLoss
    torch.manual_seed(0)
    model = torch.nn.Linear(x.shape[1], y.shape[1])
    net = wrap(model) if wrap else model
    loss = AsymmetricLoss(batch_normalize_to=batch_normalize_to)(net(x), y)
    loss.backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()])


def run_rank(rank, world, store, x, y, out):
    """Rank ``rank`` of ``world`` trains on its shard of (x, y) under DDP (gloo); rank 0
    saves the averaged gradients with and without batch normalisation to ``out``."""
    torch.set_num_threads(1)  # a forked child must not reuse the parent's thread pool
    dist.init_process_group('gloo', init_method=f'file://{store}', rank=rank,
                            world_size=world)
    shard = slice(rank * len(x) // world, (rank + 1) * len(x) // world)
    grads = {norm: asl_grads(x[shard], y[shard], norm,
                             wrap=torch.nn.parallel.DistributedDataParallel)
             for norm in (128, None)}
    if rank == 0:
        torch.save(grads, out)
    dist.barrier()
    dist.destroy_process_group()


def run_two_ranks(x, y, out):
    """Fork 2 gloo ranks over (x, y); rank 0 writes the averaged gradients to ``out``."""
    import os.path as osp

    import torch.multiprocessing as mp
    mp.start_processes(run_rank, args=(2, osp.join(osp.dirname(out), 'store'), x, y, out),
                       nprocs=2, start_method='fork')


if __name__ == '__main__':
    # A fresh interpreter: forking is only safe before autograd has started its threads,
    # which a test process that already ran backward passes has done.
    import sys
    data = torch.load(sys.argv[1])
    run_two_ranks(data['x'], data['y'], sys.argv[2])
