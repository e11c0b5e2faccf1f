from .compile_hook import ADPDCompileHook
from .lazy_runtime_info_hook import LazyRuntimeInfoHook
from .report_hook import ADPDReportHook
from .target_meta_hook import TargetClassesMetaHook, target_dataset_meta
from .worker_shutdown_hook import WorkerShutdownHook, shutdown_persistent_workers

__all__ = ['ADPDReportHook', 'ADPDCompileHook', 'LazyRuntimeInfoHook', 'WorkerShutdownHook',
           'shutdown_persistent_workers', 'TargetClassesMetaHook', 'target_dataset_meta']
