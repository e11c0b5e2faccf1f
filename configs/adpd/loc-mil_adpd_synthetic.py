# Loc-ADPD w/ MIL on the phantom set (CPU-sized, see loc_adpd_synthetic.py).
_base_ = ['./loc_adpd_synthetic.py']

model = dict(pathology_head=dict(loss_mil={{_base_.mil_model.pathology_head.loss_mil}}))
