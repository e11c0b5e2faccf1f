# CheXNet-style baseline on the phantom set (CPU-sized as loc_adpd_synthetic.py, same
# backbone initialisation): trained on the phantom CXR8 training set
# (make_synthetic_cxr.py --num-cxr8-train N), tested on the phantom CXR8 test half.
_base_ = ['../adpd/loc_adpd_synthetic.py', '../_base_/models/cam_detector.py']

model = dict(_delete_=True, type='CAMDetector', backbone={{_base_.model.backbone}},
             data_preprocessor={{_base_.model.data_preprocessor}}, head={{_base_.cam_head}})
train_dataloader = dict(dataset=dict(
    _delete_=True, type='CXR8ClassificationDataset',
    data_root='{{$MMADPD_PHANTOM_DIR:data/phantom}}/cxr8/', pipeline={{_base_.train_pipeline}}))
optim_wrapper = dict(optimizer=dict(weight_decay=1e-4))
