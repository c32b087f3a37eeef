#!/usr/bin/env bash
# IWSLT 2017 zh-en: raw text -> teacher -> SEE students (two-stage distillation, several ratios) -> table.
#   bash examples/iwslt17_zh_en/run.sh                         # official data (downloaded)
#   bash examples/iwslt17_zh_en/run.sh --data-root ../shared/data/zh-en
#                                                              # local mirror: TVsub slice + real tests
#   bash examples/iwslt17_zh_en/run.sh --train-zh F --train-en F --valid-zh F --valid-en F
#   ... --profile smoke|cpu|gpu|paper --ratios "10 20 40 80" --workdir DIR   (--help: every option)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../common/pipeline.sh
source "$(dirname "$0")/../common/pipeline.sh"

# download_iwslt17 RAW_DIR: the official training archive (IWSLT 2017 TED, zh-en), WIT3's 2017-01-trnted
# release; train.tags.zh-en.{zh,en} without the XML meta lines for training, dev2010 for validation
download_iwslt17() {
  local raw=$1 archive=$1/zh-en.tgz l
  local url=https://wit3.fbk.eu/archive/2017-01-trnted/texts/zh/en/zh-en.tgz
  curl -fL --retry 3 -C - -o "$archive" "$url" || return 1   # -C -: resumes a partial download
  verify_or_record_checksum "$archive"
  tar -xzf "$archive" -C "$raw"
  for l in zh en; do
    grep -v '^\s*<' "$raw/zh-en/train.tags.zh-en.$l" > "$raw/train.$l"
    grep '<seg id' "$raw/zh-en/IWSLT17.TED.dev2010.zh-en.$l.xml" \
      | sed -e 's/<seg id="[0-9]*">\s*//' -e 's/\s*<\/seg>\s*$//' > "$raw/valid.$l"
  done
}

# the test set: sacrebleu's iwslt17 zh-en (tst2017), relative to a --data-root mirror
tst2017=test/iwslt17/IWSLT17.TED.tst2017.zh-en
pipeline_main iwslt17 IWSLT17 download_iwslt17 "iwslt17_tst2017:$tst2017.zh:$tst2017.en" -- "$@"
