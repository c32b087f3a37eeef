# Shared by examples/*/run.sh: raw parallel text -> teacher -> SEE students (distilled, two stages)
# and a from-scratch student -> BLEU/chrF table. Sourced after the dataset script sets DATASET,
# DATASET_TITLE, OFFICIAL_TESTS and the download_official function.
# Every step is skipped when its marker exists, so a rerun continues where it stopped.

usage() {
  cat <<EOF
usage: $0 [--train-zh F --train-en F --valid-zh F --valid-en F] [--test NAME:ZH:EN ...]
          [--profile smoke|cpu|gpu|paper] [--ratios "10 20 40 80"] [--workdir DIR]
          [--data-root DIR] [--lexicon A,B] [--sememe-names F] [--seeds "1 2"]
Without --train-*: official data is downloaded; with --data-root (default \$FAIRSEQ_SEE_DATA) a local
mirror laid out like ../shared/data/zh-en is used instead (TVsub slice for training, the real test sets).
EOF
}

log() { echo "[$(date +%H:%M:%S)] $*"; }
die() { echo "$0: error: $*" >&2; exit 1; }

parse_args() {
  PROFILE=smoke RATIOS="" WORKDIR="" DATA_ROOT="${FAIRSEQ_SEE_DATA:-}" LEXICON="" SEMEME_NAMES="" SEEDS=""
  TRAIN_ZH="" TRAIN_EN="" VALID_ZH="" VALID_EN="" TESTS=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --train-zh) TRAIN_ZH=$2; shift 2 ;; --train-en) TRAIN_EN=$2; shift 2 ;;
      --valid-zh) VALID_ZH=$2; shift 2 ;; --valid-en) VALID_EN=$2; shift 2 ;;
      --test) TESTS+=("$2"); shift 2 ;;
      --profile) PROFILE=$2; shift 2 ;; --ratios) RATIOS=$2; shift 2 ;; --workdir) WORKDIR=$2; shift 2 ;;
      --data-root) DATA_ROOT=$2; shift 2 ;; --lexicon) LEXICON=$2; shift 2 ;;
      --sememe-names) SEMEME_NAMES=$2; shift 2 ;; --seeds) SEEDS=$2; shift 2 ;;
      -h|--help) usage; exit 0 ;;
      *) usage >&2; die "unknown option $1" ;;
    esac
  done
  WORKDIR=${WORKDIR:-work/$DATASET-$PROFILE}
  mkdir -p "$WORKDIR"/{raw,seg,spm,bin,ckpt,logs,eval,results,.done}
  WORKDIR=$(cd "$WORKDIR" && pwd)
}

# Sizes per profile. cpu: chosen so variants differ by more than seed noise in <= 60 min on 2 cores.
set_profile() {
  ARCH_ARGS=(--encoder-layers 3 --decoder-layers 3 --encoder-embed-dim 256 --decoder-embed-dim 256
             --encoder-ffn-embed-dim 1024 --decoder-ffn-embed-dim 1024 --encoder-attention-heads 4
             --decoder-attention-heads 4)
  DIM=256 TRAIN_ARGS=(--cpu) BEAM=5 LR=1e-3 WARMUP=400
  case "$PROFILE" in
    smoke) N_TRAIN=3000 N_TEST=100 N_VALID=300 N_INDOMAIN_TEST=100 SPM_ZH=2000 SPM_EN=1500 MAX_TOKENS=2000 TEACHER_UPDATES=60
           STAGE1_UPDATES=20 STAGE2_UPDATES=20 DEFAULT_RATIOS="20" DEFAULT_SEEDS="1" LR=2e-3 WARMUP=20
           ARCH_ARGS=(--encoder-layers 2 --decoder-layers 2 --encoder-embed-dim 64 --decoder-embed-dim 64
                      --encoder-ffn-embed-dim 64 --decoder-ffn-embed-dim 64 --encoder-attention-heads 2
                      --decoder-attention-heads 2) DIM=64 ;;
    cpu)   N_TRAIN=200000 N_TEST=0 N_VALID=2000 N_INDOMAIN_TEST=1000 SPM_ZH=8000 SPM_EN=8000 MAX_TOKENS=2048 TEACHER_UPDATES=600
           STAGE1_UPDATES=100 STAGE2_UPDATES=200 DEFAULT_RATIOS="20 80" DEFAULT_SEEDS="1 2" ;;
    gpu)   N_TRAIN=0 N_TEST=0 N_VALID=0 N_INDOMAIN_TEST=0 SPM_ZH=16000 SPM_EN=16000 MAX_TOKENS=16384 TEACHER_UPDATES=3000
           STAGE1_UPDATES=300 STAGE2_UPDATES=1000 DEFAULT_RATIOS="10 20 40 80" DEFAULT_SEEDS="1 2"
           ARCH_ARGS=() DIM=512 TRAIN_ARGS=(--fp16) LR=7e-4 WARMUP=1000 ;;
    paper) N_TRAIN=0 N_TEST=0 N_VALID=0 N_INDOMAIN_TEST=0 SPM_ZH=32000 SPM_EN=32000 MAX_TOKENS=4096 TEACHER_UPDATES=100000
           STAGE1_UPDATES=10000 STAGE2_UPDATES=50000 DEFAULT_RATIOS="10 20 40 80" DEFAULT_SEEDS="1"
           ARCH_ARGS=() DIM=512 TRAIN_ARGS=() LR=5e-4 WARMUP=4000 ;;
    *) die "--profile must be smoke, cpu, gpu or paper (got $PROFILE)" ;;
  esac
  RATIOS=${RATIOS:-$DEFAULT_RATIOS}
  SEEDS=${SEEDS:-$DEFAULT_SEEDS}
}

# No published checksums are known for these archives here: the first complete download's sha256 is
# recorded in the work dir and every later (resumed or repeated) download is verified against it.
verify_or_record_checksum() {
  local file=$1 sums=$WORKDIR/raw/CHECKSUMS.sha256 name sum
  name=$(basename "$file"); sum=$(sha256sum "$file" | cut -d' ' -f1)
  if grep -q " $name\$" "$sums" 2>/dev/null; then
    grep -q "^$sum $name\$" "$sums" || die "$file: sha256 $sum differs from the one recorded in $sums; delete the file and rerun"
  else
    echo "$sum $name" >> "$sums"; log "recorded sha256 of $name in $sums"
  fi
}

step_done() { [ -e "$WORKDIR/.done/$1" ]; }
mark_done() { touch "$WORKDIR/.done/$1"; }

# Training data: given files, else a local mirror (TVsub slice), else the official download.
prepare_raw() {
  step_done raw && return 0
  local raw=$WORKDIR/raw
  if [ -n "$TRAIN_ZH" ]; then
    for f in "$TRAIN_ZH" "$TRAIN_EN" "$VALID_ZH" "$VALID_EN"; do [ -f "$f" ] || die "$f: not found; pass existing files to --train-zh/--train-en/--valid-zh/--valid-en"; done
    cp "$TRAIN_ZH" "$raw/train.zh"; cp "$TRAIN_EN" "$raw/train.en"; cp "$VALID_ZH" "$raw/valid.zh"; cp "$VALID_EN" "$raw/valid.en"
    TRAINED_ON="given files ($(wc -l < "$raw/train.zh") pairs)"
  elif [ -n "$DATA_ROOT" ]; then
    local tv=$DATA_ROOT/train/tvsub
    [ -f "$tv/train.zh.xz" ] || die "$tv/train.zh.xz: not found; pass --data-root pointing at a copy of shared/data/zh-en"
    # whole episodes at the end of TVsub are held out: the last 10 for test, the 10 before for valid
    local first_valid first_test
    first_test=$(awk 'NR>1 {s[NR]=$2} END {print s[NR-9]}' "$tv/train.episodes.tsv")
    first_valid=$(awk 'NR>1 {s[NR]=$2} END {print s[NR-19]}' "$tv/train.episodes.tsv")
    local n=$N_TRAIN; [ "$n" -gt 0 ] || n=$((first_valid - 1))
    for l in zh en; do  # one pass over the 2.15M lines (no head: SIGPIPE would fail the pipeline)
      xzcat "$tv/train.$l.xz" | awk -v n="$n" -v fv="$first_valid" -v ft="$first_test" -v nv="$N_VALID" \
          -v tr="$raw/train.$l" -v va="$raw/valid.$l" -v te="$raw/tvsub_heldout.$l" \
          -v nt="$N_INDOMAIN_TEST" \
          'NR <= n {print > tr} NR >= fv && NR < ft && (nv == 0 || NR < fv + nv) {print > va}
           NR >= ft && (nt == 0 || NR < ft + nt) {print > te}'
    done
    TESTS+=("tvsub_test:$raw/tvsub_heldout.zh:$raw/tvsub_heldout.en")
    TRAINED_ON="TVsub first $n pairs (not $DATASET_TITLE training data)"
  else
    download_official "$raw" || die "cannot download the official $DATASET_TITLE data; pass --train-zh/--train-en/--valid-zh/--valid-en or --data-root (a local mirror)"
    TRAINED_ON="official $DATASET_TITLE training data"
  fi
  echo "$TRAINED_ON" > "$WORKDIR/raw/TRAINED_ON"
  mark_done raw
}

add_official_tests() {
  [ -n "$DATA_ROOT" ] || return 0
  local spec
  for spec in "${OFFICIAL_TESTS[@]}"; do
    local name=${spec%%:*} rest=${spec#*:}
    TESTS+=("$name:$DATA_ROOT/${rest%%:*}:$DATA_ROOT/${rest#*:}")
  done
}

check_and_segment() {
  step_done segment && return 0
  local raw=$WORKDIR/raw seg=$WORKDIR/seg spec name
  fairseq-see-recipe check "$raw/train.zh" "$raw/train.en"
  fairseq-see-recipe check "$raw/valid.zh" "$raw/valid.en"
  for spec in "${TESTS[@]}"; do
    IFS=: read -r name zh en <<< "$spec"
    if [ "$N_TEST" -gt 0 ]; then head -n "$N_TEST" "$zh" > "$raw/$name.zh"; head -n "$N_TEST" "$en" > "$raw/$name.en"
    else cp "$zh" "$raw/$name.zh"; cp "$en" "$raw/$name.en"; fi
    fairseq-see-recipe check "$raw/$name.zh" "$raw/$name.en"
  done
  local pairs=() split
  for split in train valid $(for s in "${TESTS[@]}"; do echo "${s%%:*}"; done); do
    pairs+=("$raw/$split.zh" "$seg/$split.zh")
    cp "$raw/$split.en" "$seg/$split.en"
  done
  local lexicon_args=(--sememe-lexicon "$LEXICON" ${SEMEME_NAMES:+--sememe-names "$SEMEME_NAMES"})
  fairseq-see-recipe segment "${lexicon_args[@]}" "${pairs[@]}" | tee "$WORKDIR/logs/jieba_coverage.txt"
  # what adding the lexicon's words to jieba buys: the same validation text, plain jieba
  fairseq-see-recipe segment "${lexicon_args[@]}" --no-lexicon-words "$raw/valid.zh" "$seg/valid.plain-jieba.zh" \
      | tee -a "$WORKDIR/logs/jieba_coverage.txt"
  mark_done segment
}

binarize() {
  step_done binarize && return 0
  local seg=$WORKDIR/seg spm=$WORKDIR/spm l split
  fairseq-see-recipe spm-train --input "$seg/train.zh" --prefix "$spm/zh" --vocab-size "$SPM_ZH" --character-coverage 0.9995
  fairseq-see-recipe spm-train --input "$seg/train.en" --prefix "$spm/en" --vocab-size "$SPM_EN"
  TEST_SPLITS=$(for s in "${TESTS[@]}"; do echo "${s%%:*}"; done)
  for l in zh en; do
    for split in train valid $TEST_SPLITS; do
      fairseq-see-recipe spm-encode --model "$spm/$l.model" "$seg/$split.$l" "$spm/$split.$l"
    done
  done
  local testpref; testpref=$(for s in $TEST_SPLITS; do printf '%s,' "$spm/$s"; done)
  rm -rf "$WORKDIR/bin"
  fairseq-preprocess --source-lang zh --target-lang en --trainpref "$spm/train" --validpref "$spm/valid" \
      --testpref "${testpref%,}" --destdir "$WORKDIR/bin" --workers 2 > "$WORKDIR/logs/preprocess.log"
  fairseq-see-index "$WORKDIR/bin" --sememe-lexicon "$LEXICON" ${SEMEME_NAMES:+--sememe-names "$SEMEME_NAMES"} \
      | tee "$WORKDIR/logs/index.log"
  echo "$TEST_SPLITS" > "$WORKDIR/bin/TEST_SPLITS"
  mark_done binarize
}

COMMON_TRAIN=()
set_common_train() {
  COMMON_TRAIN=(--optimizer adam --adam-betas '(0.9, 0.98)' --lr "$LR" --lr-scheduler inverse_sqrt
                --warmup-updates "$WARMUP" --dropout 0.1 --max-tokens "$MAX_TOKENS" --no-epoch-checkpoints
                --save-interval-updates 1000 --keep-interval-updates 1  # an interrupted long run resumes from here
                --required-batch-size-multiple 1 --num-workers 0 --log-format simple --log-interval 50
                "${ARCH_ARGS[@]}" "${TRAIN_ARGS[@]}")
}

# train NAME SEED FAIRSEQ_TRAIN_ARGS...: resumable (checkpoint_last), its log appended to logs/NAME.log
train() {
  local name=$1 seed=$2; shift 2
  step_done "train.$name" && return 0
  log "train $name"
  local start=$SECONDS
  fairseq-train "$WORKDIR/bin" "${COMMON_TRAIN[@]}" --seed "$seed" --save-dir "$WORKDIR/ckpt/$name" "$@" \
      2>&1 | tee -a "$WORKDIR/logs/$name.log" | grep -E "SEE embedding|embedding compression|init-student|valid on|done training" || true
  [ -f "$WORKDIR/ckpt/$name/checkpoint_last.pt" ] || die "training $name failed; see $WORKDIR/logs/$name.log"
  log "train $name done in $((SECONDS - start)) s"
  mark_done "train.$name"
}

# --user-dir for the teacher too: the plugin also carries the fix that lets torch >= 2.6 load
# fairseq checkpoints (resume, generate)
USER_DIR=(--user-dir "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/fairseq_see")
SEE_ARGS=("${USER_DIR[@]}" --task translation_sememe)

evaluate() {
  local name=$1 task_args=("${@:2}")
  step_done "eval.$name" && return 0
  log "evaluate $name"
  local specs=() split i=0 names=()
  for s in "${TESTS[@]}"; do names+=("${s%%:*}"); done
  for split in $(cat "$WORKDIR/bin/TEST_SPLITS"); do
    local subset=test; [ $i -gt 0 ] && subset=test$i
    local out=$WORKDIR/eval/$name.$split
    fairseq-generate "$WORKDIR/bin" "${task_args[@]}" --path "$WORKDIR/ckpt/$name/checkpoint_best.pt" \
        --gen-subset "$subset" --beam "$BEAM" --batch-size 64 --required-batch-size-multiple 1 \
        --max-len-a 1.5 --max-len-b 10 \
        --remove-bpe sentencepiece "${TRAIN_ARGS[@]}" > "$out.gen" 2>&1 || die "generation failed; see $out.gen"
    grep -P '^D-\d+\t' "$out.gen" | sort -t- -k2,2n | cut -f3 > "$out.hyp"
    if [ "$split" = iwslt17_tst2017 ] && [ "$N_TEST" = 0 ] && sacrebleu -t iwslt17 -l zh-en --echo src > /dev/null 2>&1; then
      sacrebleu -t iwslt17 -l zh-en -i "$out.hyp" -m bleu chrf > "$out.json" || die "sacrebleu failed on $out.hyp"
    else  # a slice of the test set (smoke), or a set sacrebleu does not ship
      sacrebleu "$WORKDIR/raw/$split.en" -i "$out.hyp" -m bleu chrf > "$out.json" || die "sacrebleu failed on $out.hyp"
    fi
    specs+=(--test "$split:$out.gen:$out.json")
    i=$((i + 1))
  done
  fairseq-see-recipe collect --name "$name" --trained-on "$(cat "$WORKDIR/raw/TRAINED_ON")" \
      --train-log "$WORKDIR/logs/$name.log" "${specs[@]}" --output "$WORKDIR/results/$name.json"
  mark_done "eval.$name"
}

main() {
  parse_args "$@"
  set_profile
  [ -n "$LEXICON" ] || [ -z "$DATA_ROOT" ] || LEXICON=$DATA_ROOT/../hownet/pypi_similarities-1.2.4__hownet_glossary.txt,$DATA_ROOT/../hownet/thunlp_sememe_prediction__hownet.txt
  [ -n "$SEMEME_NAMES" ] || [ -z "$DATA_ROOT" ] || SEMEME_NAMES=$DATA_ROOT/../hownet/openhownet__sememe_dict_all.json
  [ -n "$LEXICON" ] || die "no sememe lexicon: pass --lexicon FILE[,FILE] (or --data-root with hownet/ beside it)"
  local t0=$SECONDS
  log "$DATASET_TITLE recipe, profile $PROFILE, ratios $RATIOS, seeds $SEEDS, work dir $WORKDIR"
  add_official_tests
  prepare_raw;        log "data ready: $(cat "$WORKDIR/raw/TRAINED_ON") ($((SECONDS - t0)) s)"
  if [ -n "$DATA_ROOT" ] && [ -f "$DATA_ROOT/test/iwslt17/2017-01-ted-test.texts.zh.en.zh-en.tgz" ]; then
    sacrebleu -t iwslt17 -l zh-en --echo src > /dev/null 2>&1 || fairseq-see-recipe iwslt17-cache --archives "$DATA_ROOT/test/iwslt17"
  fi
  check_and_segment;  log "segmented ($((SECONDS - t0)) s)"
  binarize;           log "binarized and indexed ($((SECONDS - t0)) s)"
  set_common_train
  local first_seed=${SEEDS%% *} seed ratio
  SEE_ARGS+=(--sememe-lexicon "$LEXICON" ${SEMEME_NAMES:+--sememe-names "$SEMEME_NAMES"})
  train teacher "$first_seed" "${USER_DIR[@]}" --task translation --arch transformer --share-decoder-input-output-embed \
      --criterion label_smoothed_cross_entropy --label-smoothing 0.1 --max-update "$TEACHER_UPDATES"
  evaluate teacher "${USER_DIR[@]}" --task translation
  local first_ratio=${RATIOS%% *}
  for seed in $SEEDS; do
    for ratio in $RATIOS; do
      # further seeds repeat the first ratio only: they measure run-to-run noise
      [ "$seed" = "$first_seed" ] || [ "$ratio" = "$first_ratio" ] || continue
      local s1=see${ratio}x.stage1.seed$seed s2=see${ratio}x.stage2.seed$seed scratch=see${ratio}x.scratch.seed$seed
      # the model picks each side's order and tables for the ratio and logs what it achieved
      local see=(--arch see_transformer --embedding-compression-ratio "$ratio")
      local student=("${SEE_ARGS[@]}" "${see[@]}" --criterion see_distillation
                     --teacher-checkpoint "$WORKDIR/ckpt/teacher/checkpoint_best.pt")
      # stage 1 fits only the new embeddings to the teacher's (tables and hidden states): the copied
      # transformer stays the teacher's, so a larger lr is safe, and the weight 100 puts the table MSE
      # (~0.01 per element) on the scale of the hidden-state MSE (~1-5). Short stages: warm-up 10%.
      train "$s1" "$seed" "${student[@]}" --distill-stage 1 --init-student-from-teacher --freeze-non-embedding \
          --embed-mse-weight 100 --lr 1e-2 --warmup-updates $((STAGE1_UPDATES / 10 + 1)) --max-update "$STAGE1_UPDATES"
      [ "$seed" = "$first_seed" ] && evaluate "$s1" "${SEE_ARGS[@]}"
      local restore=()
      [ -f "$WORKDIR/ckpt/$s2/checkpoint_last.pt" ] || restore=(--restore-file "$WORKDIR/ckpt/$s1/checkpoint_last.pt"
          --reset-optimizer --reset-dataloader --reset-meters --reset-lr-scheduler)
      train "$s2" "$seed" "${student[@]}" --distill-stage 2 --kd-alpha 0.5 --kd-temperature 1 \
          --label-smoothing 0.1 "${restore[@]}" --warmup-updates $((STAGE2_UPDATES / 10 + 1)) --max-update "$STAGE2_UPDATES"
      evaluate "$s2" "${SEE_ARGS[@]}"
      # the same student from scratch with as many updates, plain cross-entropy
      train "$scratch" "$seed" "${SEE_ARGS[@]}" "${see[@]}" \
          --criterion label_smoothed_cross_entropy --label-smoothing 0.1 \
          --warmup-updates $(((STAGE1_UPDATES + STAGE2_UPDATES) / 10 + 1)) --max-update $((STAGE1_UPDATES + STAGE2_UPDATES))
      evaluate "$scratch" "${SEE_ARGS[@]}"
    done
  done
  fairseq-see-recipe report --workdir "$WORKDIR" --title "$DATASET_TITLE zh-en, profile $PROFILE" \
      --note "Trained on: $(cat "$WORKDIR/raw/TRAINED_ON"). Command: $0 ${ORIGINAL_ARGS[*]}"
  log "done in $((SECONDS - t0)) s; table: $WORKDIR/RESULTS.md, plot: $WORKDIR/bleu_vs_ratio.png"
}
