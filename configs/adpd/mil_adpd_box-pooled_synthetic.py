# MIL-ADPD on the phantom set with box-pooled region features (our variant, not the
# paper's): the pathology classifier reads the backbone map averaged over each region's
# predicted box instead of the region query's decoder output (README, "MIL-ADPD on the
# phantom set", says why).
_base_ = ['./mil_adpd_synthetic.py']

model = dict(region_features='box_pooled', pathology_head=dict(in_channels=1024))
