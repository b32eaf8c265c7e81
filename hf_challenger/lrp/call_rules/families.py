"""Call names grouped by what the call computes on its activation inputs.

A rule is chosen by the algebra of a call, not by the module it runs in; the other modules of this
package hold the handlers of the calls that need more than their name (element-wise functions,
products and quotients, normalisation, attention). Names are the ``__name__`` the torch function mode
sees (``torch.add``, ``Tensor.add`` and ``Tensor.__add__`` ...).
"""

from __future__ import annotations

# (a) Linear in the activations, or structural (values moved, selected, compared, masked, summed,
# transformed by a fixed linear map such as an FFT, or by a max-like selection that keeps its
# gradient like ReLU and max pooling): the ordinary gradient. Calls with integer or bool results
# carry no gradient whatever the rule. ``sum``/``mean`` are linear too, but have a handler (a second
# moment is a statistic, see normalisation).
GRADIENT_CALLS = frozenset(
    """
    __get__ __getitem__ __setitem__ __len__ __iter__ __format__ __repr__ __bool__ __contains__ __hash__
    __add__ __radd__ __iadd__ add add_ __sub__ __rsub__ __isub__ sub sub_ subtract rsub __neg__ neg negative
    __eq__ __ne__ __lt__ __le__ __gt__ __ge__ eq ne lt le gt ge __and__ __or__ __xor__ __invert__ logical_not
    logical_and logical_or isnan isinf isfinite isclose allclose equal all any nonzero argmax argmin argsort
    sort topk kthvalue max min amax amin maximum minimum fmax fmin clamp clamp_min clamp_max clip relu
    leaky_relu threshold logsumexp cummax cummin
    floor ceil round trunc sign signbit frac floor_divide __floordiv__ __rfloordiv__ remainder fmod __mod__
    bucketize searchsorted unique unique_consecutive bincount histc count_nonzero
    view view_as reshape reshape_as permute transpose t contiguous expand expand_as repeat tile broadcast_to
    broadcast_tensors repeat_interleave flatten unflatten squeeze unsqueeze narrow select index_select gather
    take take_along_dim masked_select split split_with_sizes tensor_split chunk unbind cat concat concatenate
    stack hstack vstack dstack column_stack roll flip fliplr flipud rot90 movedim moveaxis swapaxes swapdims
    unfold fold pad constant_pad_nd pixel_shuffle pixel_unshuffle channel_shuffle clone detach to type
    float double half bfloat16 type_as cpu cuda requires_grad_ cumsum diff trace dropout dropout1d dropout2d
    dropout3d alpha_dropout feature_alpha_dropout masked_fill where interpolate upsample grid_sample
    avg_pool1d avg_pool2d avg_pool3d adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d
    max_pool1d max_pool2d max_pool3d max_pool1d_with_indices max_pool2d_with_indices
    adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool1d_with_indices adaptive_max_pool2d_with_indices
    copy_ fill_ zero_ new_zeros new_ones new_empty new_full new_tensor zeros_like ones_like empty_like
    full_like rand_like randn_like size dim numel stride element_size data_ptr is_floating_point
    is_contiguous is_complex storage_offset untyped_storage register_hook retain_grad item tolist numpy
    diagonal diag diag_embed tril triu masked_scatter index_add index_put scatter scatter_add scatter_reduce
    index_copy index_fill index_reduce linear conv1d conv2d conv3d conv_transpose1d conv_transpose2d
    embedding batch_norm one_hot as_strided narrow_copy expand_copy nan_to_num log_softmax
    fft_fft fft_ifft fft_fft2 fft_ifft2 fft_fftn fft_ifftn fft_rfft fft_irfft fft_rfft2 fft_irfft2
    fft_rfftn fft_irfftn fft_hfft fft_ihfft fft_fftshift fft_ifftshift real imag view_as_real
    view_as_complex conj resolve_conj resolve_neg
    """.split()
)

# (b) Element-wise activation functions named as such (the identity rule; more element-wise calls,
# such as exp, log and powers, in elementwise.py).
NONLINEAR_CALLS = frozenset(
    "gelu silu tanh sigmoid elu selu celu mish hardswish hardsigmoid softplus relu6 hardtanh softsign "
    "logsigmoid erf".split()
)

# (d) Inside a normalisation module written out by hand (class name ending in "Norm"), results held
# constant besides the statistics that are constant everywhere.
STATISTIC_CALLS = frozenset("rsqrt sqrt std var var_mean std_mean reciprocal norm".split())

# In-place calls whose names do not end in "_": their first argument becomes their result.
IN_PLACE_CALLS = frozenset("__setitem__ __iadd__ __isub__ __imul__ __idiv__ __iand__ __ior__".split())

# (c) Products of their tensor operands.
PRODUCT_CALLS = frozenset(
    "__mul__ __rmul__ mul multiply __matmul__ __rmatmul__ matmul bmm mm mv dot vdot inner outer ger kron "
    "tensordot einsum _grouped_mm".split()
)


def out_of_place(name: str) -> str:
    """The out-of-place form of an in-place call name: ``mul_`` -> ``mul``, ``__imul__`` -> ``__mul__``,
    ``__idiv__`` -> ``__truediv__``."""
    if name == "__idiv__":
        return "__truediv__"
    if name.startswith("__i") and name.endswith("__"):
        return "__" + name[3:]
    return name[:-1] if name.endswith("_") else name
