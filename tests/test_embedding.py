import re
from functools import reduce

import pytest
import torch

from fairseq_see.modules.embedding_stats import format_stats
from fairseq_see.modules.sememe_entanglement import check_see_dimensions, entangle, unit_size
from fairseq_see.modules.sememe_entanglement_embedding import SememeEntanglementEmbedding, placeholder_index


def random_index(vocab, rank, order, units, seed=0):
    g = torch.Generator().manual_seed(seed)
    unit_ids = torch.randint(0, units, (vocab, rank, order), generator=g)
    sense_mask = torch.rand(vocab, rank, generator=g) < 0.6
    sense_mask[:, 0] = True
    return unit_ids, sense_mask


def naive_table(unit_vectors, unit_ids, sense_mask, dim):
    """Word by word, sense by sense: Σ_k kron(T_k[u_k1], ..., T_k[u_ko])[:d]."""
    m = unit_vectors.shape[0]
    rows = []
    for v in range(unit_ids.shape[0]):
        row = 0
        for k in range(unit_ids.shape[1]):
            if sense_mask[v, k]:
                vectors = [unit_vectors[k % m, u] for u in unit_ids[v, k]]
                row = row + reduce(torch.kron, vectors)
        rows.append(row[:dim])
    return torch.stack(rows)


@pytest.mark.parametrize("dim,order,rank,tables", [(64, 3, 4, 1), (64, 3, 3, 2), (50, 2, 2, 3), (81, 4, 2, 1),
                                                   (7, 1, 3, 2), (100, 3, 1, 1)])
def test_batched_table_equals_naive_kronecker(dim, order, rank, tables):
    q = unit_size(dim, order)
    unit_vectors = torch.randn(tables, 13, q, dtype=torch.float64, requires_grad=True)
    unit_ids, sense_mask = random_index(29, rank, order, 13)
    fast = entangle(unit_vectors, unit_ids, sense_mask, dim)
    slow = naive_table(unit_vectors, unit_ids, sense_mask, dim)
    assert fast.shape == (29, dim)
    torch.testing.assert_close(fast, slow)
    weights = torch.randn(29, dim, dtype=torch.float64)
    grad_fast, = torch.autograd.grad((fast * weights).sum(), unit_vectors)
    grad_slow, = torch.autograd.grad((slow * weights).sum(), unit_vectors)
    torch.testing.assert_close(grad_fast, grad_slow)


def test_unit_size_and_dimension_errors():
    assert [unit_size(512, o) for o in (1, 2, 3, 4)] == [512, 23, 8, 5]
    assert unit_size(64, 3) == 4 and unit_size(1000, 3) == 10
    with pytest.raises(ValueError, match=r"--see-order 10 does not fit embedding dimension 512: .* \(for d=512: 1, 2, 3, 4, 6\)"):
        check_see_dimensions(512, 10, 4, 1)
    with pytest.raises(ValueError, match="must be >= 1"):
        check_see_dimensions(512, 3, 0, 1)


def make_embedding(vocab=20, dim=64, order=3, rank=3, units=11, tables=2, checksum="abc", coverage=None):
    unit_ids, sense_mask = random_index(vocab, rank, order, units)
    names = [f"u{i}" for i in range(units)]
    return SememeEntanglementEmbedding(unit_ids, sense_mask, names, checksum, dim, padding_idx=1,
                                       tables=tables, side="source", coverage=coverage)


def test_module_forward_parameter_count_and_stats():
    emb = make_embedding(coverage=0.5)
    q = unit_size(64, 3)
    assert emb.num_parameters() == 2 * 11 * q + 2 * 64
    tokens = torch.tensor([[0, 5, 19], [1, 2, 3]])
    out = emb(tokens)
    assert out.shape == (2, 3, 64)
    torch.testing.assert_close(out[0, 1], emb.table()[5])
    # rows have fairseq's N(0, d^-1/2) scale at init: norm ~1
    assert emb.table().norm(dim=-1).mean().item() == pytest.approx(1.0, rel=0.05)
    stats = emb.stats()
    assert (stats["kind"], stats["vocab"], stats["dim"], stats["parameters"], stats["units"]) == ("see", 20, 64, 216, 11)
    assert stats["ratio"] == pytest.approx(1280 / 216) and stats["coverage"] == 0.5
    assert format_stats(stats).startswith("embedding (source): type=see |V|=20 d=64 params=216 live=")
    assert "ratio=5.93x" in format_stats(stats) and "coverage=50.0%" in format_stats(stats)


def test_live_parameters_count_only_the_unit_rows_a_sense_reads():
    # 3 tokens, R 2, o 2, m 2, 5 units: slot 0 reads table 0, slot 1 table 1; token 2 has one sense
    unit_ids = torch.tensor([[[0, 1], [2, 2]], [[1, 3], [0, 0]], [[4, 0], [3, 3]]])
    sense_mask = torch.tensor([[True, True], [True, False], [True, False]])
    emb = SememeEntanglementEmbedding(unit_ids, sense_mask, list("abcde"), "x", 4, padding_idx=1, tables=2)
    q = unit_size(4, 2)
    # table 0: units 0, 1, 3, 4 read; table 1: unit 2 only (token 1's and 2's second slots are masked)
    assert emb.live_parameters() == (4 + 1) * q + 2 * 4
    assert emb.num_parameters() == 2 * 5 * q + 2 * 4


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
    unit_ids, sense_mask, names = placeholder_index(20, 3, 3)
    empty = SememeEntanglementEmbedding(unit_ids, sense_mask, names, "abc", 64, 1, tables=2, side="source",
                                        placeholder=True)
    with pytest.raises(RuntimeError, match="has no sememe index"):
        empty(torch.tensor([[1]]))
    empty.load_state_dict(trained.state_dict())
    assert empty.units == trained.units and not empty.placeholder
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
