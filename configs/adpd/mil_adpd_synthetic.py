# MIL-ADPD on the synthetic phantom set (CPU-sized, see loc_adpd_synthetic.py).
_base_ = ['./loc_adpd_synthetic.py']

model = {{_base_.mil_model}}
optim_wrapper = dict(optimizer=dict(weight_decay=1e-4))  # MIL-ADPD's weight decay
