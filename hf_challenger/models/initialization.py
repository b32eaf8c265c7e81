"""Weight-initialisation functions that never overwrite loaded weights.

transformers 5 initialises a model's missing weights after loading a checkpoint and
marks loaded tensors with ``_is_hf_initialized``; its ``transformers.initialization``
functions skip marked tensors. Older transformers (4.x) has no such module and
initialises before loading, where ``torch.nn.init`` is right. The models'
``_init_weights`` methods use ``init`` from here.
"""

try:
    from transformers import initialization as init
except ImportError:  # transformers < 5
    from torch.nn import init

__all__ = ["init"]
