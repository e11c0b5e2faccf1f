# The toy config with a model type no registry knows: tools must fail fast and clearly.
_base_ = ['./toy.py']
model = dict(_delete_=True, type='NoSuchDetector')
