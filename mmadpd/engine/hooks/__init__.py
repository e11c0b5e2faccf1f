from .compile_hook import ADPDCompileHook
from .report_hook import ADPDReportHook

__all__ = ['ADPDReportHook', 'ADPDCompileHook']
