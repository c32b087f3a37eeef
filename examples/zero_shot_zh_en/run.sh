#!/usr/bin/env bash
# Zero-shot words: words held out of training get embeddings from their sememes, without retraining.
#   bash examples/zero_shot_zh_en/run.sh [--data-root DIR] [--workdir DIR]
# Chinese is word-level here (jieba words, no sentencepiece), so a held-out word is <unk> for the
# trained model; fairseq-see-extend then adds it, and both are scored on test pairs containing them.
set -euo pipefail
DATA_ROOT=${FAIRSEQ_SEE_DATA:-} WORKDIR=work/zero-shot N_TRAIN=${N_TRAIN:-60000} UPDATES=${UPDATES:-800}
# a small model so the measurement fits a 2-core CPU; DIM=256 LAYERS=3 for the recipes' cpu size
DIM=${DIM:-128} LAYERS=${LAYERS:-2}
while [ $# -gt 0 ]; do
  case "$1" in --data-root) DATA_ROOT=$2; shift 2 ;; --workdir) WORKDIR=$2; shift 2 ;;
    *) echo "usage: $0 [--data-root DIR] [--workdir DIR]" >&2; exit 1 ;; esac
done
[ -n "$DATA_ROOT" ] || { echo "$0: error: pass --data-root (a copy of shared/data/zh-en) or set FAIRSEQ_SEE_DATA" >&2; exit 1; }
DATA_ROOT=$(cd "$DATA_ROOT" && pwd)
H=$DATA_ROOT/../hownet
LEX=$H/pypi_similarities-1.2.4__hownet_glossary.txt,$H/thunlp_sememe_prediction__hownet.txt
NAMES=$H/openhownet__sememe_dict_all.json
USER_DIR=$(cd "$(dirname "$0")/../.." && pwd)/fairseq_see
mkdir -p "$WORKDIR" && cd "$WORKDIR"
log() { echo "[$(date +%H:%M:%S)] $*"; }

if [ ! -f bin/dict.zh.txt ]; then
  log "data: first $N_TRAIN TVsub pairs, jieba with lexicon words"
  xzcat "$DATA_ROOT/train/tvsub/train.zh.xz" | awk -v n="$N_TRAIN" 'NR <= n' > raw.zh
  xzcat "$DATA_ROOT/train/tvsub/train.en.xz" | awk -v n="$N_TRAIN" 'NR <= n' > raw.en
  fairseq-see-recipe segment --sememe-lexicon "$LEX" --sememe-names "$NAMES" raw.zh seg.zh
  fairseq-see-recipe holdout seg.zh raw.en --sememe-lexicon "$LEX" --sememe-names "$NAMES" --out-prefix split
  fairseq-see-recipe spm-train --input split.train.en --prefix spm.en --vocab-size 4000
  for s in train test; do fairseq-see-recipe spm-encode --model spm.en.model split.$s.en split.$s.spm.en; cp split.$s.zh split.$s.spm.zh; done
  for l in zh en; do  # the last 500 training pairs validate, and are not trained on
    tail -n 500 split.train.spm.$l > valid.spm.$l
    head -n -500 split.train.spm.$l > train.spm.$l
  done
  fairseq-preprocess --source-lang zh --target-lang en --trainpref train.spm --validpref valid.spm \
      --testpref split.test.spm --destdir bin --thresholdsrc 2 --workers 2 > preprocess.log
fi
if [ ! -f ckpt/checkpoint_last.pt ] || ! grep -q "done training" train.log 2>/dev/null; then
  log "train a SEE model ($UPDATES updates), the held-out words never seen"
  fairseq-train bin --user-dir "$USER_DIR" --task translation_sememe --sememe-lexicon "$LEX" --sememe-names "$NAMES" \
      --arch see_transformer --encoder-layers "$LAYERS" --decoder-layers "$LAYERS" --encoder-embed-dim "$DIM" \
      --decoder-embed-dim "$DIM" --encoder-ffn-embed-dim $((4 * DIM)) --decoder-ffn-embed-dim $((4 * DIM)) \
      --encoder-attention-heads 4 --decoder-attention-heads 4 \
      --see-order 3 --see-rank 4 --see-tables 2 --optimizer adam --adam-betas '(0.9, 0.98)' --lr 1e-3 \
      --lr-scheduler inverse_sqrt --warmup-updates 200 --dropout 0.1 --criterion label_smoothed_cross_entropy \
      --label-smoothing 0.1 --max-tokens 2048 --max-update "$UPDATES" --save-dir ckpt --no-epoch-checkpoints \
      --required-batch-size-multiple 1 --num-workers 0 --log-format simple --log-interval 50 --seed 1 --cpu \
      --validate-interval-updates 200 --save-interval-updates 200 --keep-interval-updates 1 >> train.log 2>&1
fi
generate() {  # generate DATA CHECKPOINT OUT
  fairseq-generate "$1" --user-dir "$USER_DIR" --task translation_sememe --path "$2" --gen-subset test --beam 5 \
      --batch-size 64 --required-batch-size-multiple 1 --max-len-a 1.5 --max-len-b 10 --remove-bpe sentencepiece \
      --cpu > "$3.gen" 2>&1
  grep -P '^D-\d+\t' "$3.gen" | sort -t- -k2,2n | cut -f3 > "$3.hyp"
  grep -P '^S-\d+\t' "$3.gen" | grep -c '<unk>' > "$3.unk_sentences" || true
  sacrebleu split.test.en -i "$3.hyp" -m bleu chrf -b -f text | tr '\n' ' ' > "$3.scores"
}
log "baseline: the held-out words are <unk>"
generate bin ckpt/checkpoint_best.pt baseline
log "extend the model with the held-out words, from their sememes"
fairseq-see-extend ckpt/checkpoint_best.pt --data bin --output extended --sememe-lexicon "$LEX" \
    --sememe-names "$NAMES" --words split.words | tee extend.log
fairseq-preprocess --source-lang zh --target-lang en --testpref split.test.spm --destdir extended \
    --srcdict extended/dict.zh.txt --tgtdict extended/dict.en.txt --workers 2 > preprocess.extended.log
generate extended extended/checkpoint.pt extended
{
  echo "| model | test pairs | source sentences with <unk> | BLEU | chrF |"
  echo "|---|---|---|---|---|"
  for m in baseline extended; do
    read -r bleu chrf < "$m.scores" || true  # the file has no final newline
    echo "| $m | $(wc -l < split.test.en) | $(cat $m.unk_sentences) | $bleu | $chrf |"
  done
} | tee RESULTS.md
log "done: $(pwd)/RESULTS.md"
