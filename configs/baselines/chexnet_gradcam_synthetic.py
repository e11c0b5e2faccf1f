# Grad-CAM boxes from the GAP (CheXNet) model: test-only, with chexnet_cam_synthetic.py's
# checkpoint (tools/test.py configs/baselines/chexnet_gradcam_synthetic.py CHEXNET_CKPT).
_base_ = ['./chexnet_cam_synthetic.py']

model = dict(cam_method='gradcam')
