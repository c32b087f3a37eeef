# shellcheck shell=bash
# What the recipes share (sourced by pipeline.sh and zero_shot_zh_en/run.sh): messages, the HowNet files
# beside a data mirror, the fairseq-train settings every run uses, decoding and scoring.
# Defines functions and two constants (SEE_USER_DIR, BASE_TRAIN_ARGS); changes nothing else.

log() { echo "[$(date +%H:%M:%S)] $*"; }
die() { echo "$0: error: $*" >&2; exit 1; }

# The plugin, for --user-dir. The stock teacher gets it too: the plugin also carries the fix that lets
# torch >= 2.6 load fairseq checkpoints (resume, generate).
# shellcheck disable=SC2034  # used by the scripts that source this file
SEE_USER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/fairseq_see

# hownet_lexicon DATA_ROOT / hownet_names DATA_ROOT / wordnet_dir DATA_ROOT: the sememe lexicon (Chinese:
# two HowNet files; English: WordNet synsets -> HowNet sememes; comma-separated), the sememe names, and the
# WordNet 3.0 database the synset file needs, in the hownet/ and wordnet/ folders beside a copy of
# shared/data/zh-en
hownet_lexicon() {
  local hownet=$1/../hownet
  echo "$hownet/pypi_similarities-1.2.4__hownet_glossary.txt,$hownet/thunlp_sememe_prediction__hownet.txt,$(
        )$hownet/yeyn19_structured_sememe_prediction__synsetStructed.txt"
}
hownet_names() { echo "$1/../hownet/openhownet__sememe_dict_all.json"; }
wordnet_dir() { echo "$1/../wordnet"; }

# transformer_size LAYERS DIM FFN HEADS: fairseq's size options, the same on both sides, one a line
# (read them with mapfile -t)
transformer_size() {
  printf '%s\n' --encoder-layers "$1" --decoder-layers "$1" \
      --encoder-embed-dim "$2" --decoder-embed-dim "$2" \
      --encoder-ffn-embed-dim "$3" --decoder-ffn-embed-dim "$3" \
      --encoder-attention-heads "$4" --decoder-attention-heads "$4"
}

# fairseq-train options every recipe run uses (lr, warm-up, batch size and checkpoint intervals vary)
# shellcheck disable=SC2034
BASE_TRAIN_ARGS=(--optimizer adam --adam-betas '(0.9, 0.98)' --lr-scheduler inverse_sqrt --dropout 0.1
                 --no-epoch-checkpoints --required-batch-size-multiple 1 --num-workers 0
                 --log-format simple --log-interval 50)

# generate DATA CHECKPOINT SUBSET OUT [FAIRSEQ_ARGS...]: beam search on one binarized subset; the log
# (with the S-/H-/D- lines) in OUT.gen, the detokenised hypotheses in source order in OUT.hyp
generate() {
  local data=$1 checkpoint=$2 subset=$3 out=$4; shift 4
  fairseq-generate "$data" "$@" --path "$checkpoint" --gen-subset "$subset" --beam 5 --batch-size 64 \
      --required-batch-size-multiple 1 --max-len-a 1.5 --max-len-b 10 --remove-bpe sentencepiece \
      > "$out.gen" 2>&1 || die "generation failed; see $out.gen"
  grep -P '^D-\d+\t' "$out.gen" | sort -t- -k2,2n | cut -f3 > "$out.hyp"
}

# score HYP REFERENCE_ARGS... [FORMAT_ARGS...]: detokenised sacreBLEU BLEU and chrF of HYP on stdout
# (JSON with signatures unless FORMAT_ARGS say otherwise); REFERENCE_ARGS: a file, or -t SET -l PAIR
score() {
  local hyp=$1; shift
  sacrebleu "$@" -i "$hyp" -m bleu chrf || die "sacrebleu failed on $hyp"
}
