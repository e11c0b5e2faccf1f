# WELDON max-min pooling (Durand et al. CVPR 2016; alpha as in WILDCAT): the mean of the
# k_pos highest plus alpha x the mean of the k_neg lowest class-map scores; CAM boxes.
_base_ = ['./chexnet_cam.py']

model = dict(head=dict(pooling=dict(type='weldon', k_pos=3, k_neg=3, alpha=0.7)))
