"""Call names grouped by what the call computes on its activation inputs.

A rule is chosen by the algebra of a call, not by the module it runs in; the handlers of the other
modules of this package cover the calls that need more than a name (products, quotients,
normalisation, attention). Names are torch's ``__name__`` of the function or method the torch
function mode sees (``torch.add``, ``Tensor.add`` and ``Tensor.__add__`` ...).
"""

from __future__ import annotations

# (a) Linear in the activations, or structural (values moved, selected, compared): the ordinary
# gradient. Calls with integer/bool results carry no gradient whatever the rule.
GRADIENT_CALLS = frozenset(
    """
    __get__ __getitem__ __setitem__ __len__ __iter__ __format__ __repr__ __bool__ __contains__
    __add__ __radd__ __iadd__ add add_ __sub__ __rsub__ __isub__ sub sub_ subtract rsub __neg__ neg negative
    __eq__ __ne__ __lt__ __le__ __gt__ __ge__ eq ne lt le gt ge __and__ __or__ __invert__ logical_not
    logical_and logical_or isnan isinf isfinite all any nonzero argmax argmin argsort sort topk
    max min amax amin maximum minimum clamp clamp_ clip relu relu_ leaky_relu leaky_relu_ threshold
    view view_as reshape reshape_as permute transpose transpose_ t contiguous expand expand_as repeat
    repeat_interleave flatten unflatten squeeze unsqueeze narrow select index_select gather take_along_dim
    masked_select split split_with_sizes tensor_split chunk unbind cat concat concatenate stack hstack vstack
    roll flip movedim moveaxis swapaxes swapdims unfold pad clone detach detach_ to type float double half
    bfloat16 type_as cpu cuda requires_grad_ sum mean cumsum nansum dropout dropout1d dropout2d dropout3d
    alpha_dropout feature_alpha_dropout masked_fill masked_fill_ where interpolate upsample
    avg_pool1d avg_pool2d avg_pool3d adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d
    max_pool1d max_pool2d max_pool3d max_pool1d_with_indices max_pool2d_with_indices
    adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool1d_with_indices adaptive_max_pool2d_with_indices
    copy_ fill_ zero_ new_zeros new_ones new_empty new_full new_tensor zeros_like ones_like empty_like
    full_like rand_like randn_like size dim numel stride element_size data_ptr is_floating_point
    is_contiguous is_complex storage_offset untyped_storage register_hook retain_grad item tolist numpy
    diagonal diag_embed tril triu masked_scatter index_add index_put index_put_ scatter scatter_add
    index_copy linear conv1d conv2d conv3d conv_transpose1d conv_transpose2d addmm embedding
    batch_norm one_hot as_strided narrow_copy expand_copy
    """.split()
)

# (b) Element-wise functions of one activation: the identity rule.
NONLINEAR_CALLS = frozenset(
    "gelu gelu_ silu silu_ tanh tanh_ sigmoid sigmoid_ elu elu_ selu celu mish hardswish hardsigmoid "
    "softplus relu6 hardtanh softsign tanhshrink logsigmoid erf".split()
)

# (d) Results held constant inside a normalisation module written out by hand.
STATISTIC_CALLS = frozenset("rsqrt sqrt std var var_mean std_mean reciprocal norm".split())

# In-place calls whose names do not end in "_": their first argument becomes their result.
IN_PLACE_CALLS = frozenset("__setitem__ __iadd__ __isub__ __imul__ __itruediv__ __ipow__ __iand__ __ior__".split())

# (c) Products of their tensor operands.
PRODUCT_CALLS = frozenset("__mul__ __rmul__ mul multiply __matmul__ __rmatmul__ matmul bmm mm einsum".split())
