#!/usr/bin/env bash
# WMT17 zh-en: raw text -> teacher -> SEE students (two-stage distillation, several ratios) -> table.
#   bash examples/wmt17_zh_en/run.sh                                   # official data (downloaded)
#   bash examples/wmt17_zh_en/run.sh --data-root ../shared/data/zh-en  # local mirror: TVsub slice + real tests
#   bash examples/wmt17_zh_en/run.sh --train-zh F --train-en F --valid-zh F --valid-en F
#   ... --profile smoke|cpu|gpu|paper --ratios "10 20 40 80" --workdir DIR
set -euo pipefail
ORIGINAL_ARGS=("$@")
DATASET=wmt17 DATASET_TITLE="WMT17"
OFFICIAL_TESTS=("wmt17_newstest2017:test/wmt17/newstest2017.zh-en.zh:test/wmt17/newstest2017.zh-en.en")
# WMT17 zh-en as WMT17 lists it: news-commentary v12 (+ UN v1.0 and CWMT, which need a manual
# download/registration and are taken from --train-* when wanted); newsdev2017 for validation.
NEWS_COMMENTARY=http://data.statmt.org/wmt17/translation-task/training-parallel-nc-v12.tgz
DEV=http://data.statmt.org/wmt17/translation-task/dev.tgz

download_official() {
  local raw=$1
  curl -fL --retry 3 -C - -o "$raw/nc-v12.tgz" "$NEWS_COMMENTARY" || return 1
  curl -fL --retry 3 -C - -o "$raw/dev.tgz" "$DEV" || return 1
  verify_or_record_checksum "$raw/nc-v12.tgz"
  verify_or_record_checksum "$raw/dev.tgz"
  tar -xzf "$raw/nc-v12.tgz" -C "$raw" && tar -xzf "$raw/dev.tgz" -C "$raw"
  cp "$raw/training/news-commentary-v12.zh-en.zh" "$raw/train.zh"
  cp "$raw/training/news-commentary-v12.zh-en.en" "$raw/train.en"
  for l in zh en; do
    grep '<seg id' "$raw/dev/newsdev2017-zhen-$( [ $l = zh ] && echo src || echo ref ).$l.sgm" \
      | sed -e 's/<seg id="[0-9]*">\s*//' -e 's/\s*<\/seg>\s*$//' > "$raw/valid.$l"
  done
}

HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../common/pipeline.sh"
main "$@"
