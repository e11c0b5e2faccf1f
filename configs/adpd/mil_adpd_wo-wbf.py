# Ablation "MIL-ADPD w/o WBF": keep the top candidate region box per class, no fusion.
_base_ = ['./mil_adpd.py']

model = dict(postprocessor=dict(fusion='none'))
