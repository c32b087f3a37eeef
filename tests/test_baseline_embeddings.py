"""The embedding compressors beside SEE: exact sizes, the math against naive references, tying,
checkpoints, the ratio picker, and the see_random ablation's index."""

import logging
import math
import re
from functools import reduce

import numpy as np
import pytest
import torch

from conftest import build
from fairseq_see.errors import UserInputError
from fairseq_see.lexicon import Entry, Lexicon, build_index
from fairseq_see.lexicon.index import identity_base, morpheme_index, randomize_sememes
from fairseq_see.models.tied_table_projection import TiedTableProjection
from fairseq_see.modules.embedding_factory import Dictionary, build_embedding
from fairseq_see.modules.embedding_sizes import MAX_SLOTS, SEE_PREFERENCE, pick_see_size, pick_size, ratio_note
from fairseq_see.modules.embedding_stats import format_stats
from fairseq_see.modules.low_rank_embedding import LowRankEmbedding
from fairseq_see.modules.morph_te_embedding import MorphTEEmbedding
from fairseq_see.modules.rebuilt_table_embedding import RebuiltTableEmbedding
from fairseq_see.modules.sememe_entanglement import unit_size
from fairseq_see.modules.sememe_entanglement_embedding import SememeEntanglementEmbedding
from fairseq_see.modules.tt_embedding import TTEmbedding
from fairseq_see.modules.word2ket_embedding import Word2KetEmbedding
from fairseq_see.modules.word2ket_xs_embedding import Word2KetXSEmbedding

torch.set_default_dtype(torch.float32)

ALL_TYPES = ("full", "see", "see_random", "low_rank", "word2ket", "word2ketxs", "tt", "morphte")


# ---- parameter counts and shapes ---------------------------------------------------------------

def test_parameter_counts_are_the_formulas():
    V, d = 37, 64
    assert LowRankEmbedding(V, d, 1, 5).num_parameters() == V * 5 + 5 * d
    assert Word2KetEmbedding(V, d, 1, 3, 2).num_parameters() == 2 * V * 3 * 4
    assert Word2KetEmbedding(V, 50, 1, 2, 1).num_parameters() == V * 2 * 8  # q = ceil(sqrt(50)) = 8
    assert Word2KetXSEmbedding(V, d, 1, 2, 3).num_parameters() == 2 * 3 * 7 * 8  # t = ceil(sqrt(37)) = 7
    assert Word2KetXSEmbedding(V, d, 1, 3, 2).num_parameters() == 3 * 2 * 4 * 4
    tt = TTEmbedding(V, d, 1, 3, 5)
    assert tt.vocab_factors == [3, 4, 4] and tt.dim_factors == [4, 4, 4]  # 48 >= 37 rows, 64 columns
    assert tt.num_parameters() == 1 * 3 * 4 * 5 + 5 * 4 * 4 * 5 + 5 * 4 * 4 * 1
    morph = MorphTEEmbedding(torch.zeros(V, 3, dtype=torch.long), [f"m{i}" for i in range(11)], d, 1, rank=7)
    assert morph.num_parameters() == 7 * 11 * 4 + 2 * d
    # the static formulas the ratio picker uses agree with the modules
    for module, count in ((LowRankEmbedding(V, d, 1, 5), LowRankEmbedding.count(V, d, 5)),
                          (Word2KetEmbedding(V, d, 1, 4, 2), Word2KetEmbedding.count(V, d, 4, 2)),
                          (Word2KetXSEmbedding(V, d, 1, 4, 2), Word2KetXSEmbedding.count(V, d, 4, 2)),
                          (TTEmbedding(V, d, 1, 2, 3), TTEmbedding.count(V, d, 2, 3)), (morph, morph.count(d, 3, 7, 11))):
        assert module.num_parameters() == count


@pytest.mark.parametrize("module", [
    LowRankEmbedding(23, 20, 1, 4), Word2KetEmbedding(23, 20, 1, 3, 2), Word2KetXSEmbedding(23, 20, 1, 2, 3),
    TTEmbedding(23, 20, 1, 3, 2), MorphTEEmbedding(torch.randint(0, 9, (23, 2)), list("abcdefghi"), 20, 1, 3)],
    ids=lambda m: m.kind)
def test_forward_shape_rows_and_scale(module):
    assert isinstance(module, RebuiltTableEmbedding)
    tokens = torch.tensor([[0, 5, 22], [1, 2, 3]])
    out = module(tokens)
    assert out.shape == (2, 3, 20) and module.table().shape == (23, 20)
    torch.testing.assert_close(out[0, 1], module.table()[5])
    assert (module.num_embeddings, module.embedding_dim, module.padding_idx) == (23, 20, 1)
    stats = module.stats()
    assert stats["vocab"] * stats["dim"] == 460 and stats["parameters"] == module.num_parameters()
    assert stats["kind"] == module.kind and stats["ratio"] == pytest.approx(460 / module.num_parameters())
    assert stats["live_parameters"] <= stats["parameters"] and stats["sizes"]
    assert re.fullmatch(rf"embedding \(\): type={module.kind} \|V\|=23 d=20 params={module.num_parameters()} "
                        rf"live=\d+ ratio=\d+\.\d\dx live_ratio=\d+\.\d\dx units=\d+ .+", format_stats(stats))
    # initialised at fairseq's embedding scale: rows of norm ~1
    big = type(module)
    if big is LowRankEmbedding:
        big = LowRankEmbedding(4000, 512, 1, 32)
    elif big is MorphTEEmbedding:
        big = MorphTEEmbedding(torch.randint(0, 900, (4000, 3)), [str(i) for i in range(900)], 512, 1, 7)
    else:
        big = big(4000, 512, 1, 3, 4)
    assert big.table().norm(dim=-1).mean().item() == pytest.approx(1.0, rel=0.25)


# ---- the math against naive references ----------------------------------------------------------

def test_word2ket_is_a_sum_of_kronecker_products_per_word():
    emb = Word2KetEmbedding(9, 50, 1, order=3, rank=2).double()  # q = 4, 64-dim products cut to 50
    leaves = emb.leaves  # (r, V, n, q)
    naive = torch.stack([sum(reduce(torch.kron, list(leaves[k, v])) for k in range(2))[:50] for v in range(9)])
    torch.testing.assert_close(emb.table(), naive)
    w = torch.randn(9, 50, dtype=torch.float64)
    grad_fast, = torch.autograd.grad((emb.table() * w).sum(), leaves)
    grad_slow, = torch.autograd.grad((naive * w).sum(), leaves)
    torch.testing.assert_close(grad_fast, grad_slow)


@pytest.mark.parametrize("order", [2, 3, 4])
def test_word2ketxs_is_a_sum_of_kronecker_products_of_matrices(order):
    emb = Word2KetXSEmbedding(30, 20, 1, order=order, rank=3).double()
    n, r, _, _ = emb.leaves.shape
    naive = sum(reduce(torch.kron, [emb.leaves[j, k] for j in range(n)]) for k in range(r))[:30, :20]
    torch.testing.assert_close(emb.table(), naive)


def tt_row(cores, vocab_factors, token):
    """Row of a TT-matrix by hand: digits of the token, then the chain of core slices."""
    digits = []
    for factor in reversed(vocab_factors):
        digits.append(token % factor)
        token //= factor
    digits.reverse()
    row = torch.ones(1, 1, dtype=cores[0].dtype)  # (prefix columns, rank)
    for core, digit in zip(cores, digits):
        piece = core[:, digit]  # (r_in, d_j, r_out)
        row = torch.einsum("pr,rds->pds", row, piece).reshape(-1, piece.shape[-1])
    return row.reshape(-1)


@pytest.mark.parametrize("vocab,dim,order,rank", [(30, 24, 3, 4), (50, 64, 2, 3), (17, 7, 3, 2), (40, 64, 4, 2)])
def test_tt_rows_are_chains_of_core_slices(vocab, dim, order, rank):
    emb = TTEmbedding(vocab, dim, 1, order, rank).double()
    naive = torch.stack([tt_row(list(emb.cores), emb.vocab_factors, v)[:dim] for v in range(vocab)])
    torch.testing.assert_close(emb.table(), naive)


def test_morphte_is_layer_norm_of_rank_sums_of_morpheme_products():
    ids = torch.randint(0, 6, (8, 3))
    emb = MorphTEEmbedding(ids, list("abcdef"), 27, 1, rank=4).double()  # q = 3, 27 = 3^3
    raw = torch.stack([sum(reduce(torch.kron, [emb.unit_vectors[k, u] for u in ids[v]]) for k in range(4))
                       for v in range(8)])
    torch.testing.assert_close(emb.table(), emb.layer_norm(raw))


def test_low_rank_is_the_product_of_its_factors():
    emb = LowRankEmbedding(11, 16, 1, 3)
    torch.testing.assert_close(emb.table(), emb.weight_in @ emb.weight_out)


def test_eval_cache_is_shared_by_every_type():
    for emb in (LowRankEmbedding(11, 16, 1, 3), TTEmbedding(11, 16, 1, 2, 2), Word2KetXSEmbedding(11, 16, 1, 2, 2)):
        emb.eval()
        with torch.no_grad():
            first = emb.table()
            assert emb.table() is first and first.is_contiguous()
            next(emb.parameters()).add_(0.1)
            assert emb.table() is not first
        emb.train()
        table = emb.table()
        assert emb.table() is table  # one rebuild per training forward
        table.sum().backward()
        assert emb.table() is not table


# ---- the ratio picker ------------------------------------------------------------------------------

def brute_force_ratios(kind, vocab, dim):
    """Every achievable ratio of a type over a wide grid of sizes."""
    full = vocab * dim
    if kind == "word2ket":
        return [full / Word2KetEmbedding.count(vocab, dim, n, r) for n in range(2, 10) for r in range(1, 6)
                if unit_size(dim, n) ** n < 2 * dim]


@pytest.mark.parametrize("kind,ratio", [(kind, ratio) for kind in ("low_rank", "word2ketxs", "tt")
                                        for ratio in (10, 20, 80)] + [("morphte", 10), ("morphte", 20)])
def test_ratio_picker_hits_the_request(kind, ratio):
    # (morphte's rank is whole tables of |M| units: at 80x with |M| 5,000 the nearest ranks are 68x and 102x)
    vocab, dim = 16000, 512
    units = 5000 if kind == "morphte" else None
    config, params, achieved = pick_size(kind, vocab, dim, ratio, order=3 if kind != "low_rank" else None,
                                         units=units)
    assert achieved == pytest.approx(ratio, rel=0.05)
    assert achieved == pytest.approx(vocab * dim / params)


@pytest.mark.parametrize("ratio", [20, 80])
def test_ratio_picker_gets_as_near_as_a_coarse_type_can(ratio):
    # word2ket cannot go beyond ~28x at d 512 and SEE's tables come in whole units: the nearest wins
    vocab, dim = 16000, 512
    _, _, achieved = pick_size("word2ket", vocab, dim, ratio, order=3)
    best = min(brute_force_ratios("word2ket", vocab, dim), key=lambda x: abs(math.log(x / ratio)))
    assert abs(math.log(achieved / ratio)) <= abs(math.log(best / ratio)) + 1e-9


@pytest.mark.parametrize("ratio", [20, 40, 80])
def test_see_picker_prices_identity_ranks_against_shared_units(ratio):
    # a side of 16k tokens at d 512 whose semantic slots read 12,000/min_readers shared rows per table and slot
    vocab, dim = 16000, 512

    def row_count(order, rank, tables, identity_ranks, min_readers):
        semantic = rank - identity_ranks
        shared = 12000 // min_readers  # fewer units are read by many tokens
        return shared * min(semantic, tables) + identity_ranks * order * identity_base(vocab, order)

    config, params, achieved = pick_see_size(row_count, vocab, dim, ratio)
    assert achieved == pytest.approx(ratio, rel=0.05) and achieved == pytest.approx(vocab * dim / params)
    assert (config["order"], config["rank"] - config["identity_ranks"], config["tables"]) in SEE_PREFERENCE
    assert 1 <= config["identity_ranks"] < config["rank"] <= MAX_SLOTS
    assert params == SememeEntanglementEmbedding.count(dim, config["order"], row_count(
        config["order"], config["rank"], config["tables"], config["identity_ranks"], config["min_readers"]))
    # a fixed order is kept; a ratio no size reaches gets the nearest (here: the fewest identity ranks)
    assert pick_see_size(row_count, vocab, dim, ratio, order=4)[0]["order"] == 4
    config, _, achieved = pick_see_size(row_count, vocab, dim, 10000)
    assert config["identity_ranks"] == 1 and achieved < 10000
    # a budget the shared units alone would exceed (6k tokens, d 64, 80x): only widely shared units stay
    config, _, achieved = pick_see_size(row_count, 6000, 64, 20)
    assert (config["order"], config["rank"] - config["identity_ranks"], config["tables"]) == SEE_PREFERENCE[0]
    config, _, achieved = pick_see_size(row_count, 6000, 64, 80)
    assert config["min_readers"] > 2 and achieved == pytest.approx(80, rel=0.05)


def test_see_max_slots_lets_the_picker_buy_identity_ranks_instead_of_shared_units():
    """A budget that 16 slots spend on shared units (min_readers 2) goes to identity ranks once more slots
    are allowed; the sizes stay within the cap, and a cap below 2 is refused in one line."""
    vocab, dim = 6000, 128

    def row_count(order, rank, tables, identity_ranks, min_readers):
        shared = 1300 * 2 // min_readers + 100
        return shared * min(rank - identity_ranks, tables) + identity_ranks * order * identity_base(vocab, order)

    capped, params, _ = pick_see_size(row_count, vocab, dim, 11.19)
    assert capped["rank"] <= MAX_SLOTS
    wide, wide_params, achieved = pick_see_size(row_count, vocab, dim, 11.19, max_slots=40)
    assert achieved == pytest.approx(11.19, rel=0.05) and 16 < wide["rank"] <= 40
    assert wide["identity_ranks"] > capped["identity_ranks"]
    narrow, _, narrow_achieved = pick_see_size(row_count, vocab, dim, 11.19, max_slots=4)
    assert narrow["rank"] <= 4
    # the line says it is the cap that falls short (not the type), and the way out
    note = ratio_note("target", "see", 11.19, narrow_achieved, narrow, max_slots=4)
    assert narrow_achieved > 11.19 * 1.05 and "(nearest within --see-max-slots 4: " in note
    assert "a larger --see-max-slots reaches it" in note and "out of its reach" not in note
    assert "out of its reach" in ratio_note("target", "see", 10000, 400.0, capped, max_slots=MAX_SLOTS)
    with pytest.raises(UserInputError, match=r"--see-max-slots 1: expected a whole number >= 2"):
        pick_see_size(row_count, vocab, dim, 20, max_slots=1)


def test_built_baseline_reports_the_picked_ratio():
    symbols = ["<s>", "<pad>", "</s>", "<unk>"] + [f"▁w{i}" for i in range(2000)]
    emb, stats, (note,) = build_embedding("low_rank", "target", Dictionary(symbols, [1] * len(symbols), 1), 64,
                                          ratio=20)
    assert "requested=20.00x achieved=" in note and stats["ratio"] == pytest.approx(20, rel=0.05)
    achieved = float(re.search(r"achieved=([\d.]+)x", note).group(1))
    assert achieved == pytest.approx(len(symbols) * 64 / emb.num_parameters(), abs=0.01)
    assert achieved == pytest.approx(20, rel=0.05)


@pytest.mark.parametrize("kind", ["word2ketxs", "tt"])
def test_dense_rows_go_to_the_most_frequent_tokens_and_count_in_the_ratio(kind):
    symbols = ["<s>", "<pad>", "</s>", "<unk>"] + [f"▁w{i}" for i in range(2000)]
    counts = [0, 10 ** 6, 10 ** 5, 0] + [1 + (i * 7919) % 1000 for i in range(2000)]  # padding's count is ignored
    dictionary = Dictionary(symbols, counts, 1)
    emb, stats, notes = build_embedding(kind, "target", dictionary, 64, ratio=20, dense_rows=50)
    expected = sorted((v for v in range(len(symbols)) if v != 1), key=lambda v: (-counts[v], v))[:50]
    assert emb.dense_ids.tolist() == expected and 2 in expected and 1 not in expected
    # the ratio counts the dense rows: compressor and rows together reach the request
    assert stats["ratio"] == pytest.approx(20, rel=0.05) and stats["sizes"]["dense_rows"] == 50
    assert stats["parameters"] == emb.num_parameters() == emb.live_parameters()
    assert re.search(r"dense rows \(target\): the 50 most frequent tokens \(\d+\.\d% of the dictionary's counts\) "
                     rf"have rows of their own, 3200 parameters; {kind} sized for 39\.92x beside them", notes[-1])
    # the rows start at zero and are added to the rebuilt ones, for those tokens only
    with torch.no_grad():
        torch.testing.assert_close(emb.compose_table(), emb.build_table())
        emb.dense_rows[3] = 1.0
        difference = emb.compose_table() - emb.build_table()
    others = [v for v in range(len(symbols)) if v != expected[3]]
    torch.testing.assert_close(difference[expected[3]], torch.ones(64))
    assert difference[others].abs().max() < 1e-6
    emb.table()[expected[:5]].sum().backward()
    assert emb.dense_rows.grad[:5].eq(1).all() and emb.dense_rows.grad[5:].eq(0).all()


def test_dense_rows_offset_moves_them_past_the_most_frequent_tokens():
    """--dense-rows-offset N: the K tokens after the N most frequent get the rows (the middle of the
    vocabulary); the note names the ranks; a K beyond what is left after N is refused in one line."""
    symbols = ["<s>", "<pad>", "</s>", "<unk>"] + [f"▁w{i}" for i in range(200)]
    counts = [0, 10 ** 6, 10 ** 5, 0] + [1000 - i for i in range(200)]
    dictionary = Dictionary(symbols, counts, 1)
    emb, stats, notes = build_embedding("word2ketxs", "target", dictionary, 64, dense_rows=10, dense_offset=5)
    by_rank = sorted((v for v in range(len(symbols)) if v != 1), key=lambda v: (-counts[v], v))
    assert emb.dense_ids.tolist() == by_rank[5:15] and 2 not in emb.dense_ids.tolist()
    assert re.match(r"dense rows \(target\): the 10 tokens of frequency ranks 6-15 \(\d+\.\d% ", notes[-1]), notes[-1]
    with pytest.raises(UserInputError, match=r"--dense-rows 200 after --dense-rows-offset 5: expected 1 to 198"):
        build_embedding("word2ketxs", "target", dictionary, 64, dense_rows=200, dense_offset=5)
    with pytest.raises(UserInputError, match=r"--dense-rows-offset -1: expected a whole number >= 0"):
        build_embedding("word2ketxs", "target", dictionary, 64, dense_rows=10, dense_offset=-1)


def test_tied_output_bias_counts_in_the_ratio():
    """--tied-output-bias with a ratio: the |V| bias parameters are part of the budget, so the compressor is
    sized for what is left and the whole table still reaches the request."""
    symbols = ["<s>", "<pad>", "</s>", "<unk>"] + [f"▁w{i}" for i in range(2000)]
    dictionary = Dictionary(symbols, [1] * len(symbols), 1)
    plain = build_embedding("word2ketxs", "target", dictionary, 64, ratio=20)[1]
    emb, stats, notes = build_embedding("word2ketxs", "target", dictionary, 64, ratio=20, output_bias=True)
    assert stats["ratio"] == pytest.approx(20, rel=0.05) and stats["sizes"]["output_bias"] is True
    assert stats["parameters"] == emb.num_parameters() and emb.output_bias.numel() == len(symbols)
    assert stats["parameters"] - len(symbols) < plain["parameters"]  # the compressor gave up the bias's share
    assert notes[-1] == "tied output bias (target): 2004 parameters; word2ketxs sized for 29.09x beside them"
    tiny = Dictionary(symbols[:200], [1] * 200, 1)
    with pytest.raises(ValueError, match=r"--tied-output-bias: at --embedding-compression-ratio 64 a table of "
                                         r"\|V\| 200 may have 3 rows' worth .*, no output bias or a lower ratio"):
        build_embedding("word2ketxs", "target", tiny, 64, ratio=64, output_bias=True)


def test_dense_rows_beyond_the_budget_or_the_vocabulary_are_refused():
    symbols = ["<s>", "<pad>", "</s>", "<unk>"] + [f"▁w{i}" for i in range(196)]
    dictionary = Dictionary(symbols, [1] * len(symbols), 1)
    with pytest.raises(ValueError, match=r"--dense-rows 10: at --embedding-compression-ratio 20 a table of \|V\| 200 "
                                         r"may have 10 rows' worth of parameters in all; use fewer dense rows"):
        build_embedding("word2ketxs", "source", dictionary, 64, ratio=20, dense_rows=10)
    with pytest.raises(ValueError, match=r"--dense-rows 200: expected 1 to 199"):
        build_embedding("word2ketxs", "source", dictionary, 64, dense_rows=200)


# ---- in a see_transformer: every type, tied output, log line, checkpoints ------------------------------

def embedding_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("embedding (")]


@pytest.mark.parametrize("kind", ALL_TYPES)
def test_every_type_in_a_see_transformer_with_tied_output(data_dir, caplog, kind):
    with caplog.at_level(logging.INFO):
        _, model = build(data_dir, "--encoder-embedding-type", kind, "--decoder-embedding-type", kind,
                      "--word2ketxs-rank", "2", "--tt-rank", "2", "--low-rank-dim", "4")
    src = torch.tensor([[4, 5, 6, 2], [7, 8, 2, 1]])
    prev = torch.tensor([[2, 4, 5], [2, 6, 7]])
    logits, _ = model(src, torch.tensor([4, 3]), prev)
    assert logits.shape == (2, 3, 10)
    embed = model.decoder.embed_tokens
    if kind == "full":
        assert model.decoder.output_projection.weight is embed.weight
    else:
        # tied: no |V| x d matrix anywhere, the logits are features @ the rebuilt table
        assert isinstance(model.decoder.output_projection, TiedTableProjection)
        assert not [n for n in model.state_dict() if "output_projection" in n]
        assert not [n for n, p in model.named_parameters() if p.dim() == 2 and p.shape == (10, 64)]
        model.eval()
        with torch.no_grad():
            features, _ = model.decoder.extract_features(prev, model.encoder(src, torch.tensor([4, 3])))
            torch.testing.assert_close(model(src, torch.tensor([4, 3]), prev)[0], features @ embed.table().t())
        model.train()
    logits.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in embed.parameters() if p.dim() > 1)
    lines = embedding_lines(caplog)
    assert len(lines) == 2
    for line, side, module in zip(lines, ("source", "target"), (model.encoder.embed_tokens, embed)):
        params = sum(p.numel() for p in module.parameters())
        assert re.match(rf"embedding \({side}\): type={kind} \|V\|=10 d=64 params={params} live=\d+ "
                        rf"ratio=\d+\.\d\dx", line), line
        assert model.embedding_stats[side]["parameters"] == params


@pytest.mark.parametrize("kind,dense", [("morphte", 0), ("tt", 0), ("see_random", 0), ("word2ket", 0), ("see", 3)])
def test_a_checkpoint_rebuilds_the_same_tables(data_dir, kind, dense):
    options = ("--encoder-embedding-type", kind, "--decoder-embedding-type", kind, "--tt-rank", "2",
               "--dense-rows", str(dense))
    _, trained = build(data_dir, *options)
    if dense:
        with torch.no_grad():
            trained.decoder.embed_tokens.dense_rows.normal_()
    torch.manual_seed(123)  # a different initialisation
    _, fresh = build(data_dir, *options)
    fresh.load_state_dict(trained.state_dict())
    trained.eval(), fresh.eval()
    with torch.no_grad():
        torch.testing.assert_close(fresh.decoder.embed_tokens.table(), trained.decoder.embed_tokens.table())
        torch.testing.assert_close(fresh.encoder.embed_tokens.table(), trained.encoder.embed_tokens.table())


def test_compression_ratio_option_picks_and_logs(data_dir, caplog):
    with caplog.at_level(logging.INFO):
        _, model = build(data_dir, "--encoder-embedding-type", "low_rank", "--decoder-embedding-type", "see",
                      "--embedding-compression-ratio", "8")
    notes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("embedding compression")]
    assert len(notes) == 2
    assert re.match(r"embedding compression \(source\): type=low_rank requested=8.00x achieved=\d+\.\d\dx with rank=\d",
                    notes[0])
    assert "type=see requested=8.00x" in notes[1] and "tables=" in notes[1]
    assert model.encoder.embed_tokens.weight_in.shape == (10, 1)  # 10*64 / (10*1 + 64) = 8.6x


# ---- see_random's index ------------------------------------------------------------------------------

def random_lexicon(words, sememes=60, seed=0):
    rng = np.random.default_rng(seed)
    names = [f"s{i}|义{i}" for i in range(sememes)]
    entries = {}
    for w in words:
        senses = tuple(tuple(rng.choice(names, size=rng.integers(1, 4), replace=False).tolist())
                       for _ in range(rng.integers(1, 4)))
        entries[w] = Entry(senses=senses)
    return Lexicon("random", entries=entries)


def sememes_per_word(index):
    sememe = np.array(["/sem:" in u for u in index.units])
    return [{int(u) for u in index.unit_ids[v].ravel() if sememe[u]} for v in range(len(index.unit_ids))]


def test_see_random_keeps_counts_and_changes_identities_deterministically():
    words = [f"词{chr(0x4e00 + i)}" for i in range(200)]
    symbols = ["<s>", "<pad>", "</s>", "<unk>"] + words + ["▁run", "跑步机"]
    index = build_index(symbols, [1] * len(symbols), random_lexicon(words[:150]), order=3, rank=4, tables=2)
    shuffled = randomize_sememes(index, seed=7)
    assert randomize_sememes(index, seed=7).unit_ids.tolist() == shuffled.unit_ids.tolist()
    assert randomize_sememes(index, seed=8).unit_ids.tolist() != shuffled.unit_ids.tolist()
    before, after = sememes_per_word(index), sememes_per_word(shuffled)
    assert [len(s) for s in before] == [len(s) for s in after]  # each word keeps its sememe count
    assert sum(b != a for b, a in zip(before, after)) > 0.9 * sum(1 for b in before if b)
    # a sememe row stays in its table
    table = np.array([u.split("/")[0] for u in index.units])
    assert (table[shuffled.unit_ids] == table[index.unit_ids]).all()
    # everything that is not a sememe stays: morphemes, identity units, specials, inventory
    sememe = np.array(["/sem:" in u for u in index.units])
    keep = ~sememe[index.unit_ids]
    assert (shuffled.unit_ids[keep] == index.unit_ids[keep]).all() and shuffled.units == index.units
    assert shuffled.checksum == index.checksum and shuffled.meta["randomized_seed"] == 7


def test_morpheme_index_is_morphte_s():
    """Morphemes only, the word-start marker a morpheme of its own, per-position pads (MorphTE)."""
    symbols = ["<s>", "<pad>", "</s>", "<unk>", "▁苹果", "梨", "▁run", "run", "自由贸易区"]
    ids, units = morpheme_index(symbols, order=3)
    assert ids.shape == (9, 3) and not [u for u in units if u.startswith("sem:")]
    assert [units[u] for u in ids[8]] == ["mor:自", "mor:由", "mor:区"]
    assert [units[u] for u in ids[6]] == ["mor:▁", "mor:run", "pad.2"]
    assert [units[u] for u in ids[7]] == ["mor:run", "pad.1", "pad.2"]
    assert [units[u] for u in ids[1]] == ["sym:<pad>", "pad.1", "pad.2"]


def test_see_identity_ranks_zero_is_refused_not_defaulted(data_dir):
    from fairseq_see.lexicon import LexiconError
    with pytest.raises(LexiconError, match="--see-identity-ranks must be between 1 and --see-rank"):
        build(data_dir, "--see-identity-ranks", "0")


def test_see_min_readers_below_one_is_refused(data_dir):
    from fairseq_see.lexicon import LexiconError
    for value in ("0", "-3"):
        with pytest.raises(LexiconError, match=rf"--see-min-readers must be >= 1 \(got {value}\)"):
            build(data_dir, "--see-min-readers", value)


def test_each_side_can_have_its_own_ratio(data_dir, caplog):
    with caplog.at_level(logging.INFO):
        _, model = build(data_dir, "--encoder-embedding-type", "low_rank", "--decoder-embedding-type", "low_rank",
                         "--embedding-compression-ratio", "8", "--decoder-embedding-compression-ratio", "4")
    notes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("embedding compression")]
    assert "(source): type=low_rank requested=8.00x" in notes[0] and "(target): type=low_rank requested=4.00x" in notes[1]
    # 10*64 / (10*e + e*64): e 1 on the source (8.6x), e 2 on the target (4.3x)
    assert model.encoder.embed_tokens.weight_in.shape == (10, 1) and model.decoder.embed_tokens.weight_in.shape == (10, 2)


def test_each_side_can_have_its_own_dense_rows(data_dir):
    """--encoder-/--decoder-dense-rows K: a side's own dense rows instead of --dense-rows there (0: none);
    a refusal names the option that asked."""
    word2ketxs = ("--encoder-embedding-type", "word2ketxs", "--decoder-embedding-type", "word2ketxs")
    _, model = build(data_dir, *word2ketxs, "--decoder-dense-rows", "3")
    assert model.encoder.embed_tokens.dense_rows is None and model.decoder.embed_tokens.dense_rows.shape == (3, 64)
    _, model = build(data_dir, *word2ketxs, "--dense-rows", "2", "--encoder-dense-rows", "0")
    assert model.encoder.embed_tokens.dense_rows is None and model.decoder.embed_tokens.dense_rows.shape == (2, 64)
    assert model.decoder.embed_tokens.stats()["sizes"]["dense_rows"] == 2
    with pytest.raises(UserInputError, match=r"--decoder-dense-rows 12: expected 1 to 9"):
        build(data_dir, *word2ketxs, "--dense-rows", "2", "--decoder-dense-rows", "12")
    with pytest.raises(UserInputError, match=r"--encoder-dense-rows 4: at --embedding-compression-ratio 4 a table of "
                                             r"\|V\| 10 may have 2 rows' worth"):
        build(data_dir, *word2ketxs, "--embedding-compression-ratio", "4", "--encoder-dense-rows", "4")


def test_target_budget_share_splits_the_ratio_over_both_tables(data_dir, caplog):
    """--target-budget-share F: (10*64 + 10*64)/4 = 320 parameters in all, 80% on the target: source
    640/64 = 10x, target 640/256 = 2.5x (low_rank e 1 and e 3, the picker's nearest)."""
    low_rank = ("--encoder-embedding-type", "low_rank", "--decoder-embedding-type", "low_rank")
    with caplog.at_level(logging.INFO):
        _, model = build(data_dir, *low_rank, "--embedding-compression-ratio", "4", "--target-budget-share", "0.8")
    messages = [r.getMessage() for r in caplog.records]
    assert ("embedding budget: --embedding-compression-ratio 4 over both tables, 0.8 of it to the target: "
            "source 10.00x, target 2.50x") in messages
    assert model.encoder.embed_tokens.weight_in.shape == (10, 1) and model.decoder.embed_tokens.weight_in.shape == (10, 3)
    refusals = {
        ("--embedding-compression-ratio", "4", "--target-budget-share", "1.2"):
            r"--target-budget-share 1.2: expected a fraction between 0 and 1",
        ("--embedding-compression-ratio", "4", "--target-budget-share", "0.8", "--decoder-embedding-compression-ratio", "3"):
            r"give that ratio, without --decoder-embedding-compression-ratio",
        ("--target-budget-share", "0.8", "--low-rank-dim", "2"): r"splits --embedding-compression-ratio's budget",
        ("--embedding-compression-ratio", "1.5", "--target-budget-share", "0.99"):
            r"the target table would get more parameters than a full one \(0\.76x\)",
    }
    for options, message in refusals.items():
        with pytest.raises(UserInputError, match=message):
            build(data_dir, *low_rank, *options)
    with pytest.raises(UserInputError, match="needs both sides compressed; --encoder-embedding-type is full"):
        build(data_dir, "--encoder-embedding-type", "full", "--decoder-embedding-type", "low_rank",
              "--embedding-compression-ratio", "4", "--target-budget-share", "0.8")
