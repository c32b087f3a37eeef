#!/usr/bin/env bash
# GPU check (issue 13): the gpu profile's teacher trained briefly, a 20x SEE student distilled from it in
# both stages (--fp16), each generated on IWSLT17 tst2017 and scored, one table; bounded to ~8 minutes
# on one large GPU (H200). --dry-run: the same steps on CPU at toy sizes (~2 minutes; the test suite).
#   bash examples/iwslt17_zh_en/device_check.sh [--data-root DIR] [--workdir DIR] [--dry-run]
# Table: WORKDIR/DEVICE_CHECK.md (also printed) and DEVICE_CHECK.json; every phase's output in WORKDIR/logs.
set -euo pipefail
T0=$SECONDS
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../common/lib.sh
source "$here/../common/lib.sh"

DATA_ROOT=${FAIRSEQ_SEE_DATA:-} WORKDIR=work/device-check DRY_RUN=""
while [ $# -gt 0 ]; do
  case $1 in
    --data-root) DATA_ROOT=$2; shift 2 ;;
    --workdir) WORKDIR=$2; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) die "unknown option $1 (--data-root DIR, --workdir DIR, --dry-run)" ;;
  esac
done
tv=$DATA_ROOT/train/tvsub tst=$DATA_ROOT/test/iwslt17/IWSLT17.TED.tst2017.zh-en
for f in "$tv/train.zh.xz" "$tv/train.en.xz" "$tv/train.episodes.tsv" "$tst.zh" "$tst.en" \
         "$(hownet_names "$DATA_ROOT")"; do
  [ -f "$f" ] || die "${DATA_ROOT:-no --data-root}: $f not found; pass --data-root (or FAIRSEQ_SEE_DATA)" \
                     "pointing at a copy of shared/data/zh-en with hownet/ and wordnet/ beside it"
done

if [ -n "$DRY_RUN" ]; then
  # toy sizes: every step runs, in about 2 minutes on 2 busy cores
  N_TRAIN=500 N_VALID=100 N_TEST=50 SPM=(--spm-zh 1000 --spm-en 600) PROFILE=smoke BUDGET_S=400
  mapfile -t MODEL < <(transformer_size 2 64 64 2)
  DEVICE=(--cpu) MAX_TOKENS=2000 LR=2e-3 WARMUP=10 TEACHER_UPDATES=40 STAGE1_UPDATES=10 STAGE2_UPDATES=20
else
  # the gpu profile's model and batches (pipeline.sh's PROFILES: fairseq's transformer, 6+6, d 512,
  # sentencepiece 16k + 16k, --fp16, 16,384 tokens, lr 7e-4) on 100k TVsub pairs: the data steps (jieba
  # and the index run on one core) then take ~1.5 minutes. The updates are caps; each training also
  # stops at its share of the time left (--stop-time-hours, below), so the whole check fits BUDGET_S.
  N_TRAIN=100000 N_VALID=1000 N_TEST=0 SPM=() PROFILE=gpu BUDGET_S=470 MODEL=()
  DEVICE=(--fp16) MAX_TOKENS=16384 LR=7e-4 WARMUP=400 TEACHER_UPDATES=2000 STAGE1_UPDATES=200
  STAGE2_UPDATES=600
  python3 -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' \
      || die "no CUDA device (torch.cuda.is_available() is false); --dry-run is the CPU path"
fi
# seconds kept for what is not training: 3 starts of fairseq-train with their final validation and
# save, 3 evaluations (tst2017, 1,459 lines, beam 5), the table
RESERVE_S=170
WORKDIR=$(realpath -m "$WORKDIR")
W=$WORKDIR BIN=$WORKDIR/recipe/bin
rm -rf "${W:?}"/{input,ckpt,eval,results,logs} "$W"/phases.tsv "$W"/DEVICE_CHECK.*  # the recipe's data stays
mkdir -p "$W"/{input,ckpt,eval,results,logs}

if command -v nvidia-smi > /dev/null; then  # GPU name and memory in use, every 2 s, for the table
  nvidia-smi --query-gpu=name,memory.used --format=csv,noheader,nounits -l 2 > "$W/logs/nvidia-smi.csv" &
  SMI=$!
  trap 'kill "$SMI" 2> /dev/null || true' EXIT
fi

# phase NAME COMMAND...: one step under `timeout` (at most what is left of BUDGET_S; a shell function
# runs through bash), its output in logs/NAME.log, its wall seconds in phases.tsv; a failure ends the
# check with one line naming the phase and its log
phase() {
  local name=$1 start=$SECONDS left rc=0; shift
  left=$((BUDGET_S - (SECONDS - T0)))
  [ "$left" -gt 0 ] || die "phase $name: the check's $BUDGET_S s are spent; see $W/logs"
  # shellcheck disable=SC2016  # the quoted "$0" "$@" are the inner bash's
  ! declare -F "$1" > /dev/null || set -- bash -c 'set -euo pipefail; "$0" "$@"' "$@"
  log "$name"
  timeout --kill-after 10 "$left" "$@" > "$W/logs/$name.log" 2>&1 || rc=$?
  if [ "$rc" != 0 ]; then
    [ "$rc" -lt 124 ] || [ "$rc" -gt 137 ] || die "phase $name ran past the check's $BUDGET_S s;" \
                                                   "see $W/logs/$name.log"
    die "phase $name failed (exit $rc): $(tail -n 1 "$W/logs/$name.log" | cut -c1-200);" \
        "see $W/logs/$name.log"
  fi
  printf '%s\t%s\n' "$name" $((SECONDS - start)) >> "$W/phases.tsv"
}

# slice TVSUB INPUT N_TRAIN N_VALID: the first N_TRAIN TVsub pairs to train on and N_VALID pairs of the
# 10 episodes before the last 10 to validate on (the lines pipeline.sh's prepare_raw takes)
slice() {
  local first_valid l
  first_valid=$(awk 'NR > 1 {s[NR] = $2} END {print s[NR - 19]}' "$1/train.episodes.tsv")
  for l in zh en; do  # awk reads to the end: head would make xzcat fail on SIGPIPE
    xzcat "$1/train.$l.xz" | awk -v n="$3" -v fv="$first_valid" -v nv="$4" -v tr="$2/train.$l" \
        -v va="$2/valid.$l" 'NR <= n {print > tr} NR >= fv && NR < fv + nv {print > va}'
  done
}

# evaluate NAME WORKDIR REFERENCE FAIRSEQ_ARGS...: tst2017 through ckpt/NAME/checkpoint_best.pt (lib.sh's
# generate, score), then results/NAME.json from the checkpoint and logs (fairseq-see-recipe collect:
# valid NLL, BLEU/chrF, embedding stats). REFERENCE: iwslt17 (sacrebleu's own set) or a file.
evaluate() {
  local name=$1 w=$2 ref=(-t iwslt17 -l zh-en)
  [ "$3" = iwslt17 ] || ref=("$3")
  shift 3
  generate "$w/recipe/bin" "$w/ckpt/$name/checkpoint_best.pt" test "$w/eval/$name" "$@"
  score "$w/eval/$name.hyp" "${ref[@]}" > "$w/eval/$name.json"
  fairseq-see-recipe collect --name "$name" --trained-on "TVsub first $N_TRAIN pairs (not IWSLT17 training)" \
      --train-log "$w/logs/train.$name.log" --checkpoint "$w/ckpt/$name/checkpoint_best.pt" \
      --test "iwslt17_tst2017:$w/eval/$name.gen:$w/eval/$name.json" --output "$w/results/$name.json"
}
export -f slice evaluate generate score die log
export N_TRAIN

# data: the slices, then the recipe's own data steps (checks, jieba with the lexicon's words,
# sentencepiece, fairseq-preprocess, the SEE index); tst2017 whole (the dry run: its first lines)
phase slice slice "$tv" "$W/input" "$N_TRAIN" "$N_VALID"
if [ "$N_TEST" -gt 0 ]; then
  head -n "$N_TEST" "$tst.zh" > "$W/input/tst2017.zh"; head -n "$N_TEST" "$tst.en" > "$W/input/tst2017.en"
else
  cp "$tst.zh" "$W/input/tst2017.zh"; cp "$tst.en" "$W/input/tst2017.en"
fi
phase data bash "$here/run.sh" --profile "$PROFILE" --workdir "$W/recipe" --data-only "${SPM[@]}" \
    --train-zh "$W/input/train.zh" --train-en "$W/input/train.en" --valid-zh "$W/input/valid.zh" \
    --valid-en "$W/input/valid.en" --test "iwslt17_tst2017:$W/input/tst2017.zh:$W/input/tst2017.en" \
    --lexicon "$(hownet_lexicon "$DATA_ROOT")" --sememe-names "$(hownet_names "$DATA_ROOT")" \
    --wordnet "$(wordnet_dir "$DATA_ROOT")"
# sacrebleu's own tst2017 when it is there (offline: its cache seeded from the mirror's archives)
REFERENCE=$W/input/tst2017.en SCORED="its first $N_TEST lines against the mirror's file"
if [ "$N_TEST" = 0 ]; then
  SCORED="1,459 lines against the mirror's file"
  have_iwslt17() { sacrebleu -t iwslt17 -l zh-en --echo src > /dev/null 2>&1; }
  have_iwslt17 || fairseq-see-recipe iwslt17-cache --archives "$DATA_ROOT/test/iwslt17" \
      > "$W/logs/iwslt17-cache.log" 2>&1 || true
  ! have_iwslt17 || REFERENCE=iwslt17 SCORED="1,459 lines by sacrebleu -t iwslt17 -l zh-en"
fi

# training time: what is left after the data, less RESERVE_S, shared 60 / 10 / 30 (teacher / stage 1 /
# stage 2); fairseq stops at --stop-time-hours, validates and saves. Stage 2's clock starts at stage 1's
# (fairseq carries a restored checkpoint's training time), so its limit adds stage 1's share.
left=$((BUDGET_S - (SECONDS - T0) - RESERVE_S))
[ "$left" -gt 30 ] || die "the data took $((SECONDS - T0)) s of the check's $BUDGET_S s; none left to train"
hours() { awk -v s="$1" 'BEGIN {printf "%.6f", s / 3600}'; }
TEACHER_S=$((left * 6 / 10)) STAGE1_S=$((left / 10)) STAGE2_S=$((left * 3 / 10))
log "training budget: teacher $TEACHER_S s, stage 1 $STAGE1_S s, stage 2 $STAGE2_S s"
# validation and a checkpoint only at the end (a save of the teacher with its Adam state is ~0.7 GB)
TRAIN=("${BASE_TRAIN_ARGS[@]}" "${MODEL[@]}" "${DEVICE[@]}" --max-tokens "$MAX_TOKENS" --seed 1
       --save-interval 1000 --validate-interval 1000)
TEACHER=$W/ckpt/teacher/checkpoint_best.pt
STUDENT=(--user-dir "$SEE_USER_DIR" --task translation_sememe --arch see_transformer
         --embedding-compression-ratio 20 --criterion see_distillation --teacher-checkpoint "$TEACHER")

phase train.teacher fairseq-train "$BIN" "${TRAIN[@]}" --user-dir "$SEE_USER_DIR" --task translation \
    --arch transformer --share-decoder-input-output-embed --criterion label_smoothed_cross_entropy \
    --label-smoothing 0.1 --lr "$LR" --warmup-updates "$WARMUP" --max-update "$TEACHER_UPDATES" \
    --stop-time-hours "$(hours "$TEACHER_S")" --save-dir "$W/ckpt/teacher"
phase eval.teacher evaluate teacher "$W" "$REFERENCE" --user-dir "$SEE_USER_DIR" --task translation \
    "${DEVICE[@]}"
# stage options as pipeline.sh's students() passes them
phase train.stage1 fairseq-train "$BIN" "${TRAIN[@]}" "${STUDENT[@]}" --distill-stage 1 \
    --init-student-from-teacher --freeze-non-embedding --embed-mse-weight 100 --lr 1e-2 \
    --warmup-updates $((STAGE1_UPDATES / 10 + 1)) --max-update "$STAGE1_UPDATES" \
    --stop-time-hours "$(hours "$STAGE1_S")" --save-dir "$W/ckpt/stage1"
phase eval.stage1 evaluate stage1 "$W" "$REFERENCE" --user-dir "$SEE_USER_DIR" --task translation_sememe \
    "${DEVICE[@]}"
phase train.stage2 fairseq-train "$BIN" "${TRAIN[@]}" "${STUDENT[@]}" --distill-stage 2 \
    --restore-file "$W/ckpt/stage1/checkpoint_last.pt" --reset-optimizer --reset-dataloader --reset-meters \
    --reset-lr-scheduler --kd-alpha 0.5 --kd-temperature 1 --label-smoothing 0.1 --lr "$LR" \
    --warmup-updates $((STAGE2_UPDATES / 10 + 1)) --max-update "$STAGE2_UPDATES" \
    --stop-time-hours "$(hours $((STAGE1_S + STAGE2_S)))" --save-dir "$W/ckpt/stage2"
phase eval.stage2 evaluate stage2 "$W" "$REFERENCE" --user-dir "$SEE_USER_DIR" --task translation_sememe \
    "${DEVICE[@]}"

# the table, from data: results/*.json (collect), the checkpoints' update counts, phases.tsv, nvidia-smi
MACHINE=${DRY_RUN:+CPU dry run ($(nproc --all) cores, --cpu)}
PLAN="caps $TEACHER_UPDATES / $STAGE1_UPDATES / $STAGE2_UPDATES updates, time $TEACHER_S / $STAGE1_S /"
PLAN+=" $STAGE2_S s (teacher / stage 1 / stage 2)"
DATA="TVsub first $N_TRAIN pairs (not IWSLT17 training data), $N_VALID held-out pairs to validate;"
DATA+=" tst2017: $SCORED"
W=$W MACHINE=$MACHINE PLAN=$PLAN DATA=$DATA BUDGET_S=$BUDGET_S python3 - <<'EOF' \
    || die "the table failed; see $W/results"
import json, os
import torch
env = os.environ
w, machine = env["W"], env["MACHINE"]
with open(f"{w}/phases.tsv") as f:
    phases = {name: int(seconds) for name, seconds in (line.rstrip("\n").split("\t") for line in f)}
if not machine:  # nvidia-smi's samples: "name, MiB used"
    smi = f"{w}/logs/nvidia-smi.csv"
    samples = [line.rsplit(",", 1) for line in open(smi)] if os.path.exists(smi) else []
    used = [int(m) for _, m in samples if m.strip().isdigit()]
    machine = f"{samples[0][0]}, peak memory.used {max(used):,} MiB (nvidia-smi every 2 s)" if used else "GPU"
rows = []
for name, label in (("teacher", "teacher"), ("stage1", "see 20x stage 1"), ("stage2", "see 20x stage 2")):
    r = json.load(open(f"{w}/results/{name}.json"))
    state = torch.load(f"{w}/ckpt/{name}/checkpoint_best.pt", map_location="cpu", weights_only=False,
                       mmap=True)
    stats = r["embedding_stats"].values()
    live = sum(s["vocab"] * s["dim"] for s in stats) / sum(s["live_parameters"] for s in stats)
    test = r["tests"]["iwslt17_tst2017"]
    rows.append({"model": label, "updates": state["optimizer_history"][-1]["num_updates"],
                 "train_s": phases[f"train.{name}"], "eval_s": phases[f"eval.{name}"],
                 "valid_nll_bits": r["valid_nll"], "bleu": test["bleu"], "chrf": test["chrf"],
                 "embedding_params": r["embedding_params"], "ratio": r["ratio"], "live_ratio": live,
                 "signatures": test["signatures"]})
head = ["model", "updates", "train s", "eval s", "valid NLL (bits)", "tst2017 BLEU", "tst2017 chrF",
        "emb. params", "ratio", "live ratio"]
lines = ["# Device check: IWSLT17 zh-en, teacher and a 20x SEE student", "",
         "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
for r in rows:
    cells = [r["model"], str(r["updates"]), str(r["train_s"]), str(r["eval_s"]), f"{r['valid_nll_bits']:.3f}",
             f"{r['bleu']:.2f}", f"{r['chrf']:.1f}", f"{r['embedding_params']:,}", f"{r['ratio']:.1f}x",
             f"{r['live_ratio']:.1f}x"]
    lines.append("| " + " | ".join(cells) + " |")
lines += ["", f"machine: {machine}", f"data: {env['DATA']}; {phases['slice'] + phases['data']} s",
          f"plan: {env['PLAN']}",
          f"phases: {sum(phases.values())} s of the {env['BUDGET_S']} s budget; sacreBLEU: "
          + "; ".join(rows[-1]["signatures"])]
with open(f"{w}/DEVICE_CHECK.md", "w") as f:
    f.write("\n".join(lines) + "\n")
with open(f"{w}/DEVICE_CHECK.json", "w") as f:
    json.dump({"machine": machine, "data": env["DATA"], "plan": env["PLAN"], "budget_s": int(env["BUDGET_S"]),
               "phases_s": phases, "rows": rows}, f, indent=1)
print("\n".join(lines))
EOF
log "device check done in $((SECONDS - T0)) s: $W/DEVICE_CHECK.md"
