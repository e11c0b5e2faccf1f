"""Training/testing machinery: the report hook and the report writer."""
from .hooks import ADPDReportHook
from .report import write_report

__all__ = ['ADPDReportHook', 'write_report']
