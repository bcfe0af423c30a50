"""How a fresh model's field projections start: the identity for models trained from scratch, the
release's xavier draw for the supernet."""

import pytest
import torch

from nasrec_lab.baselines import dlrm_like_architecture
from nasrec_lab.data import Batch, FeatureSchema
from nasrec_lab.space import FULL
from nasrec_lab.supernet import SuperNet, build
from nasrec_lab.supernet._ops import ParamSpec, init_tensor

SCHEMA = FeatureSchema(dense=tuple(f"I{i}" for i in range(13)), sparse=tuple(f"C{i}" for i in range(26)),
                       table_sizes=tuple(50 + 7 * i for i in range(26)))


def _projected_fields(model, block: int, op: str, weight: str, emb: torch.Tensor) -> torch.Tensor:
    """The field projection of ``op`` in ``block`` applied to the raw embeddings, by hand: W s + b."""
    p = dict(model.blocks[block][op].named_parameters())
    w, b = p[weight], p[weight.replace("weight", "bias")]
    return torch.einsum("of,bfe->boe", w, emb) + b[None, :, None]


def _fields_kept(proj: torch.Tensor, emb: torch.Tensor) -> float:
    """Mean cosine similarity of projected field i with input field i, over the first min(out, in)."""
    n = min(proj.shape[1], emb.shape[1])
    return torch.nn.functional.cosine_similarity(proj[:, :n].flatten(2), emb[:, :n].flatten(2), dim=-1).mean().item()


def test_a_fresh_dot_product_starts_from_the_fields_own_pairwise_dots():
    g = torch.Generator().manual_seed(0)
    sparse = torch.stack([torch.randint(0, t, (64,), generator=g) for t in SCHEMA.table_sizes], 1)
    batch = Batch(torch.randn(64, 13, generator=g).abs(), sparse, torch.zeros(64))
    arch = dlrm_like_architecture()  # block 5 (index 4): Dot-Product of [bottom; 26 fields -> 32 rows]
    kept = {}
    for start in ("identity", "xavier"):
        model = build(arch, SCHEMA, FULL, seed=1, field_start=start)
        emb = model.stem(batch.dense, batch.sparse)[1]
        proj = _projected_fields(model, 4, "dot_product", "field_weight", emb)
        kept[start] = _fields_kept(proj, emb)
        if start == "identity":
            # the first 26 of the 32 projected rows are the fields (the noise is a tenth of a xavier draw), so
            # the Dot-Product starts with DLRM's pairwise dots of the embeddings
            dots = torch.einsum("bie,bje->bij", proj[:, :26], proj[:, :26])
            raw = torch.einsum("bie,bje->bij", emb, emb)
            assert torch.allclose(dots, raw, atol=0.25 * raw.abs().max().item())
        # the EFC of the last block (16 fields from 26) starts as the first 16 fields
        efc = _projected_fields(model, 6, "efc", "weight", emb)
        kept[f"efc-{start}"] = _fields_kept(efc, emb)
    assert kept["identity"] > 0.9 and kept["efc-identity"] > 0.9
    assert abs(kept["xavier"]) < 0.3 and abs(kept["efc-xavier"]) < 0.3  # the release's start mixes them


def test_the_supernet_keeps_the_releases_start_and_bad_starts_are_refused():
    net = SuperNet(SCHEMA, FULL, seed=1)
    field_weights = [p for n, p in net.named_parameters() if n.endswith(("dot_product.field_weight", "efc.weight"))]
    assert field_weights
    for w in field_weights:  # no identity in the shared weights: the diagonal averages 0, not 1
        assert abs(w.diagonal().mean().item()) < 0.3
    with pytest.raises(ValueError, match="field_start must be one of"):
        init_tensor(ParamSpec((4, 4), "field"), field_start="ones")
