# Ablation "Loc-ADPD w/o WBF": keep the top candidate region box per class, no fusion.
_base_ = ['./loc_adpd.py']

model = dict(postprocessor=dict(fusion='none'))
