"""Training/testing machinery: hooks, the report writer, sync-free optimizer wrappers."""
from .hooks import (ADPDCompileHook, ADPDReportHook, LazyRuntimeInfoHook,
                    WorkerShutdownHook)
from .optim_wrappers import LazyGradNormAmpOptimWrapper, LazyGradNormOptimWrapper
from .report import write_report

__all__ = ['ADPDReportHook', 'ADPDCompileHook', 'LazyRuntimeInfoHook', 'WorkerShutdownHook',
           'LazyGradNormOptimWrapper', 'LazyGradNormAmpOptimWrapper', 'write_report']
