#!/usr/bin/env bash
# Zero-shot words: words held out of training get embeddings from their sememes, without retraining.
#   bash examples/zero_shot_zh_en/run.sh [--data-root DIR] [--workdir DIR]
# Chinese is word-level here (jieba words, no sentencepiece), so a held-out word is <unk> for the
# trained model; fairseq-see-extend then adds it, and both are scored on test pairs containing them.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../common/lib.sh
source "$(dirname "$0")/../common/lib.sh"

usage() {
  cat <<EOF
usage: $0 [--data-root DIR] [--workdir DIR]
--data-root (default \$FAIRSEQ_SEE_DATA): a copy of shared/data/zh-en, hownet/ beside it;
--workdir: default work/zero-shot. Sizes from the environment: N_TRAIN (TVsub pairs, 60000),
UPDATES (800), DIM (128) and LAYERS (2); DIM=256 LAYERS=3 for the recipes' cpu size.
EOF
}

DATA_ROOT=${FAIRSEQ_SEE_DATA:-} WORKDIR=work/zero-shot
N_TRAIN=${N_TRAIN:-60000} UPDATES=${UPDATES:-800}
DIM=${DIM:-128} LAYERS=${LAYERS:-2}  # a small model, so the measurement fits a 2-core CPU
while [ $# -gt 0 ]; do
  case "$1" in
    --data-root) DATA_ROOT=$2; shift 2 ;;
    --workdir)   WORKDIR=$2;   shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done
[ -n "$DATA_ROOT" ] || die "pass --data-root (a copy of shared/data/zh-en) or set FAIRSEQ_SEE_DATA"
DATA_ROOT=$(cd "$DATA_ROOT" && pwd)
SEMEME_ARGS=(--sememe-lexicon "$(hownet_lexicon "$DATA_ROOT")" --sememe-names "$(hownet_names "$DATA_ROOT")"
             --wordnet "$(wordnet_dir "$DATA_ROOT")")
mkdir -p "$WORKDIR" && cd "$WORKDIR"

if [ ! -f bin/dict.zh.txt ]; then
  log "data: first $N_TRAIN TVsub pairs, jieba with lexicon words"
  xzcat "$DATA_ROOT/train/tvsub/train.zh.xz" | awk -v n="$N_TRAIN" 'NR <= n' > raw.zh
  xzcat "$DATA_ROOT/train/tvsub/train.en.xz" | awk -v n="$N_TRAIN" 'NR <= n' > raw.en
  fairseq-see-recipe segment "${SEMEME_ARGS[@]}" raw.zh seg.zh
  fairseq-see-recipe holdout seg.zh raw.en "${SEMEME_ARGS[@]}" --out-prefix split
  fairseq-see-recipe spm-train --input split.train.en --prefix spm.en --vocab-size 4000
  for s in train test; do
    fairseq-see-recipe spm-encode --model spm.en.model "split.$s.en" "split.$s.spm.en"
    cp "split.$s.zh" "split.$s.spm.zh"
  done
  for l in zh en; do  # the last 500 training pairs validate, and are not trained on
    tail -n 500 "split.train.spm.$l" > "valid.spm.$l"
    head -n -500 "split.train.spm.$l" > "train.spm.$l"
  done
  fairseq-preprocess --source-lang zh --target-lang en --trainpref train.spm --validpref valid.spm \
      --testpref split.test.spm --destdir bin --thresholdsrc 2 --workers 2 > preprocess.log
fi
if [ ! -f ckpt/checkpoint_last.pt ] || ! grep -q "done training" train.log 2>/dev/null; then
  log "train a SEE model ($UPDATES updates), the held-out words never seen"
  mapfile -t size < <(transformer_size "$LAYERS" "$DIM" $((4 * DIM)) 4)
  fairseq-train bin --user-dir "$SEE_USER_DIR" --task translation_sememe "${SEMEME_ARGS[@]}" \
      --arch see_transformer "${size[@]}" --see-order 3 --see-rank 4 --see-tables 2 \
      "${BASE_TRAIN_ARGS[@]}" --lr 1e-3 --warmup-updates 200 --max-tokens 2048 \
      --criterion label_smoothed_cross_entropy --label-smoothing 0.1 --max-update "$UPDATES" \
      --save-dir ckpt --seed 1 --cpu \
      --validate-interval-updates 200 --save-interval-updates 200 --keep-interval-updates 1 >> train.log 2>&1
fi

# evaluate DATA CHECKPOINT NAME: NAME.gen and NAME.hyp, NAME.unk_sentences (source sentences still
# holding <unk>) and NAME.scores ("BLEU chrF")
evaluate() {
  generate "$1" "$2" test "$3" --user-dir "$SEE_USER_DIR" --task translation_sememe --cpu
  grep -P '^S-\d+\t' "$3.gen" | grep -c '<unk>' > "$3.unk_sentences" || true
  score "$3.hyp" split.test.en -b -f text | tr '\n' ' ' > "$3.scores"
}
log "baseline: the held-out words are <unk>"
evaluate bin ckpt/checkpoint_best.pt baseline
log "extend the model with the held-out words, from their sememes"
fairseq-see-extend ckpt/checkpoint_best.pt --data bin --output extended "${SEMEME_ARGS[@]}" \
    --words split.words | tee extend.log
fairseq-preprocess --source-lang zh --target-lang en --testpref split.test.spm --destdir extended \
    --srcdict extended/dict.zh.txt --tgtdict extended/dict.en.txt --workers 2 > preprocess.extended.log
evaluate extended extended/checkpoint.pt extended
{
  echo "| model | test pairs | source sentences with <unk> | BLEU | chrF |"
  echo "|---|---|---|---|---|"
  for m in baseline extended; do
    read -r bleu chrf < "$m.scores" || true  # the file has no final newline
    echo "| $m | $(wc -l < split.test.en) | $(cat "$m.unk_sentences") | $bleu | $chrf |"
  done
} | tee RESULTS.md
log "done: $(pwd)/RESULTS.md"
