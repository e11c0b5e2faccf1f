from .densenet import TorchvisionDenseNet, densenet_feature_state_dict

__all__ = ['TorchvisionDenseNet', 'densenet_feature_state_dict']
