# Ablation "Loc-ADPD w/o WBF": keep the top candidate region box per class, no fusion.
# TEST-ONLY: the paper's "w/o WBF" row is the loc_adpd.py checkpoint tested with
# fusion='none', not a separate training run:
#   python tools/test.py configs/adpd/loc_adpd_wo-wbf.py work_dirs/loc_adpd/best_cxr8_mAP_iter_*.pth
_base_ = ['./loc_adpd.py']

model = dict(postprocessor=dict(fusion='none'))
