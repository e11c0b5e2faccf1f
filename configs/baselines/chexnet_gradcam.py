# Grad-CAM boxes from the GAP (CheXNet) model: test-only, with chexnet_cam.py's
# checkpoint (tools/test.py configs/baselines/chexnet_gradcam.py CHEXNET_CKPT).
_base_ = ['./chexnet_cam.py']

model = dict(cam_method='gradcam')
