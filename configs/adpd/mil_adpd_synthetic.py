# MIL-ADPD on the synthetic phantom set (CPU-sized, see loc_adpd_synthetic.py).
_base_ = ['./loc_adpd_synthetic.py']

model = {{_base_.mil_model}}
