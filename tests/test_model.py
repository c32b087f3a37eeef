import logging
import re

import pytest
import torch

from conftest import build

def batch(model):
    src = torch.tensor([[4, 5, 6, 2], [7, 8, 2, 1]])
    prev = torch.tensor([[2, 4, 5], [2, 6, 7]])
    return model(src, torch.tensor([4, 3]), prev)


def test_see_transformer_forward_and_tied_output(data_dir, caplog):
    from fairseq_see.modules.sememe_entanglement_embedding import SememeEntanglementEmbedding
    with caplog.at_level(logging.INFO):
        _, model = build(data_dir)
    logits, _ = batch(model)
    assert logits.shape == (2, 3, 10)
    assert isinstance(model.encoder.embed_tokens, SememeEntanglementEmbedding)
    assert isinstance(model.decoder.embed_tokens, SememeEntanglementEmbedding)
    # no |V| x d table anywhere: the output projection is the rebuilt decoder table
    assert not [n for n, p in model.named_parameters() if p.dim() == 2 and p.shape[0] == 10]
    logits.sum().backward()
    assert model.decoder.embed_tokens.unit_vectors.grad.abs().sum() > 0
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("embedding (")]
    assert len(lines) == 2
    assert re.fullmatch(r"embedding \(source\): type=see \|V\|=10 d=64 params=\d+ live=\d+ ratio=\d+\.\d\dx "
                        r"live_ratio=\d+\.\d\dx units=\d+ coverage=33\.3% order=3 rank=4 tables=1 q=4", lines[0])
    assert lines[1].startswith("embedding (target): type=see |V|=10 d=64")
    # the same figures as data, which the task keeps in its state (saved in every checkpoint)
    source = model.embedding_stats["source"]
    # 吃 and 好 have sememes only they read (dropped: a unit of one token); 苹果 and 梨 share theirs
    assert source["coverage"] == pytest.approx(2 / 6) and source["parameters"] == model.encoder.embed_tokens.num_parameters()


def test_index_travels_in_the_state_dict(data_dir):
    _, model = build(data_dir)
    state = model.state_dict()
    assert state["encoder.embed_tokens.unit_ids"].shape == (10, 4, 3)
    assert state["encoder.embed_tokens.unit_ids"].dtype == torch.uint8  # a tiny table: 8 bits hold its rows
    assert "t0/sem:水果" in state["encoder.embed_tokens._extra_state"]["units"]


def test_see_init_reaches_both_sides(data_dir):
    """--see-init: sum by default (units of std (R d)^(-1/2o)), unit on request (std q^-1/2), both sides."""
    _, default = build(data_dir)
    _, unit = build(data_dir, "--see-init", "unit")
    for side in ("encoder", "decoder"):
        embedding = getattr(default, side).embed_tokens
        assert embedding.init == "sum"
        # the tiny fixture's sizes: order 3, rank 4, d 64 (q 4)
        assert embedding.unit_vectors.std().item() == pytest.approx((4 * 64) ** (-1 / 6), rel=0.25)
        assert getattr(unit, side).embed_tokens.init == "unit"
        assert getattr(unit, side).embed_tokens.unit_vectors.std().item() == pytest.approx(4 ** -0.5, rel=0.25)


def test_tied_output_bias_is_a_counted_target_parameter(data_dir):
    _, model = build(data_dir, "--tied-output-bias")
    bias = model.decoder.embed_tokens.output_bias
    assert bias.shape == (10,) and model.encoder.embed_tokens.output_bias is None
    with torch.no_grad():
        bias[5] = 3.0
    model.eval()
    with torch.no_grad():
        features, _ = model.decoder.extract_features(torch.tensor([[2, 4]]), model.encoder(
            torch.tensor([[4, 5, 2]]), torch.tensor([3])))
        logits = model.decoder.output_layer(features)
        torch.testing.assert_close(logits, features @ model.decoder.embed_tokens.table().t() + bias)
    target = model.embedding_stats["target"]
    assert target["parameters"] == model.decoder.embed_tokens.num_parameters() and target["sizes"]["output_bias"]


def test_each_side_switches_to_a_full_table(data_dir):
    _, model = build(data_dir, "--encoder-embedding-type", "full", "--see-order", "2", "--see-rank", "2")
    assert type(model.encoder.embed_tokens) is torch.nn.Embedding
    assert model.decoder.embed_tokens.unit_ids.shape == (10, 2, 2)
    logits, _ = batch(model)
    assert logits.shape == (2, 3, 10)


def test_needs_the_sememe_task(data_dir):
    with pytest.raises(ValueError, match="needs --task translation_sememe"):
        build(data_dir, task="translation")


def test_bad_order_is_one_line(data_dir):
    with pytest.raises(ValueError, match="--see-order 7 does not fit embedding dimension 64"):
        build(data_dir, "--see-order", "7")
