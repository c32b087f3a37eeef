#!/usr/bin/env bash
# The IWSLT17 recipe's data steps only, for benchmarks/quality.py: raw text from a local mirror, the
# official and held-out test sets, jieba with the lexicon's words, sentencepiece, fairseq-preprocess,
# the sememe index; the work dir is a recipe work dir (bin/, bin/TEST_SPLITS, raw/<test>.en).
#   bash benchmarks/recipe_data.sh --profile smoke|cpu|gpu|paper --data-root DIR --workdir DIR
# These are pipeline.sh's own functions, called in pipeline_main's order up to its binarize step
# (pipeline.sh has no data-only entry point; with one, this file becomes a call of run.sh).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../examples/common/pipeline.sh
source "$(dirname "$0")/../examples/common/pipeline.sh"

# examples/iwslt17_zh_en/run.sh's official test (tst2017), relative to the --data-root mirror
tst2017=test/iwslt17/IWSLT17.TED.tst2017.zh-en
# shellcheck disable=SC2034  # parse_args reads it by name
official=("iwslt17_tst2017:$tst2017.zh:$tst2017.en")
parse_args iwslt17 official "$@"
set_profile
[ "$DATA_SOURCE" = mirror ] || die "pass --data-root (a copy of shared/data/zh-en)"
prepare_raw IWSLT17 false
check_and_segment
binarize
log "data ready in $WORKDIR/bin: $(cat "$WORKDIR/raw/TRAINED_ON")"
