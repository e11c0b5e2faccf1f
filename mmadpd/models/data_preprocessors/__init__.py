from .adpd_data_preprocessor import ADPDDataPreprocessor

__all__ = ['ADPDDataPreprocessor']
