# Loc-ADPD: trained on Chest ImaGenome region labels, evaluated on NIH ChestX-ray8 boxes.
# d 512, AdamW lr 3e-5 / wd 1e-5, batch 128, 25 epochs (see the schedule base).
_base_ = [
    '../_base_/models/adpd.py', '../_base_/datasets/imagenome_cxr8.py',
    '../_base_/schedules/adpd_25e.py', '../_base_/default_runtime.py'
]

train_dataloader = dict(batch_size=128)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=3e-5, weight_decay=1e-5))
