# "LSE model" of the CXR8 paper (Wang et al. CVPR 2017): log-sum-exp pooling of the class
# maps (r is a config value), CAM boxes.
_base_ = ['./chexnet_cam_synthetic.py']

model = dict(head=dict(pooling=dict(type='lse', r=10.0)))
