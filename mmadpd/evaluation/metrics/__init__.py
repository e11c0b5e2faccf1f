from .cxr8_metric import CXR8DetectionMetric

__all__ = ['CXR8DetectionMetric']
