from .pre_ln_decoder_layer import PreLNDecoderLayer

__all__ = ['PreLNDecoderLayer']
