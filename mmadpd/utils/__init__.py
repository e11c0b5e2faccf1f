from .dist import CPUDistributedDataParallel, setup_cpu_distributed, shutdown_distributed
from .setup_env import register_all_modules

__all__ = ['register_all_modules', 'setup_cpu_distributed', 'CPUDistributedDataParallel',
           'shutdown_distributed']
