"""The Attention operator's CPU kernel and its gradient against the law they compute, written out in float64."""

from __future__ import annotations

import pytest
import torch

from nasrec_lab.supernet._ops import ATTENTION_BLOCK_ROWS, attention


def _softmax_attention(q, k, v):
    """softmax(q k^T / sqrt(d)) v for every (row, head), one pair at a time, in float64."""
    q, k, v = (t.double() for t in (q, k, v))
    out = torch.empty_like(q)
    d = q.shape[-1]
    for b in range(q.shape[0]):
        for h in range(q.shape[1]):
            scores = q[b, h] @ k[b, h].T / d ** 0.5
            weights = torch.exp(scores - scores.max(dim=1, keepdim=True).values)
            out[b, h] = (weights / weights.sum(dim=1, keepdim=True)) @ v[b, h]
    return out


def _qkv(rows: int, fields: int, width: int, seed: int):
    # as the operator makes them: views of one (B, m, 3, H, d) projection, not contiguous
    gen = torch.Generator().manual_seed(seed)
    qkv = torch.randn(rows, fields, 3, 8, width, generator=gen) * 2
    return qkv.permute(2, 0, 3, 1, 4).unbind(0)


# rows: one block, a whole number of blocks, and a partial last block; fields: one token up to 64
@pytest.mark.parametrize("rows,fields,width", [(3, 1, 2), (ATTENTION_BLOCK_ROWS, 16, 2),
                                               (2 * ATTENTION_BLOCK_ROWS + 7, 64, 2), (45, 23, 4)])
def test_kernel_and_its_gradient_compute_softmax_attention(rows, fields, width):
    q, k, v = _qkv(rows, fields, width, seed=rows + fields)
    want = _softmax_attention(q, k, v)
    with torch.no_grad():
        got = attention(q, k, v)
    assert got.shape == want.shape
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-5)
    # where a gradient is asked: the same forward, bit for bit, and the law's gradients
    leaves = [t.detach().clone().requires_grad_() for t in (q, k, v)]
    trained = attention(*leaves)
    assert torch.equal(trained.detach(), got)
    trained.sum().backward()
    ref_leaves = [t.detach().double().requires_grad_() for t in (q, k, v)]
    _softmax_attention(*ref_leaves).sum().backward()
    for leaf, ref in zip(leaves, ref_leaves):
        torch.testing.assert_close(leaf.grad.double(), ref.grad, rtol=1e-4, atol=1e-4)


def test_gradient_passes_gradcheck_across_a_partial_block():
    # float64 central differences against the hand-written backward; 33 rows: a whole block and one row
    q, k, v = (t.double().detach().requires_grad_() for t in _qkv(ATTENTION_BLOCK_ROWS + 1, 3, 2, seed=5))
    assert torch.autograd.gradcheck(attention, (q, k, v), eps=1e-6, atol=1e-5)
