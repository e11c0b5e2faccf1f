from .report_hook import ADPDReportHook

__all__ = ['ADPDReportHook']
