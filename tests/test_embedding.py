import re
from functools import reduce

import pytest
import torch

from fairseq_see.errors import UserInputError
from fairseq_see.modules.embedding_stats import format_stats
from fairseq_see.modules.sememe_entanglement import (check_see_dimensions, entangle, factor_scatter_matrices,
                                                     unit_size)
from fairseq_see.modules.sememe_entanglement_embedding import SememeEntanglementEmbedding, placeholder_index


def random_index(vocab, rank, order, units, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, units, (vocab, rank, order), generator=g)


def naive_table(unit_vectors, unit_ids, dim):
    """Word by word, slot by slot: Σ_k kron(T[u_k1], ..., T[u_ko])[:d]."""
    rows = []
    for v in range(unit_ids.shape[0]):
        row = 0
        for k in range(unit_ids.shape[1]):
            row = row + reduce(torch.kron, [unit_vectors[u] for u in unit_ids[v, k]])
        rows.append(row[:dim])
    return torch.stack(rows)


@pytest.mark.parametrize("dim,order,rank,dtype", [(64, 3, 4, torch.int64), (64, 3, 3, torch.int16),
                                                  (50, 2, 2, torch.int32), (81, 4, 2, torch.int16),
                                                  (7, 1, 3, torch.int64), (100, 3, 1, torch.int16)])
def test_batched_table_equals_naive_kronecker(dim, order, rank, dtype):
    q = unit_size(dim, order)
    unit_vectors = torch.randn(13, q, dtype=torch.float64, requires_grad=True)
    unit_ids = random_index(29, rank, order, 13).to(dtype)
    fast = entangle(unit_vectors, unit_ids, dim)
    slow = naive_table(unit_vectors, unit_ids.long(), dim)
    assert fast.shape == (29, dim)
    torch.testing.assert_close(fast, slow)
    weights = torch.randn(29, dim, dtype=torch.float64)
    grad_fast, = torch.autograd.grad((fast * weights).sum(), unit_vectors)
    grad_slow, = torch.autograd.grad((slow * weights).sum(), unit_vectors)
    torch.testing.assert_close(grad_fast, grad_slow)


def test_cpu_backward_sums_through_a_scatter_matrix_made_once_per_index():
    """On CPU the gathered factors' gradient reaches the unit rows through each factor's 0/1 scatter
    matrix, made once per index (the same matrices on the next rebuild, new ones when the index changes
    in place) and giving F.embedding's gradients; half precision takes index_add_ and agrees too."""
    unit_vectors = torch.randn(40, 16, requires_grad=True)
    unit_ids = random_index(300, 8, 2, 40).to(torch.int16)
    weights = torch.randn(300, 256)

    def gradients(table_of):
        grad, = torch.autograd.grad((table_of(unit_vectors).float() * weights).sum(), unit_vectors)
        return grad

    def reference(vectors):  # F.embedding's gather and backward
        left, right = (torch.nn.functional.embedding(unit_ids[:, :, j].long(), vectors) for j in range(2))
        return (left.unsqueeze(-1) * right.unsqueeze(-2)).flatten(-2).sum(1)

    grad = gradients(lambda vectors: entangle(vectors, unit_ids, 256))
    matrices = factor_scatter_matrices(unit_ids, 40, torch.float32)
    assert [m.layout for m in matrices] == [torch.sparse_csr] * 2 and matrices[0].shape == (40, 300 * 8)
    close = dict(rtol=1e-5, atol=1e-6 * grad.abs().max().item())  # float32 sums in another order
    torch.testing.assert_close(grad, gradients(reference), **close)
    entangle(unit_vectors, unit_ids, 256)
    assert factor_scatter_matrices(unit_ids, 40, torch.float32) is matrices
    unit_ids[:10, :, 0] = (unit_ids[:10, :, 0] + 1) % 40  # a changed index: new matrices, right gradients
    assert factor_scatter_matrices(unit_ids, 40, torch.float32) is not matrices
    torch.testing.assert_close(gradients(lambda vectors: entangle(vectors, unit_ids, 256)), gradients(reference),
                               **close)
    half = gradients(lambda vectors: entangle(vectors.bfloat16(), unit_ids, 256))
    torch.testing.assert_close(half, gradients(reference), rtol=3e-2, atol=3e-2 * grad.abs().max().item())


def test_unit_size_and_dimension_errors():
    assert [unit_size(512, o) for o in (1, 2, 3, 4)] == [512, 23, 8, 5]
    assert unit_size(64, 3) == 4 and unit_size(1000, 3) == 10
    with pytest.raises(ValueError, match=r"--see-order 10 does not fit embedding dimension 512: .* \(for d=512: 1, 2, 3, 4, 6\)"):
        check_see_dimensions(512, 10, 4, 1)
    with pytest.raises(ValueError, match="must be >= 1"):
        check_see_dimensions(512, 3, 0, 1)
    with pytest.raises(ValueError, match=r"--see-rank must be >= 2 \(got 1\): the last slot of every token holds the "
                                         "identity units"):
        check_see_dimensions(512, 3, 1, 1)


def make_embedding(vocab=20, dim=64, order=3, rank=3, units=11, tables=2, checksum="abc", coverage=None):
    unit_ids = random_index(vocab, rank, order, units)
    names = [f"t{i % tables}/u{i}" for i in range(units)]
    return SememeEntanglementEmbedding(unit_ids, names, checksum, dim, padding_idx=1, tables=tables, side="source",
                                       coverage=coverage)


def test_module_forward_parameter_count_and_stats():
    emb = make_embedding(coverage=0.5)
    q = unit_size(64, 3)
    assert emb.num_parameters() == 11 * q + 2 * 64
    tokens = torch.tensor([[0, 5, 19], [1, 2, 3]])
    out = emb(tokens)
    assert out.shape == (2, 3, 64)
    torch.testing.assert_close(out[0, 1], emb.table()[5])
    # rows have fairseq's N(0, d^-1/2) scale at init: norm ~1
    assert emb.table().norm(dim=-1).mean().item() == pytest.approx(1.0, rel=0.05)
    stats = emb.stats()
    assert (stats["kind"], stats["vocab"], stats["dim"], stats["parameters"], stats["units"]) == ("see", 20, 64, 172, 11)
    assert stats["ratio"] == pytest.approx(1280 / 172) and stats["coverage"] == 0.5
    assert stats["sizes"] == {"order": 3, "rank": 3, "tables": 2, "q": 4}
    assert format_stats(stats).startswith("embedding (source): type=see |V|=20 d=64 params=172 live=")
    assert "ratio=7.44x" in format_stats(stats) and "coverage=50.0%" in format_stats(stats)


def test_live_parameters_count_only_the_rows_a_slot_reads():
    # 3 tokens, R 2, o 2, 6 rows: rows 5 and 2 are never read
    unit_ids = torch.tensor([[[0, 1], [3, 3]], [[1, 3], [0, 0]], [[4, 0], [3, 1]]], dtype=torch.int16)
    emb = SememeEntanglementEmbedding(unit_ids, [f"t0/u{i}" for i in range(6)], "x", 4, padding_idx=1)
    q = unit_size(4, 2)
    assert emb.num_parameters() == 6 * q + 2 * 4 and emb.live_parameters() == 4 * q + 2 * 4
    emb.add_output_bias()  # |V| more, all read
    assert emb.live_parameters() == 4 * q + 2 * 4 + 3 and emb.stats()["sizes"]["output_bias"] is True


def test_affine_norm_keeps_the_parameters_and_leaves_row_norms_free():
    """--see-norm affine: LayerNorm's gain and bias without the normalisation. Rows start at norm ~1 as
    LayerNorm's do, but a token whose unit vectors grow gets a longer row (frequency by norm), where
    LayerNorm's row stays at norm ~1; the parameter count is the same."""
    unit_ids = random_index(300, 8, 2, 50)
    names = [f"t0/u{i}" for i in range(50)]
    normed, affine = (SememeEntanglementEmbedding(unit_ids, names, "x", 128, 1, norm=norm)
                      for norm in ("layernorm", "affine"))
    assert affine.num_parameters() == normed.num_parameters()
    assert affine.table().norm(dim=-1).mean().item() == pytest.approx(1.0, rel=0.15)
    with torch.no_grad():
        for emb in (normed, affine):
            emb.unit_vectors.mul_(2)
            emb.invalidate()
    # order 2: every product scales by 4, and so does the affine row; LayerNorm's does not move
    assert affine.table().norm(dim=-1).mean().item() == pytest.approx(4.0, rel=0.15)
    assert normed.table().norm(dim=-1).mean().item() == pytest.approx(1.0, rel=0.05)
    with pytest.raises(UserInputError, match="--see-norm rms: expected one of layernorm, affine"):
        SememeEntanglementEmbedding(unit_ids, names, "x", 128, 1, norm="rms")


@pytest.mark.parametrize("order,rank", [(2, 8), (3, 4)])
def test_sum_init_starts_the_summed_products_at_norm_one_and_the_same_table_shape(order, rank):
    """--see-init sum: unit vectors of std (R d)^(-1/2o), so the sum of a token's R products (before
    the norm) has rows of norm ~1, where unit init's unit vectors have norm ~1 each; LayerNorm makes
    the two tables alike (both rows of norm ~1), and the affine gain starts at 1."""
    dim, vocab, units = 128, 400, 60
    unit_ids = random_index(vocab, rank, order, units)
    names = [f"t0/u{i}" for i in range(units)]
    torch.manual_seed(0)
    unit, summed = (SememeEntanglementEmbedding(unit_ids, names, "x", dim, 1, init=init) for init in ("unit", "sum"))
    assert summed.unit_vectors.std().item() == pytest.approx((rank * dim) ** (-0.5 / order), rel=0.1)
    assert unit.unit_vectors.norm(dim=-1).mean().item() == pytest.approx(1.0, rel=0.15)
    raw = entangle(summed.unit_vectors, summed.unit_ids, dim)
    assert raw.norm(dim=-1).mean().item() == pytest.approx(1.0, rel=0.2)
    for emb in (unit, summed):
        assert emb.table().norm(dim=-1).mean().item() == pytest.approx(1.0, rel=0.05)
    affine = SememeEntanglementEmbedding(unit_ids, names, "x", dim, 1, norm="affine", init="sum")
    assert affine.layer_norm.weight.eq(1).all()
    assert affine.table().norm(dim=-1).mean().item() == pytest.approx(1.0, rel=0.2)
    with pytest.raises(UserInputError, match="--see-init big: expected one of unit, sum"):
        SememeEntanglementEmbedding(unit_ids, names, "x", dim, 1, init="big")


@pytest.mark.parametrize("norm", ["layernorm", "affine"])
def test_restore_unit_scale_keeps_a_layer_normed_table(norm):
    """After a fit has inflated the units (their common scale is free under LayerNorm), restoring the
    starting scale leaves the table as it was; under --see-norm affine the scale is not free: untouched."""
    unit_ids = random_index(300, 6, 2, 50)
    emb = SememeEntanglementEmbedding(unit_ids, [f"t0/u{i}" for i in range(50)], "x", 128, 1, norm=norm)
    with torch.no_grad():
        emb.unit_vectors.mul_(6.0)
    emb.invalidate()
    table, inflated = emb.table().clone(), emb.unit_vectors.detach().clone()
    emb.restore_unit_scale()
    if norm == "layernorm":
        assert emb.unit_vectors.pow(2).mean().sqrt().item() == pytest.approx(emb.initial_unit_std(), rel=1e-5)
        # the same up to LayerNorm's eps (1e-5 beside a component variance of ~0.04 here)
        torch.testing.assert_close(emb.table(), table, atol=2e-4, rtol=1e-3)
    else:
        assert torch.equal(emb.unit_vectors, inflated)


def test_morphte_restores_its_unit_scale_too():
    from fairseq_see.modules.morph_te_embedding import MorphTEEmbedding
    emb = MorphTEEmbedding(torch.randint(0, 40, (200, 2)), [f"m{i}" for i in range(40)], 128, 1, rank=3)
    with torch.no_grad():
        emb.unit_vectors.mul_(6.0)
    emb.invalidate()
    table = emb.table().clone()
    emb.restore_unit_scale()
    assert emb.unit_vectors.pow(2).mean().sqrt().item() == pytest.approx(emb.unit_vectors.shape[-1] ** -0.5, rel=1e-5)
    torch.testing.assert_close(emb.table(), table, atol=2e-4, rtol=1e-3)


@pytest.mark.parametrize("dtype,tolerance", [(torch.bfloat16, 3e-2), (torch.float16, 4e-3)])
def test_half_precision_table_matches_float32(dtype, tolerance):
    """What --fp16/--bf16 training computes: the table from half-precision parameters."""
    emb = make_embedding(vocab=200, dim=256, order=4, rank=4, units=60).eval()
    with torch.no_grad():
        reference = emb.table().clone()
        half = emb.to(dtype).table()
    assert half.dtype == dtype
    # per component, relative to the rows' scale (LayerNorm rows of norm ~1, components ~d^-1/2)
    error = (half.float() - reference).abs().max() / reference.abs().max()
    assert error < tolerance, error


def test_eval_cache_and_invalidation():
    emb = make_embedding().eval()
    with torch.no_grad():
        first = emb.table()
        assert emb.table() is first  # cached
        emb.unit_vectors.add_(0.1)  # an in-place update bumps the version: rebuilt
        second = emb.table()
        assert second is not first and not torch.equal(second, first)
    emb.train()
    emb.eval()
    with torch.no_grad():
        assert emb.table() is not second  # train()/eval() drop the cache


def test_training_table_shared_within_a_forward_and_dropped_after_backward():
    emb = make_embedding().train()
    table = emb.table()
    assert emb.table() is table  # decoder input and tied output share one rebuild
    (table.sum() + emb.table().pow(2).sum()).backward()
    assert emb.table() is not table  # its graph was used up by backward
    # gradient accumulation: a second forward/backward before any optimizer step works
    emb(torch.tensor([[1, 2]])).sum().backward()
    emb(torch.tensor([[3, 4]])).sum().backward()
    assert emb.unit_vectors.grad is not None


def test_checkpoint_supplies_the_index_to_a_placeholder():
    trained = make_embedding(units=11)
    unit_ids, names = placeholder_index(20, 3, 3)
    empty = SememeEntanglementEmbedding(unit_ids, names, "abc", 64, 1, side="source", placeholder=True)
    with pytest.raises(RuntimeError, match="has no sememe index"):
        empty(torch.tensor([[1]]))
    empty.load_state_dict(trained.state_dict())
    assert empty.units == trained.units and empty.tables == 2 and not empty.placeholder
    trained.eval(), empty.eval()
    with torch.no_grad():
        torch.testing.assert_close(empty.table(), trained.table())


def test_checkpoint_for_another_dictionary_is_refused():
    trained = make_embedding(checksum="abc")
    other = make_embedding(checksum="xyz")
    other.dictionary_path = "bin/dict.zh.txt"
    with pytest.raises(ValueError, match=r"^bin/dict.zh.txt: not the dictionary the checkpoint's SEE index \(source\) "
                                         r"was built for .*; pass the data directory the model was trained with"):
        other.load_state_dict(trained.state_dict())
    smaller = make_embedding(vocab=10)
    with pytest.raises(ValueError, match=r"10 symbols, but the checkpoint's SEE index \(source\) has 20 rows"):
        smaller.load_state_dict(trained.state_dict())


def test_a_checkpoint_of_the_first_index_format_is_refused_in_one_line():
    emb = make_embedding()
    emb.dictionary_path = "bin/dict.zh.txt"
    old = {"unit_ids": torch.zeros(20, 3, 3, dtype=torch.long), "sense_mask": torch.ones(20, 3, dtype=torch.bool),
           "unit_vectors": torch.zeros(2, 11, 4), "layer_norm.weight": torch.ones(64), "layer_norm.bias": torch.zeros(64),
           "_extra_state": {"units": [f"u{i}" for i in range(11)], "dictionary_checksum": "abc"}}
    with pytest.raises(ValueError, match=r"^bin/dict.zh.txt: the checkpoint's SEE index \(source\) is of the first "
                                         r"format .*rebuild the index with fairseq-see-index and retrain$"):
        emb.load_state_dict(old)
