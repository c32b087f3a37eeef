#!/usr/bin/env bash
# train_longer.sh WORKDIR UPDATES ROW...: recipe rows trained from scratch (or a teacher) continued to
# UPDATES updates, the question being whether a row had converged at the recipe's budget.
#
# Each ROW's run goes on from its checkpoint_last with the options it was trained with (its MADE_FROM),
# only --max-update raised: what fairseq-train does when rerun with a larger --max-update, so its
# warm-up and inverse-sqrt schedule are the ones it had (a fresh run of the recipe with --updates
# UPDATES would warm a student up for longer) and --patience counts again from the resumed
# validations. The copies live in WORKDIR/longer/uUPDATES, a work dir of their own (ckpt/, logs/ with
# the earlier updates' log first, eval/, results/, RESULTS.md): WORKDIR's rows stay as they are. Every
# test split is evaluated and scored as the recipe does; a rerun continues or skips what is done.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

[ $# -ge 3 ] || die "usage: train_longer.sh WORKDIR UPDATES ROW... (rows of WORKDIR/ckpt, trained by the recipe)"
workdir=$1 updates=$2; shift 2
[[ $updates =~ ^[0-9]+$ ]] || die "UPDATES $updates: expected a number of updates"
for row in "$@"; do  # every row checked before anything is made
  from=$workdir/ckpt/$row
  [ -f "$from/checkpoint_last.pt" ] && [ -f "$workdir/.done/eval.$row" ] \
      || die "$from: no trained and evaluated row $row; train it with the recipe first"
  grep -q '^option --max-update$' "$from/MADE_FROM" \
      || die "$from/MADE_FROM: no --max-update among its options; was $row trained by the recipe?"
done
longer=$workdir/longer/u$updates
mkdir -p "$longer"/{ckpt,logs,eval,results,raw}
cp "$workdir/raw/TRAINED_ON" "$longer/raw/TRAINED_ON"
mapfile -t splits < "$workdir/bin/TEST_SPLITS"

for row in "$@"; do
  from=$workdir/ckpt/$row ckpt=$longer/ckpt/$row marker=$workdir/.done/eval.$row
  # the options as fairseq-train got them: "option seed N" first, then one line an argument
  mapfile -t options < <(sed -n 's/^option //p' "$from/MADE_FROM" | sed "s|<plugin>|$SEE_USER_DIR|")
  [[ ${options[0]} =~ ^seed\ [0-9]+$ ]] || die "$from/MADE_FROM: expected the seed first; was $row trained by the recipe?"
  seed=${options[0]#seed } options=("${options[@]:1}")
  data=$workdir/bin
  # a row trained on other data than bin/ (sequence-level KD) names it first
  if [[ ${options[0]} =~ ^data\  ]]; then data=${options[0]#data } options=("${options[@]:1}"); fi
  for i in "${!options[@]}"; do
    [ "${options[$i]}" != --max-update ] || options[i+1]=$updates
  done
  # the evaluation's options (task, lexicon) as the recipe's evaluation recorded them
  mapfile -t eval_options < <(sed -n 's/^option //p' "$marker" | sed "s|<plugin>|$SEE_USER_DIR|")
  if [ ! -f "$ckpt/checkpoint_last.pt" ]; then
    mkdir -p "$ckpt"
    cp "$from"/checkpoint_{last,best}.pt "$ckpt/"
    cp "$workdir/logs/$row.log" "$longer/logs/$row.log"
  fi
  if [ ! -f "$longer/logs/$row.done" ]; then
    log "train $row on to $updates updates"
    fairseq-train "$data" --seed "$seed" --save-dir "$ckpt" "${options[@]}" >> "$longer/logs/$row.log" 2>&1 \
        || die "training $row stopped; see $longer/logs/$row.log (rerun the same command to resume it)"
    touch "$longer/logs/$row.done"
  fi
  specs=() i=0
  for split in "${splits[@]}"; do
    subset=test; [ $i -gt 0 ] && subset=test$i
    out=$longer/eval/$row.$split reference=$workdir/raw/$split.en
    [ "$split" != iwslt17_tst2017 ] || [ ! -s "$workdir/eval/$split.reference" ] \
        || reference=$workdir/eval/$split.reference  # sacrebleu's own copy, as the recipe scores it
    if [ ! -s "$out.json" ]; then
      generate "$data" "$ckpt/checkpoint_best.pt" "$subset" "$out" "${eval_options[@]}"
      score "$out.hyp" "$reference" > "$out.json"
    fi
    specs+=(--test "$split:$out.gen:$out.json:$out.hyp:$reference")
    i=$((i + 1))
  done
  fairseq-see-recipe collect --name "$row" --trained-on "$(cat "$workdir/raw/TRAINED_ON")" \
      --train-log "$longer/logs/$row.log" --checkpoint "$ckpt/checkpoint_best.pt" "${specs[@]}" \
      --output "$longer/results/$row.json"
  log "$row at $updates updates: $longer/results/$row.json"
done
fairseq-see-recipe report --workdir "$longer" --title "rows of $workdir continued to $updates updates" \
    --note "Command: train_longer.sh $workdir $updates $*"
