#!/usr/bin/env bash
# WMT17 zh-en: raw text -> teacher -> SEE students (two-stage distillation, several ratios) -> table.
#   bash examples/wmt17_zh_en/run.sh                           # official data (downloaded)
#   bash examples/wmt17_zh_en/run.sh --data-root ../shared/data/zh-en
#                                                              # local mirror: TVsub slice + real tests
#   bash examples/wmt17_zh_en/run.sh --train-zh F --train-en F --valid-zh F --valid-en F
#   ... --profile smoke|cpu|gpu|paper --ratios "10 20 40 80" --workdir DIR   (--help: every option)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../common/pipeline.sh
source "$(dirname "$0")/../common/pipeline.sh"

# download_wmt17 RAW_DIR: WMT17 zh-en as WMT17 lists it: news-commentary v12 (+ UN v1.0 and CWMT, which
# need a manual download/registration and are taken from --train-* when wanted); newsdev2017 validates
download_wmt17() {
  local raw=$1 l side
  local data=http://data.statmt.org/wmt17/translation-task
  curl -fL --retry 3 -C - -o "$raw/nc-v12.tgz" "$data/training-parallel-nc-v12.tgz" || return 1
  curl -fL --retry 3 -C - -o "$raw/dev.tgz" "$data/dev.tgz" || return 1
  verify_or_record_checksum "$raw/nc-v12.tgz"
  verify_or_record_checksum "$raw/dev.tgz"
  tar -xzf "$raw/nc-v12.tgz" -C "$raw" && tar -xzf "$raw/dev.tgz" -C "$raw"
  cp "$raw/training/news-commentary-v12.zh-en.zh" "$raw/train.zh"
  cp "$raw/training/news-commentary-v12.zh-en.en" "$raw/train.en"
  for l in zh en; do
    side=ref; [ $l = zh ] && side=src
    grep '<seg id' "$raw/dev/newsdev2017-zhen-$side.$l.sgm" \
      | sed -e 's/<seg id="[0-9]*">\s*//' -e 's/\s*<\/seg>\s*$//' > "$raw/valid.$l"
  done
}

# the test set, relative to a --data-root mirror
newstest=test/wmt17/newstest2017.zh-en
pipeline_main wmt17 WMT17 download_wmt17 "wmt17_newstest2017:$newstest.zh:$newstest.en" -- "$@"
