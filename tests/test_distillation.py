import math

import pytest
import torch
import torch.nn.functional as F

from conftest import build, parse_args, write_dictionary
from fairseq_see.criterions.see_distillation import kd_loss, masked_mse, table_mse
from fairseq_see.distillation import fit_tables_to_teacher, init_student_from_teacher

FULL = ("--encoder-embedding-type", "full", "--decoder-embedding-type", "full")


def test_masked_mse_by_hand():
    student = torch.tensor([[[1.0, 2.0]], [[3.0, 5.0]]])  # (T=2, B=1, C=2)
    teacher = torch.tensor([[[0.0, 0.0]], [[3.0, 1.0]]])
    keep = torch.tensor([[True], [True]])
    assert masked_mse(student, teacher, keep).item() == pytest.approx(((1 + 4) / 2 + (0 + 16) / 2) / 2)
    assert masked_mse(student, teacher, torch.tensor([[False], [True]])).item() == pytest.approx(8.0)


def test_table_mse_skips_the_padding_row():
    student = torch.nn.Embedding(3, 2)
    teacher = torch.nn.Embedding(3, 2)
    with torch.no_grad():
        student.weight.copy_(torch.tensor([[1.0, 1.0], [9.0, 9.0], [0.0, 2.0]]))
        teacher.weight.copy_(torch.tensor([[0.0, 1.0], [0.0, 0.0], [0.0, 0.0]]))
    assert table_mse(student, teacher, padding_idx=1).item() == pytest.approx((1 + 0 + 0 + 4) / 4)


def test_kd_loss_is_temperature_scaled_kl():
    g = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(2, 3, 5, generator=g), torch.randn(2, 3, 5, generator=g)
    keep = torch.tensor([[True, True, False], [True, False, False]])
    for temperature in (1.0, 2.0):
        p = F.softmax(teacher / temperature, -1)
        by_hand = sum((p[b, t] * (p[b, t].log() - F.log_softmax(student[b, t] / temperature, -1))).sum()
                      for b in range(2) for t in range(3) if keep[b, t]) * temperature ** 2
        assert kd_loss(student, teacher, temperature, keep).item() == pytest.approx(by_hand.item(), rel=1e-5)
    assert kd_loss(teacher, teacher, 1.0, keep).item() == pytest.approx(0.0, abs=1e-6)


def save_teacher(data_dir, path, *extra):
    """A real fairseq checkpoint of a see_transformer_tiny with plain tables (a normal transformer)."""
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    args = parse_args(data_dir, *FULL, *extra)
    _, teacher = build(data_dir, *FULL, *extra)
    history = [{"criterion_name": "LabelSmoothedCrossEntropyCriterion", "optimizer_name": "Adam",
                "lr_scheduler_state": {"best": None}, "num_updates": 0}]
    torch.save({"cfg": convert_namespace_to_omegaconf(args), "model": teacher.state_dict(),
                "optimizer_history": history, "extra_state": {}, "last_optimizer_state": None}, path)
    return teacher


def test_init_student_copies_exactly_the_non_embedding_tensors(data_dir):
    _, teacher = build(data_dir, *FULL)
    _, student = build(data_dir)
    copied, kept = init_student_from_teacher(student, teacher)
    teacher_state, student_state = teacher.state_dict(), student.state_dict()
    expected = sorted(n for n in student_state if ".embed_tokens." not in n and n in teacher_state)
    assert copied == expected
    assert kept == ["encoder.embed_tokens.unit_vectors", "encoder.embed_tokens.layer_norm.weight",
                    "encoder.embed_tokens.layer_norm.bias", "decoder.embed_tokens.unit_vectors",
                    "decoder.embed_tokens.layer_norm.weight", "decoder.embed_tokens.layer_norm.bias"]
    for name in copied:
        assert torch.equal(student_state[name], teacher_state[name]), name


def test_init_student_names_the_first_architecture_mismatch(data_dir):
    _, teacher = build(data_dir, *FULL)
    _, deeper = build(data_dir, "--decoder-layers", "3")
    with pytest.raises(ValueError, match=r"decoder.layers.2.\S+ is missing from the teacher"):
        init_student_from_teacher(deeper, teacher)
    _, wider = build(data_dir, "--encoder-ffn-embed-dim", "32")
    with pytest.raises(ValueError, match=r"decoder.layers.0.fc1.bias is \(32,\) in the student but \(64,\)"):
        init_student_from_teacher(wider, teacher)


def sample_batch():
    src = torch.tensor([[4, 5, 6, 2], [1, 7, 8, 2]])  # left-padded, as fairseq batches sources
    prev = torch.tensor([[2, 4, 5, 6], [2, 7, 8, 1]])
    target = torch.tensor([[4, 5, 6, 2], [7, 8, 2, 1]])
    return {"net_input": {"src_tokens": src, "src_lengths": torch.tensor([4, 3]), "prev_output_tokens": prev},
            "target": target, "ntokens": 7, "id": torch.tensor([0, 1])}


def criterion_for(data_dir, teacher_path, *options):
    from fairseq import tasks
    args = parse_args(data_dir, "--criterion", "see_distillation", "--teacher-checkpoint", str(teacher_path),
                      "--label-smoothing", "0.1", *options)
    task = tasks.setup_task(args)
    model = task.build_model(args)
    return task, model, task.build_criterion(args)


def test_stage_losses_combine_as_documented(data_dir, tmp_path):
    teacher = save_teacher(data_dir, tmp_path / "teacher.pt")
    task, model, criterion = criterion_for(data_dir, tmp_path / "teacher.pt", "--distill-stage", "2",
                                           "--kd-alpha", "0.3", "--kd-temperature", "2")
    assert not any(n.startswith("teacher") for n in criterion.state_dict())  # never saved with the student
    sample = sample_batch()
    model.train()
    torch.manual_seed(0)
    loss, sample_size, log = criterion(model, sample)
    assert sample_size == 7
    assert loss.item() == pytest.approx(0.3 * log["kd"].item() + 0.7 * log["ce"].item(), rel=1e-5)
    teacher.eval()
    with torch.no_grad():
        model.eval()
        student_logits = model(**sample["net_input"])[0]
        teacher_logits = teacher(**sample["net_input"])[0]
    keep = sample["net_input"]["prev_output_tokens"].ne(1)
    # dropout is off in both when compared in eval mode; tiny models have dropout 0.1, so compare eval
    eval_kd = kd_loss(student_logits, teacher_logits, 2.0, keep)
    assert eval_kd.item() > 0
    # validation: the student's own label-smoothed CE, no teacher term
    val_loss, _, val_log = criterion(model, sample)
    assert "kd" not in val_log
    lprobs = F.log_softmax(student_logits, -1).view(-1, 10)
    target = sample["target"].view(-1)
    nll = F.nll_loss(lprobs, target, ignore_index=1, reduction="sum")
    assert val_log["nll_loss"].item() == pytest.approx(nll.item(), rel=1e-5)

    _, model1, stage1 = criterion_for(data_dir, tmp_path / "teacher.pt", "--distill-stage", "1",
                                      "--embed-mse-weight", "2", "--hidden-mse-weight", "0.5")
    model1.train()
    loss, _, log = stage1(model1, sample)
    assert loss.item() == pytest.approx(2 * log["embed_mse"].item() + 0.5 * log["hidden_mse"].item(), rel=1e-5)
    assert log["embed_mse"].item() > 0 and log["hidden_mse"].item() > 0


def test_teacher_with_other_dictionaries_is_refused(data_dir, tmp_path):
    other = tmp_path / "other"
    write_dictionary(other / "dict.zh.txt", ["▁别的", "▁词"])
    write_dictionary(other / "dict.en.txt", ["▁other"])
    (other / "lex.txt").write_text("别的\n其他 \n", encoding="utf-8")
    save_teacher(other, tmp_path / "teacher.pt")
    with pytest.raises(ValueError, match=r"teacher .*teacher.pt was trained with .*other/dict.zh.txt, which "
                                         r"differs from .*dict.zh.txt"):
        criterion_for(data_dir, tmp_path / "teacher.pt", "--distill-stage", "2")
    with pytest.raises(ValueError, match="missing.pt: teacher checkpoint not found"):
        criterion_for(data_dir, tmp_path / "missing.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="corrupt.pt: not a readable fairseq checkpoint"):
        criterion_for(data_dir, tmp_path / "corrupt.pt")


def test_loss_units_are_logged_in_base_2():
    from fairseq.logging import metrics
    from fairseq_see.criterions.see_distillation import SEEDistillationCriterion
    logs = [{"loss": torch.tensor(7.0), "nll_loss": torch.tensor(7.0), "ce": torch.tensor(7.0),
             "kd": torch.tensor(math.log(2) * 7), "ntokens": 7, "nsentences": 2, "sample_size": 7}]
    with metrics.aggregate() as agg:
        SEEDistillationCriterion.reduce_metrics(logs)
    values = agg.get_smoothed_values()
    assert values["kd"] == pytest.approx(1.0) and values["ce"] == pytest.approx(1 / math.log(2), rel=1e-3)
    assert "embed_mse" not in values


@pytest.mark.parametrize("kind", ["morphte", "word2ketxs", "tt"])
def test_stage_1_distils_every_other_compressor(data_dir, tmp_path, kind):
    """The recipe distils morphte, word2ketxs and tt as it does SEE: the transformer copied from the
    teacher and frozen, the table MSE reaching the compressor's own parameters."""
    teacher = save_teacher(data_dir, tmp_path / "teacher.pt")
    types = ("--encoder-embedding-type", kind, "--decoder-embedding-type", kind)
    _, student, stage1 = criterion_for(data_dir, tmp_path / "teacher.pt", *types, "--distill-stage", "1",
                                       "--init-student-from-teacher", "--freeze-non-embedding")
    teacher_state = teacher.state_dict()
    for name, tensor in student.state_dict().items():
        if ".embed_tokens." not in name and not name.endswith("._extra_state"):
            assert torch.equal(tensor, teacher_state[name]), name
    trainable = {n for n, p in student.named_parameters() if p.requires_grad}
    assert trainable and all(".embed_tokens." in n for n in trainable), trainable
    student.train()
    loss, _, log = stage1(student, sample_batch())
    assert math.isfinite(loss.item()) and log["embed_mse"].item() > 0
    loss.backward()
    grads = {n: p.grad for n, p in student.named_parameters() if n in trainable}
    assert all(g is not None and g.abs().sum() > 0 for g in grads.values()), grads.keys()


def test_fit_tables_moves_only_the_tables_towards_the_teachers_by_count(data_dir, tmp_path):
    """--fit-tables-steps: the student's rebuilt tables get closer to the teacher's (count-weighted, the
    padding row left out) before training; the copied transformer is untouched."""
    teacher = save_teacher(data_dir, tmp_path / "teacher.pt")
    with torch.no_grad():  # a padding row the student could never fit: it must not count
        teacher.decoder.embed_tokens.weight[teacher.decoder.embed_tokens.padding_idx] = 1e3
    task, student = build(data_dir)
    init_student_from_teacher(student, teacher)
    before = {n: t.clone() for n, t in student.state_dict().items() if torch.is_tensor(t)}
    dictionaries = {"encoder": task.source_dictionary, "decoder": task.target_dictionary}
    errors = fit_tables_to_teacher(student, teacher, dictionaries, steps=30, lr=0.05)
    assert set(errors) == {"encoder", "decoder"}
    for side, error in errors.items():
        assert error["after"] < 0.8 * error["before"], (side, error)
        assert error["before"] < 10, "the padding row counted"
    for name, tensor in student.state_dict().items():
        if ".embed_tokens." not in name and name in before:
            assert torch.equal(tensor, before[name]), name
    assert not torch.equal(student.state_dict()["decoder.embed_tokens.unit_vectors"],
                           before["decoder.embed_tokens.unit_vectors"])
    assert all(p.grad is None for p in student.parameters())
    for side in ("encoder", "decoder"):  # the fit leaves the units at their starting scale
        embedding = getattr(student, side).embed_tokens
        rms = embedding.unit_vectors.pow(2).mean().sqrt().item()
        assert rms == pytest.approx(embedding.initial_unit_std(), rel=1e-5)


def test_fit_tables_option_runs_for_a_new_student_only(data_dir, tmp_path):
    save_teacher(data_dir, tmp_path / "teacher.pt")
    teacher_args = ("--teacher-checkpoint", str(tmp_path / "teacher.pt"), "--init-student-from-teacher")
    torch.manual_seed(0)
    _, plain = build(data_dir, *teacher_args)
    torch.manual_seed(0)
    _, fitted = build(data_dir, *teacher_args, "--fit-tables-steps", "5")
    assert not torch.equal(plain.encoder.embed_tokens.unit_vectors, fitted.encoder.embed_tokens.unit_vectors)
    resumed_dir = tmp_path / "resumed"
    resumed_dir.mkdir()
    torch.save({}, resumed_dir / "checkpoint_last.pt")  # fairseq-train would load this one
    torch.manual_seed(0)
    _, resumed = build(data_dir, *teacher_args, "--fit-tables-steps", "5", "--save-dir", str(resumed_dir))
    assert torch.equal(plain.encoder.embed_tokens.unit_vectors, resumed.encoder.embed_tokens.unit_vectors)
    with pytest.raises(ValueError, match="add --init-student-from-teacher"):
        build(data_dir, "--fit-tables-steps", "5")
    with pytest.raises(ValueError, match="--fit-tables-steps -1"):
        build(data_dir, *teacher_args, "--fit-tables-steps", "-1")
