from .compile_hook import ADPDCompileHook
from .lazy_runtime_info_hook import LazyRuntimeInfoHook
from .report_hook import ADPDReportHook

__all__ = ['ADPDReportHook', 'ADPDCompileHook', 'LazyRuntimeInfoHook']
