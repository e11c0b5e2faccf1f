# MIL-ADPD with box-pooled region features (our variant, not the paper's): the shared
# pathology classifier reads DenseNet121's last map (1024 channels) averaged over each
# region's predicted box (boxes detached) instead of the region query's decoder output, so
# a region's score can only come from the region. On the phantom set the paper's MIL-ADPD
# does not localise and this one does (README, "MIL-ADPD on the phantom set").
_base_ = ['./mil_adpd.py']

model = dict(region_features='box_pooled', pathology_head=dict(in_channels=1024))
