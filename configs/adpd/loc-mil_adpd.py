# Ablation "Loc-ADPD w/ MIL": region-level ASL and the image-level LSE-pooled ASL together
# (d 512 and the Loc optimiser settings).
_base_ = ['./loc_adpd.py']

model = dict(pathology_head=dict(loss_mil={{_base_.mil_model.pathology_head.loss_mil}}))
