# MIL-ADPD: region boxes supervised as in Loc-ADPD, pathologies only from image labels
# (LSE pooling over present regions, r=5). d 256, AdamW lr 1e-4 / wd 1e-4.
_base_ = ['./loc_adpd.py']

model = {{_base_.mil_model}}
optim_wrapper = dict(optimizer=dict(lr=1e-4, weight_decay=1e-4))
