"""``see_distillation``: teacher -> SEE student in two stages (docs/METHOD.md, "Distillation").

Stage 1  loss = embed_mse_weight  · Σ_side MSE(student table, teacher table)
              + hidden_mse_weight · (MSE(encoder outputs) + Σ_layers MSE(decoder layer outputs))
Stage 2  loss = kd_alpha · T² · KL(teacher_T ‖ student_T) + (1 − kd_alpha) · label-smoothed CE

The teacher comes from the task (``--teacher-checkpoint``, loaded once, eval mode, no gradients).
Validation scores the student alone with label-smoothed CE, so checkpoints are chosen by
translation quality, not by closeness to the teacher.
"""

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from fairseq.criterions import register_criterion
from fairseq.criterions.label_smoothed_cross_entropy import (LabelSmoothedCrossEntropyCriterion,
                                                             LabelSmoothedCrossEntropyCriterionConfig)
from fairseq.logging import metrics

from ..distillation import token_table
from ..errors import UserInputError

COMPONENTS = ("embed_mse", "hidden_mse", "kd", "ce")


@dataclass
class SEEDistillationConfig(LabelSmoothedCrossEntropyCriterionConfig):
    distill_stage: int = field(default=2, metadata={"help": "1: MSE on tables and hidden states; "
                                                            "2: logit distillation + cross-entropy"})
    embed_mse_weight: float = field(default=1.0, metadata={"help": "stage 1: weight of the table MSE"})
    hidden_mse_weight: float = field(default=1.0, metadata={"help": "stage 1: weight of the hidden-state MSE"})
    kd_alpha: float = field(default=0.5, metadata={"help": "stage 2: weight of KL(teacher‖student); "
                                                           "1 − alpha goes to cross-entropy"})
    kd_temperature: float = field(default=1.0, metadata={"help": "stage 2: softmax temperature T (KL scaled by T²)"})


def masked_mse(student, teacher, keep):
    """Mean squared error over the kept positions: (T, B, C) tensors, keep (T, B) bool."""
    return (student - teacher).pow(2).mean(-1)[keep].mean()


def table_mse(student_embedding, teacher_embedding, padding_idx):
    """MSE between (V, d) tables, padding row excluded (fairseq keeps the teacher's at zero)."""
    student, teacher = token_table(student_embedding), token_table(teacher_embedding)
    keep = torch.ones(student.shape[0], dtype=torch.bool, device=student.device)
    keep[padding_idx] = False
    return F.mse_loss(student[keep], teacher[keep])


def hidden_mse(student, teacher, source_keep, target_keep):
    """Encoder output plus every decoder layer's output, each a masked MSE, summed."""
    (student_enc, student_dec), (teacher_enc, teacher_dec) = student, teacher
    loss = masked_mse(student_enc["encoder_out"][0], teacher_enc["encoder_out"][0], source_keep)
    student_layers = student_dec[1]["inner_states"][1:]  # [0] is the embedded input
    teacher_layers = teacher_dec[1]["inner_states"][1:]
    if len(student_layers) != len(teacher_layers):
        raise UserInputError(f"--hidden-mse-weight: the student has {len(student_layers)} decoder layers, the "
                         f"teacher {len(teacher_layers)}; use the teacher's architecture or --hidden-mse-weight 0")
    for s, t in zip(student_layers, teacher_layers):
        loss = loss + masked_mse(s, t, target_keep)
    return loss


def kd_loss(student_logits, teacher_logits, temperature, keep):
    """T² · Σ_tokens KL(softmax(teacher/T) ‖ softmax(student/T)); logits (B, T, V), keep (B, T)."""
    student_lprobs = F.log_softmax(student_logits.float() / temperature, dim=-1)
    teacher_lprobs = F.log_softmax(teacher_logits.float() / temperature, dim=-1)
    kl = (teacher_lprobs.exp() * (teacher_lprobs - student_lprobs)).sum(-1)  # (B, T)
    return kl[keep].sum() * temperature ** 2


def encode_decode(model, net_input):
    """What FairseqEncoderDecoderModel.forward does, keeping the encoder output for the hidden MSE."""
    encoder_out = model.encoder(net_input["src_tokens"], src_lengths=net_input["src_lengths"])
    decoder_out = model.decoder(net_input["prev_output_tokens"], encoder_out=encoder_out,
                                src_lengths=net_input["src_lengths"])
    return encoder_out, decoder_out


@register_criterion("see_distillation", dataclass=SEEDistillationConfig)
class SEEDistillationCriterion(LabelSmoothedCrossEntropyCriterion):
    def __init__(self, task, sentence_avg, label_smoothing, distill_stage, embed_mse_weight, hidden_mse_weight,
                 kd_alpha, kd_temperature, ignore_prefix_size=0, report_accuracy=False):
        super().__init__(task, sentence_avg, label_smoothing, ignore_prefix_size, report_accuracy)
        if distill_stage not in (1, 2):
            raise UserInputError(f"--distill-stage must be 1 or 2, got {distill_stage}")
        if not 0.0 <= kd_alpha <= 1.0 or kd_temperature <= 0:
            raise UserInputError(f"--kd-alpha must be in [0, 1] and --kd-temperature > 0 (got {kd_alpha}, {kd_temperature})")
        if not hasattr(task, "teacher"):
            raise UserInputError("--criterion see_distillation needs --task translation_sememe (it loads the teacher)")
        self.stage = distill_stage
        self.embed_mse_weight = embed_mse_weight
        self.hidden_mse_weight = hidden_mse_weight
        self.kd_alpha = kd_alpha
        self.temperature = kd_temperature
        # loaded now to fail at start rather than at the first batch; kept by the task, not here,
        # so it is never a submodule of the criterion (whose state fairseq saves in checkpoints)
        task.teacher()

    def forward(self, model, sample, reduce=True):
        if not model.training:
            return super().forward(model, sample, reduce)  # validation: the student's own CE
        net_input = sample["net_input"]
        student = encode_decode(model, net_input)
        ce, nll_loss = self.compute_loss(model, student[1], sample, reduce=reduce)
        teacher_model = self.task.teacher()
        reference = next(model.parameters())
        if next(teacher_model.parameters()).device != reference.device:
            teacher_model.to(reference)
        with torch.no_grad():
            teacher = encode_decode(teacher_model, net_input)
        sample_size = sample["target"].size(0) if self.sentence_avg else sample["ntokens"]
        target_keep = net_input["prev_output_tokens"].ne(self.padding_idx)  # (B, T)
        logging_output = {"nll_loss": nll_loss.data, "ce": ce.data, "ntokens": sample["ntokens"],
                          "nsentences": sample["target"].size(0), "sample_size": sample_size}
        if self.stage == 1:
            embed = sum(table_mse(getattr(model, side).embed_tokens, getattr(teacher_model, side).embed_tokens,
                                  self.padding_idx) for side in ("encoder", "decoder"))
            source_keep = net_input["src_tokens"].ne(self.padding_idx).t()  # (S, B)
            hidden = hidden_mse(student, teacher, source_keep, target_keep.t())
            # the trainer divides gradients by sample_size: scale the means so stage 1 has per-token units
            loss = (self.embed_mse_weight * embed + self.hidden_mse_weight * hidden) * sample_size
            logging_output.update(embed_mse=embed.data * sample_size, hidden_mse=hidden.data * sample_size)
        else:
            kd = kd_loss(student[1][0], teacher[1][0], self.temperature, target_keep)
            loss = self.kd_alpha * kd + (1.0 - self.kd_alpha) * ce
            logging_output["kd"] = kd.data
        logging_output["loss"] = loss.data
        return loss, sample_size, logging_output

    @classmethod
    def reduce_metrics(cls, logging_outputs) -> None:
        super().reduce_metrics(logging_outputs)
        sample_size = sum(log.get("sample_size", 0) for log in logging_outputs)
        for name in COMPONENTS:
            if sample_size and any(name in log for log in logging_outputs):
                total = sum(log.get(name, 0) for log in logging_outputs)
                # cross-entropy terms in base 2 like fairseq's loss; MSEs as they are
                scale = math.log(2) if name in ("kd", "ce") else 1.0
                metrics.log_scalar(name, total / sample_size / scale, sample_size, round=4)
