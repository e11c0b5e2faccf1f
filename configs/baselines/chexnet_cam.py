# CheXNet-style baseline (Table 1 "CheXNet"): DenseNet121, global average pooling, CAM
# boxes; trained on NIH CXR8 image labels: the official train_val_list.txt minus the box
# images and every patient of a box image (CXR8ClassificationDataset). MMADPD_NIH_DIR is
# the NIH release folder (Data_Entry_2017_v2020.csv, train_val_list.txt,
# BBox_List_2017.csv, images/). Validation/test: the CXR8 box halves, as every row.
# Same schedule (iterations, warm-up, early stopping) as ADPD, MIL-ADPD's lr and decay.
_base_ = ['../adpd/loc_adpd.py', '../_base_/models/cam_detector.py']

model = {{_base_.cam_model}}
train_dataloader = dict(dataset=dict(
    _delete_=True, type='CXR8ClassificationDataset',
    data_root='{{$MMADPD_NIH_DIR:data/nih}}/', pipeline={{_base_.train_pipeline}}))
optim_wrapper = dict(optimizer=dict(lr=1e-4, weight_decay=1e-4))
