# shellcheck shell=bash source-path=SCRIPTDIR
# Shared by examples/*/run.sh: raw parallel text -> teacher -> SEE students (distilled, two stages)
# and a from-scratch student -> BLEU/chrF table. A dataset script sources this file and calls
#
#   pipeline_main DATASET TITLE DOWNLOAD_FUNCTION [OFFICIAL_TEST...] -- "$@"
#
#   DATASET            short name, for the default work dir work/DATASET-PROFILE
#   TITLE              the name in messages and in the table's title
#   DOWNLOAD_FUNCTION  called as DOWNLOAD_FUNCTION RAW_DIR when neither --train-* nor --data-root is
#                      given: fetches the official data and writes RAW_DIR/{train,valid}.{zh,en};
#                      returns non-zero if the download fails (verify_or_record_checksum checks archives)
#   OFFICIAL_TEST      NAME:ZH:EN, the paths relative to a --data-root mirror (used only with one)
#
# Every step's marker DIR/.done/STEP records what the step was made from (input files with their sizes
# and sha256, the steps before it, its options; see `record`); a step is skipped when its marker
# records exactly what it would be made from now, so a rerun continues where it stopped, and a step
# whose inputs or options changed is redone, with every step after it.
#
# Globals, all set by parse_args and set_profile (called first in pipeline_main) and read-only after:
#   options    PROFILE RATIOS SEEDS STAGE1 WORKDIR (absolute; created by make_workdir once every option is
#              checked) DATA_ROOT LEXICON SEMEME_NAMES WORDNET DATA_ONLY SCRATCH_ONLY MAX_POSITIONS
#              TRAIN_ZH TRAIN_EN VALID_ZH VALID_EN
#   derived    DATA_SOURCE (given|mirror|download), TESTS (NAME:ZH:EN: --test, then the official
#              tests when mirrored, then the held-out TVsub episodes), SEMEME_ARGS, SEE_ARGS
#   profile    N_TRAIN N_VALID N_INDOMAIN_TEST N_TEST (0: all) SPM_ZH SPM_EN (or --spm-zh/--spm-en)
#              MAX_TOKENS LR WARMUP TEACHER_UPDATES STAGE1_UPDATES FIT_STEPS STAGE2_UPDATES SEQKD DISTILLED
#              SCRATCH ARCH_ARGS
#              DEVICE_ARGS COMMON_TRAIN EARLY_STOP

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
usage: $0 [--train-zh F --train-en F --valid-zh F --valid-en F] [--test NAME:ZH:EN ...]
          [--profile smoke|cpu|converge|converge256|gpu|paper] [--ratios "10 20 40 80"] [--workdir DIR]
          [--data-root DIR] [--lexicon A,B|openhownet] [--sememe-names F] [--wordnet DIR] [--seeds "1 2"]
          [--spm-zh N] [--spm-en N] [--max-positions N] [--updates N] [--seqkd "ce kd"|-] [--distilled "tt ..."|all|-]
          [--scratch "see_random tt ..."|all|-] [--stage1 paper|fit-kd] [--scratch-only]
          [--extra-row NAME:KIND:RATIO:OPTIONS ...] [--extra-distilled NAME:KIND:RATIO:OPTIONS ...]
          [--extra-seqkd NAME:KIND:RATIO:OPTIONS ...] [--extra-only]
          [--teachers-only] [--data-only]
Without --train-*: official data is downloaded; with --data-root (default \$FAIRSEQ_SEE_DATA) a local
mirror laid out like ../shared/data/zh-en is used instead (TVsub slice for training, the real test sets).
--lexicon: default the HowNet files beside --data-root, else OpenHowNet's installed data (openhownet).
--sememe-names: default hownet/openhownet__sememe_dict_all.json beside --data-root.
--spm-zh/--spm-en: sentencepiece vocabulary sizes (default: the profile's; raised to the characters
  sentencepiece must keep, with a line saying so). --max-positions: fairseq's --max-source-positions
  and --max-target-positions (default 1024); longer training/validation pairs are dropped and longer
  test lines cut, each file's count printed.
--updates N: the teacher's updates (default: the profile's); every student gets the same N (from
  scratch: N; distilled: the profile's stage 1, stage 2 the rest), so budgets stay equal.
--seqkd / --distilled: the sequence-level KD students (ce, kd) and the other compressors distilled
  (morphte, word2ketxs, tt; all), in that order, at the first ratio and seed (default: the profile's;
  -: none). Two runs on one work dir may split the rows between them (different --ratios/--seeds).
--stage1: the distilled students' stage 1: paper (default: MSE on tables and hidden states, the rest of
  the model frozen) or fit-kd (the tables fitted to the teacher's first, then KD + CE with the rest
  frozen; docs/METHOD.md, "Distillation", has both measured).
--scratch: the other embeddings trained from scratch at the same budget as SEE's from-scratch student
  (word2ketxs, see_random, tt, morphte; all), at the first ratio and every seed. The teacher is trained
  with seed 1 whatever --seeds says (so a run with --seeds 2 shares it); every other seed also trains
  the teacher again (teacher.seedN), to show the teacher's own seed noise.
--scratch-only: train only what needs no teacher (SEE from scratch at every ratio, the --scratch rows),
  so a second run on the same work dir can train them on another core while the first trains the teacher
  and the distilled students (which then finds them done).
--extra-row NAME:KIND:RATIO:OPTIONS: one more row from scratch at the same budget (an ablation), at the
  first seed: KIND (see, see_random, morphte, word2ketxs, tt) at RATIO (-: no ratio, the sizes come from
  OPTIONS), with OPTIONS (fairseq-train options, space-separated) after the row's own; named
  KIND\${RATIO}x.NAME.seedN, e.g. --extra-row "noln:see:20:--see-norm affine" trains see20x.noln.seed1.
  Repeatable; trained with --scratch-only too (no teacher needed).
--extra-distilled NAME:KIND:RATIO:OPTIONS: the same, distilled in the recipe's two stages (OPTIONS in
  both) at the first seed, after the --extra-row rows and not with --scratch-only: KIND\${RATIO}x.NAME-stage1
  and KIND\${RATIO}x.NAME-stage2.seedN (evaluated), e.g. --extra-distilled "bias:see:20:--tied-output-bias".
--extra-seqkd NAME:KIND:RATIO:OPTIONS: an --extra-distilled row and, from its stage 1, the sequence-level
  KD students of --seqkd (ce: KIND\${RATIO}x.NAME-seqkd.seedN, kd: KIND\${RATIO}x.NAME-seqkd-kd.seedN),
  so the two distillations of one student differ in stage 2 only; an --extra-distilled row of the same
  spec is the same two-stage row (trained once).
--extra-only: of the rows, train only the teacher and the --extra-row/-distilled/-seqkd ones (with
  --scratch-only: only the --extra-row ones), for an ablation beside rows already made.
--teachers-only: of the rows, train only the full models: the teacher and, for each further seed of
  --seeds, teacher.seedN (its seed noise); with --scratch-only, the teacher.seedN alone (so it can train
  on another core beside a run that trains the teacher).
EOF
}

# parse_args DATASET OFFICIAL_TESTS_ARRAY ARGS...: the options, and what follows from them
# (OFFICIAL_TESTS_ARRAY: the name of the caller's array of OFFICIAL_TEST specs)
parse_args() {
  local dataset=$1; local -n _official_tests=$2; shift 2
  PROFILE=smoke RATIOS="" SEEDS="" WORKDIR="" DATA_ROOT="${FAIRSEQ_SEE_DATA:-}" LEXICON="" SEMEME_NAMES=""
  WORDNET="" DATA_ONLY="" SCRATCH_ONLY="" EXTRA_ONLY="" TEACHERS_ONLY="" SPM_ZH_OPTION="" SPM_EN_OPTION="" MAX_POSITIONS=1024 UPDATES_OPTION="" SEQKD_OPTION="" DISTILLED_OPTION=""
  SCRATCH_OPTION="" STAGE1=paper TRAIN_ZH="" TRAIN_EN="" VALID_ZH="" VALID_EN="" TESTS=() EXTRA_ROWS=() EXTRA_DISTILLED=()
  EXTRA_SEQKD=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --train-zh)     TRAIN_ZH=$2;     shift 2 ;;
      --train-en)     TRAIN_EN=$2;     shift 2 ;;
      --valid-zh)     VALID_ZH=$2;     shift 2 ;;
      --valid-en)     VALID_EN=$2;     shift 2 ;;
      --test)         TESTS+=("$2");   shift 2 ;;
      --profile)      PROFILE=$2;      shift 2 ;;
      --ratios)       RATIOS=$2;       shift 2 ;;
      --seeds)        SEEDS=$2;        shift 2 ;;
      --workdir)      WORKDIR=$2;      shift 2 ;;
      --data-root)    DATA_ROOT=$2;    shift 2 ;;
      --lexicon)      LEXICON=$2;      shift 2 ;;
      --sememe-names) SEMEME_NAMES=$2; shift 2 ;;
      --wordnet)      WORDNET=$2;      shift 2 ;;
      --spm-zh)       SPM_ZH_OPTION=$2; shift 2 ;;
      --spm-en)       SPM_EN_OPTION=$2; shift 2 ;;
      --max-positions) MAX_POSITIONS=$2; shift 2 ;;
      --updates)      UPDATES_OPTION=$2; shift 2 ;;
      --seqkd)        SEQKD_OPTION=$2; shift 2 ;;
      --distilled)    DISTILLED_OPTION=$2; shift 2 ;;
      --scratch)      SCRATCH_OPTION=$2; shift 2 ;;
      --stage1)       STAGE1=$2;       shift 2 ;;
      --data-only)    DATA_ONLY=1;     shift ;;  # stop once bin/ is ready (the benchmark uses it)
      --scratch-only) SCRATCH_ONLY=1;  shift ;;
      --extra-only)   EXTRA_ONLY=1;    shift ;;
      --teachers-only) TEACHERS_ONLY=1; shift ;;
      --extra-row)    EXTRA_ROWS+=("$2"); shift 2 ;;
      --extra-distilled) EXTRA_DISTILLED+=("$2"); shift 2 ;;
      --extra-seqkd)  EXTRA_SEQKD+=("$2"); shift 2 ;;
      -h|--help) usage; exit 0 ;;
      *) usage >&2; die "unknown option $1" ;;
    esac
  done
  [[ $STAGE1 = paper || $STAGE1 = fit-kd ]] || die "--stage1 $STAGE1: expected paper or fit-kd"
  [ -z "$TEACHERS_ONLY" ] || [ -z "$EXTRA_ONLY" ] \
      || die "--teachers-only and --extra-only: each trains only its own rows; give one of them"
  [ -z "$TEACHERS_ONLY" ] || [ $((${#EXTRA_ROWS[@]} + ${#EXTRA_DISTILLED[@]} + ${#EXTRA_SEQKD[@]})) = 0 ] \
      || die "--teachers-only trains the full models alone: leave out --extra-row, --extra-distilled and --extra-seqkd"
  local spec option
  for spec in "${EXTRA_ROWS[@]/#/--extra-row }" "${EXTRA_DISTILLED[@]/#/--extra-distilled }" \
              "${EXTRA_SEQKD[@]/#/--extra-seqkd }"; do
    option=${spec%% *} spec=${spec#* }
    [[ $spec =~ ^[A-Za-z0-9_-]+:(see|see_random|morphte|word2ketxs|tt):([1-9][0-9.]*|-):.*$ ]] \
        || die "$option $spec: expected NAME:KIND:RATIO:OPTIONS (NAME letters, digits, _ or -; KIND see," \
               "see_random, morphte, word2ketxs or tt; RATIO a number or -)"
    # the recipe's own rows' names, and its distilled ablations' (fairseq_see/recipe/results.py reads them)
    [[ ! ${spec%%:*} =~ ^(stage1|stage2|seqkd|seqkd-kd|scratch)$|-(stage[12]|seqkd|seqkd-kd)$ ]] \
        || die "$option $spec: NAME ${spec%%:*} is taken by the recipe's own rows; choose another"
  done
  WORKDIR=$(realpath -m "${WORKDIR:-work/$dataset-$PROFILE}")  # created by make_workdir, after the checks
  local value
  for option in spm-zh:"$SPM_ZH_OPTION" spm-en:"$SPM_EN_OPTION" max-positions:"$MAX_POSITIONS" \
                updates:"$UPDATES_OPTION"; do
    value=${option#*:}
    [[ -z $value || $value =~ ^[1-9][0-9]*$ ]] || die "--${option%%:*} $value: expected a positive whole number"
  done
  [ "$MAX_POSITIONS" -ge 2 ] \
      || die "--max-positions $MAX_POSITIONS: a line needs at least 2 positions (a piece and </s>)"
  if [ -n "$TRAIN_ZH$TRAIN_EN$VALID_ZH$VALID_EN" ]; then
    local f
    for f in "$TRAIN_ZH" "$TRAIN_EN" "$VALID_ZH" "$VALID_EN"; do
      [ -f "$f" ] || die "${f:-a file}: not found; pass all four of --train-zh/--train-en/--valid-zh/--valid-en"
    done
  fi

  if [ -n "$DATA_ROOT" ]; then
    LEXICON=${LEXICON:-$(hownet_lexicon "$DATA_ROOT")}
    SEMEME_NAMES=${SEMEME_NAMES:-$(hownet_names "$DATA_ROOT")}
    WORDNET=${WORDNET:-$(wordnet_dir "$DATA_ROOT")}
  fi
  if [ -z "$LEXICON" ]; then
    openhownet_installed || die "no sememe lexicon: pass --lexicon FILE[,FILE] or --data-root with hownet/" \
        "beside it, or install OpenHowNet's data (pip install OpenHowNet; python -c 'import OpenHowNet;" \
        "OpenHowNet.download()') for --lexicon openhownet"
    LEXICON=openhownet
    log "no --lexicon: using OpenHowNet's installed data (--lexicon openhownet)"
  fi
  [ -n "$SEMEME_NAMES" ] || [ "$LEXICON" = openhownet ] \
      || log "warning: no --sememe-names: each lexicon's sememe names stay its own units (the same sememe" \
             "from two files is learnt twice) and fairseq-see-extend lists trained sememes as untrained;" \
             "pass OpenHowNet's sememe_dict_all JSON (hownet/openhownet__sememe_dict_all.json in shared/data)"
  SEMEME_ARGS=(--sememe-lexicon "$LEXICON" ${SEMEME_NAMES:+--sememe-names "$SEMEME_NAMES"}
               ${WORDNET:+--wordnet "$WORDNET"})
  SEE_ARGS=(--user-dir "$SEE_USER_DIR" --task translation_sememe "${SEMEME_ARGS[@]}")

  # training data: given files, else a local mirror (TVsub slice), else the official download
  if [ -n "$TRAIN_ZH" ]; then DATA_SOURCE=given
  elif [ -n "$DATA_ROOT" ]; then DATA_SOURCE=mirror
  else DATA_SOURCE=download
  fi
  if [ -n "$DATA_ROOT" ]; then
    local spec name rest
    for spec in "${_official_tests[@]}"; do
      name=${spec%%:*} rest=${spec#*:}
      TESTS+=("$name:$DATA_ROOT/${rest%%:*}:$DATA_ROOT/${rest#*:}")
    done
  fi
  local heldout=$WORKDIR/raw/tvsub_heldout  # written by prepare_raw
  [ "$DATA_SOURCE" != mirror ] || TESTS+=("tvsub_test:$heldout.zh:$heldout.en")
}

# openhownet_installed: the OpenHowNet package and its downloaded data (what --lexicon openhownet reads)
openhownet_installed() {
  python3 -c 'import os, sys
from OpenHowNet.Download import OPENHOWNET_RESOURCE_PATH as home
sys.exit(not os.path.isfile(os.path.join(home, "resources", "HowNet_dict_complete")))' 2> /dev/null
}

make_workdir() { mkdir -p "$WORKDIR"/{raw,seg,spm,bin,ckpt,logs,eval,results,.done}; }

# Sizes per profile, one setting a line (0 pairs: all of them). cpu: chosen so variants differ by more
# than seed noise on 2 cores; converge: small enough that the teacher reaches a plateau on 2 cores and
# every row of issue 13's table trains in an afternoon, d 128 (until 2026-12-02 d 64, FFN 256, where 20x
# leaves ~3 parameters a token and the embeddings were ~80% of the model; a d-128 step costs ~1.6x one
# of d 64 on one thread); converge256: the same at d 256, FFN 1024 (issue 12's upper size: at a given
# ratio twice the parameters a token). Model "-": fairseq's transformer (6+6, d 512).
PROFILES="
setting          smoke  cpu     converge  converge256 gpu          paper
N_TRAIN          3000   200000  50000     50000       0            0            # training pairs, from a mirror
N_VALID          300    2000    1000      1000        0            0            # validation pairs, from a mirror
N_INDOMAIN_TEST  100    1000    1000      1000        0            0            # held-out TVsub pairs, from a mirror
N_TEST           100    0       0         0           0            0            # pairs of each test set
SPM_ZH           2000   8000    6000      6000        16000        32000        # sentencepiece vocabulary
SPM_EN           1500   8000    6000      6000        16000        32000
layers           2      3       2         2           -            -            # model, both sides: layers,
dim              64     256     128       256         -            -            #   embedding size,
ffn              64     1024    512       1024        -            -            #   feed-forward size,
heads            2      4       4         4           -            -            #   attention heads
device           --cpu  --cpu   --cpu     --cpu       --fp16       -            # for fairseq-train and fairseq-generate
MAX_TOKENS       2000   2048    4096      4096        16384        4096         # per batch
LR               2e-3   1e-3    2e-3      2e-3        7e-4         5e-4         # teacher's and students' (stage 1: 1e-2)
WARMUP           20     400     100       100         1000         4000         # teacher's (students: 10% of theirs)
TEACHER_UPDATES  40     600     1500      1500        3000         100000
STAGE1_UPDATES   10     100     150       150         300          10000
FIT_STEPS        20     1500    1500      1500        1500         1500         # --stage1 fit-kd: table fit steps
STAGE2_UPDATES   30     500     1350      1350        2700         90000        # stage 1 + 2 = teacher = from scratch
SEQKD            ce,kd  -       ce        ce          ce,kd        ce,kd        # sequence-level KD students (students())
DISTILLED        word2ketxs  all  all     all         all          all          # other compressors (all: set_profile)
SCRATCH          see_random  -    all     all         -            -            # others from scratch (all: set_profile)
ratios           20     20,80   20,80     20,80       10,20,40,80  10,20,40,80  # defaults of --ratios
seeds            1      1,2     1,2       1,2         1,2          1            # defaults of --seeds
"

set_profile() {
  local column setting value layers dim ffn heads device ratios seeds
  column=$(awk -v p="$PROFILE" '$1 == "setting" {for (i = 2; i <= NF; i++) if ($i == p) print i}' \
      <<< "$PROFILES")
  [ -n "$column" ] || die "--profile must be smoke, cpu, converge, converge256, gpu or paper (got $PROFILE)"
  while read -r setting value; do
    printf -v "$setting" '%s' "$value"  # the lower-case ones are this function's locals
  done < <(awk -v c="$column" 'NF && $1 != "setting" {print $1, $c}' <<< "$PROFILES")
  ARCH_ARGS=() DEVICE_ARGS=()
  [ "$layers" = - ] || mapfile -t ARCH_ARGS < <(transformer_size "$layers" "$dim" "$ffn" "$heads")
  [ "$device" = - ] || DEVICE_ARGS=("$device")
  RATIOS=${RATIOS:-${ratios//,/ }}
  SEEDS=${SEEDS:-${seeds//,/ }}
  SPM_ZH=${SPM_ZH_OPTION:-$SPM_ZH} SPM_EN=${SPM_EN_OPTION:-$SPM_EN}
  if [ -n "$UPDATES_OPTION" ]; then  # stage 1 keeps the profile's length; stage 2 takes the rest
    [ "$UPDATES_OPTION" -gt "$STAGE1_UPDATES" ] \
        || die "--updates $UPDATES_OPTION: the students' stage 1 alone has $STAGE1_UPDATES at profile $PROFILE; give more"
    TEACHER_UPDATES=$UPDATES_OPTION STAGE2_UPDATES=$((UPDATES_OPTION - STAGE1_UPDATES))
  fi
  SEQKD=${SEQKD_OPTION:-${SEQKD//,/ }} DISTILLED=${DISTILLED_OPTION:-${DISTILLED//,/ }}
  [ "$SEQKD" != - ] || SEQKD=""
  [ "$DISTILLED" != - ] || DISTILLED=""
  [ "$DISTILLED" != all ] || DISTILLED="morphte word2ketxs tt"
  SCRATCH=${SCRATCH_OPTION:-${SCRATCH//,/ }}
  [ "$SCRATCH" != - ] || SCRATCH=""
  [ "$SCRATCH" != all ] || SCRATCH="word2ketxs see_random tt morphte"
  local item
  for item in $SEQKD; do [[ $item = ce || $item = kd ]] || die "--seqkd $item: expected ce, kd or -"; done
  [ -n "$SEQKD" ] || [ ${#EXTRA_SEQKD[@]} = 0 ] \
      || die "--extra-seqkd trains the --seqkd students, and there are none (--seqkd -, or none in profile $PROFILE); give --seqkd ce, kd or \"ce kd\""
  for item in $DISTILLED; do
    [[ $item =~ ^(morphte|word2ketxs|tt)$ ]] \
        || die "--distilled $item: expected morphte, word2ketxs, tt, all or -"
  done
  for item in $SCRATCH; do
    [[ $item =~ ^(see_random|morphte|word2ketxs|tt)$ ]] \
        || die "--scratch $item: expected see_random, morphte, word2ketxs, tt, all or -"
  done
  # every student stops after 4 validations without a better valid loss (fairseq's --patience; it
  # validates once an epoch, ~130 updates at converge, and at each checkpoint save); --max-update caps it
  EARLY_STOP=(--patience 4)
  COMMON_TRAIN=("${BASE_TRAIN_ARGS[@]}" --lr "$LR" --warmup-updates "$WARMUP" --max-tokens "$MAX_TOKENS"
                --save-interval-updates 1000 --keep-interval-updates 1  # an interrupted long run resumes here
                --max-source-positions "$MAX_POSITIONS" --max-target-positions "$MAX_POSITIONS"
                "${ARCH_ARGS[@]}" "${DEVICE_ARGS[@]}")
}

# verify_or_record_checksum FILE: no published checksums are known for these archives here, so the first
# complete download's sha256 is recorded in CHECKSUMS.sha256 beside FILE and every later (resumed or
# repeated) download is verified against it
verify_or_record_checksum() {
  local file=$1 sums name sum
  sums=$(dirname "$file")/CHECKSUMS.sha256 name=$(basename "$file")
  sum=$(sha256sum "$file" | cut -d' ' -f1)
  if grep -q " $name\$" "$sums" 2>/dev/null; then
    grep -q "^$sum $name\$" "$sums" \
        || die "$file: sha256 $sum differs from the one recorded in $sums; delete the file and rerun"
  else
    echo "$sum $name" >> "$sums"; log "recorded sha256 of $name in $sums"
  fi
}

# record ITEM...: what a step is made from, one line an item, after a first line "sha256 <hex of the
# rest>" (its fingerprint): "file PATH SIZE SHA256" for file:PATH (file:A,B: each; a name that is not
# a file, such as openhownet, as "name NAME"), "dir PATH SHA256" for dir:PATH (every file's contents),
# "step NAME FINGERPRINT" for step:NAME (the fingerprint in that step's marker), "option ITEM" else.
# The plugin's own path (SEE_USER_DIR, in --user-dir and in the files of ours a step reads) is recorded
# as <plugin>, so a work dir carries on from another checkout of the same code instead of retraining.
record() {
  local item path paths body=""
  for item in "$@"; do
    case $item in
      file:*)
        IFS=, read -ra paths <<< "${item#file:}"
        for path in "${paths[@]}"; do
          if [ -f "$path" ]; then
            body+="file $path $(stat -L -c %s "$path") $(sha256sum < "$path" | cut -c1-64)"$'\n'
          else
            body+="name $path"$'\n'
          fi
        done ;;
      dir:*)
        path=${item#dir:}
        if [ -z "$path" ]; then
          continue
        elif [ -d "$path" ]; then
          body+="dir $path $(cd "$path" && find -L . -type f -print0 | sort -z | xargs -0 -r sha256sum \
                             | sha256sum | cut -c1-64)"$'\n'
        else
          body+="name $path"$'\n'
        fi ;;
      step:*) body+="step ${item#step:} $(fingerprint "${item#step:}")"$'\n' ;;
      *) body+="option $item"$'\n' ;;
    esac
  done
  body=${body//"$SEE_USER_DIR"/<plugin>}
  printf 'sha256 %s\n%s' "$(printf '%s' "$body" | sha256sum | cut -c1-64)" "$body"
}

# path_fingerprint RECORD: the fingerprint RECORD had before <plugin> (2026-12-02), with this checkout's
# path in its place: a marker of then, made from this checkout, still counts
path_fingerprint() {
  local body
  body=$(tail -n +2 <<< "$1")
  body=${body//<plugin>/"$SEE_USER_DIR"}
  printf 'sha256 %s' "$(printf '%s\n' "$body" | sha256sum | cut -c1-64)"
}

# same_made_from FINGERPRINT RECORD: FINGERPRINT (a marker's first line) is RECORD's, in either form
same_made_from() {
  [ -n "$1" ] && { [ "$1" = "$(head -n 1 <<< "$2")" ] || [ "$1" = "$(path_fingerprint "$2")" ]; }
}

# fingerprint STEP: the first line of the step's marker (empty when the step was never completed)
fingerprint() { head -n 1 "$WORKDIR/.done/$1" 2> /dev/null || true; }
# step_done STEP RECORD: the step was completed from exactly what RECORD lists, and what it made is there
step_done() { same_made_from "$(fingerprint "$1")" "$2" && [ -z "$(missing_output "$1")" ]; }
# missing_output STEP: the first file the step's marker lists as made (its "output" lines, paths in the
# work dir) that is not there; empty when all are (or the marker lists none: one of before 2026-12-07)
missing_output() {
  local path
  while read -r path; do
    [ -e "$WORKDIR/$path" ] || { echo "$WORKDIR/$path"; return 0; }
  done < <(sed -n 's/^output //p' "$WORKDIR/.done/$1" 2> /dev/null)
}
# mark_done STEP RECORD [OUTPUT...]: the step's marker, RECORD and an "output" line for each file the step
# made (in the work dir), so that a deleted output makes the step run again
mark_done() {
  local step=$1 record=$2 path; shift 2
  { printf '%s\n' "$record"
    for path in "$@"; do printf 'output %s\n' "${path#"$WORKDIR/"}"; done
  } > "$WORKDIR/.done/$step"
}

# prepare_raw TITLE DOWNLOAD_FUNCTION: raw/{train,valid}.{zh,en} (and the TVsub held-out test when
# mirrored) from DATA_SOURCE; raw/TRAINED_ON says which
prepare_raw() {
  local title=$1 download=$2 raw=$WORKDIR/raw trained_on made_from tv=$DATA_ROOT/train/tvsub
  case $DATA_SOURCE in
    given) made_from=$(record given "file:$TRAIN_ZH" "file:$TRAIN_EN" "file:$VALID_ZH" "file:$VALID_EN") ;;
    mirror) made_from=$(record mirror "file:$tv/train.zh.xz" "file:$tv/train.en.xz" "file:$tv/train.episodes.tsv" \
                               "N_TRAIN $N_TRAIN" "N_VALID $N_VALID" "N_INDOMAIN_TEST $N_INDOMAIN_TEST") ;;
    download) made_from=$(record download "$title" "$download") ;;
  esac
  step_done raw "$made_from" && return 0
  case $DATA_SOURCE in
    given)
      cp "$TRAIN_ZH" "$raw/train.zh"; cp "$TRAIN_EN" "$raw/train.en"
      cp "$VALID_ZH" "$raw/valid.zh"; cp "$VALID_EN" "$raw/valid.en"
      trained_on="given files ($(wc -l < "$raw/train.zh") pairs)" ;;
    mirror)
      local first_valid first_test n l
      [ -f "$tv/train.zh.xz" ] \
          || die "$tv/train.zh.xz: not found; pass --data-root pointing at a copy of shared/data/zh-en"
      # whole episodes at the end of TVsub are held out: the last 10 for test, the 10 before for valid
      first_test=$(awk 'NR>1 {s[NR]=$2} END {print s[NR-9]}' "$tv/train.episodes.tsv")
      first_valid=$(awk 'NR>1 {s[NR]=$2} END {print s[NR-19]}' "$tv/train.episodes.tsv")
      n=$N_TRAIN; [ "$n" -gt 0 ] || n=$((first_valid - 1))
      for l in zh en; do  # one pass over the 2.15M lines (no head: SIGPIPE would fail the pipeline)
        xzcat "$tv/train.$l.xz" | awk -v n="$n" -v fv="$first_valid" -v ft="$first_test" -v nv="$N_VALID" \
            -v tr="$raw/train.$l" -v va="$raw/valid.$l" -v te="$raw/tvsub_heldout.$l" \
            -v nt="$N_INDOMAIN_TEST" \
            'NR <= n {print > tr} NR >= fv && NR < ft && (nv == 0 || NR < fv + nv) {print > va}
             NR >= ft && (nt == 0 || NR < ft + nt) {print > te}'
      done
      trained_on="TVsub first $n pairs (not $title training data)" ;;
    download)
      "$download" "$raw" || die "cannot download the official $title data;" \
          "pass --train-zh/--train-en/--valid-zh/--valid-en or --data-root (a local mirror)"
      trained_on="official $title training data" ;;
  esac
  echo "$trained_on" > "$raw/TRAINED_ON"
  mark_done raw "$made_from" "$raw"/{train,valid}.{zh,en} "$raw/TRAINED_ON"
}

# test_splits: the test sets' names, in TESTS order (one a line)
test_splits() { local spec; for spec in "${TESTS[@]}"; do echo "${spec%%:*}"; done; }

check_and_segment() {
  local raw=$WORKDIR/raw seg=$WORKDIR/seg spec name zh en split pairs=() tests=() made_from
  for spec in "${TESTS[@]}"; do
    IFS=: read -r name zh en <<< "$spec"
    tests+=("test $name" "file:$zh" "file:$en")
  done
  made_from=$(record step:raw "${tests[@]}" "N_TEST $N_TEST" "file:$LEXICON" "file:$SEMEME_NAMES" "dir:$WORDNET")
  step_done segment "$made_from" && return 0
  fairseq-see-recipe check "$raw/train.zh" "$raw/train.en"
  fairseq-see-recipe check "$raw/valid.zh" "$raw/valid.en"
  for spec in "${TESTS[@]}"; do
    IFS=: read -r name zh en <<< "$spec"
    if [ "$N_TEST" -gt 0 ]; then
      head -n "$N_TEST" "$zh" > "$raw/$name.zh"; head -n "$N_TEST" "$en" > "$raw/$name.en"
    else
      cp "$zh" "$raw/$name.zh"; cp "$en" "$raw/$name.en"
    fi
    fairseq-see-recipe check "$raw/$name.zh" "$raw/$name.en"
  done
  for split in train valid $(test_splits); do
    pairs+=("$raw/$split.zh" "$seg/$split.zh")
    cp "$raw/$split.en" "$seg/$split.en"
  done
  fairseq-see-recipe segment "${SEMEME_ARGS[@]}" "${pairs[@]}" | tee "$WORKDIR/logs/jieba_coverage.txt"
  # what adding the lexicon's words to jieba buys: the same validation text, plain jieba
  fairseq-see-recipe segment "${SEMEME_ARGS[@]}" --no-lexicon-words \
      "$raw/valid.zh" "$seg/valid.plain-jieba.zh" | tee -a "$WORKDIR/logs/jieba_coverage.txt"
  local made=()
  for split in train valid $(test_splits); do made+=("$seg/$split.zh" "$seg/$split.en"); done
  mark_done segment "$made_from" "${made[@]}"
}

# binarize: sentencepiece, pairs fitted to the model's positions, fairseq-preprocess, the SEE index.
# Redoing it retires every model trained on the previous data (ckpt, eval, results and their markers), so a
# file of bin/ deleted since is an error, not a reason to redo it.
binarize() {
  local seg=$WORKDIR/seg spm=$WORKDIR/spm l split splits testpref made_from missing
  made_from=$(record step:segment "SPM_ZH $SPM_ZH" "SPM_EN $SPM_EN" "MAX_POSITIONS $MAX_POSITIONS")
  if same_made_from "$(fingerprint binarize)" "$made_from"; then
    missing=$(missing_output binarize)
    [ -z "$missing" ] || die "$missing: missing from the binarized data the models were trained on; restore it," \
                             "or delete $WORKDIR/.done/binarize to binarize again (which retires every model)"
    return 0
  fi
  rm -rf "${WORKDIR:?}"/{ckpt,eval,results}/* "$WORKDIR"/.done/{train,eval,collect}.* "$WORKDIR"/logs/*.log
  splits=$(test_splits)
  fairseq-see-recipe spm-train --input "$seg/train.zh" --prefix "$spm/zh" --vocab-size "$SPM_ZH" \
      --character-coverage 0.9995
  fairseq-see-recipe spm-train --input "$seg/train.en" --prefix "$spm/en" --vocab-size "$SPM_EN"
  for l in zh en; do
    for split in train valid $splits; do
      fairseq-see-recipe spm-encode --model "$spm/$l.model" "$seg/$split.$l" "$spm/$split.$l"
    done
  done
  # fairseq refuses (validation, generation) or skips (training) pairs longer than its positions:
  # training and validation pairs that do not fit are dropped, test lines are cut (every test line keeps
  # its hypothesis, scored against its whole reference)
  local fit=(fairseq-see-recipe fit-positions --max-source-positions "$MAX_POSITIONS"
             --max-target-positions "$MAX_POSITIONS")
  "${fit[@]}" --drop "$spm/train.zh" "$spm/train.en" "$spm/valid.zh" "$spm/valid.en"
  for split in $splits; do "${fit[@]}" --truncate "$spm/$split.zh" "$spm/$split.en"; done
  testpref=$(for split in $splits; do printf '%s,' "$spm/$split"; done)
  rm -rf "${WORKDIR:?}/bin"
  fairseq-preprocess --source-lang zh --target-lang en --trainpref "$spm/train" --validpref "$spm/valid" \
      --testpref "${testpref%,}" --destdir "$WORKDIR/bin" --workers 2 > "$WORKDIR/logs/preprocess.log"
  # the Morfessor segmenters (see_morfessor.<lang>.txt) are trained on the raw training text
  fairseq-see-index "$WORKDIR/bin" "${SEMEME_ARGS[@]}" --segmenter-corpus "zh=$WORKDIR/raw/train.zh" \
      --segmenter-corpus "en=$WORKDIR/raw/train.en" | tee "$WORKDIR/logs/index.log"
  echo "$splits" > "$WORKDIR/bin/TEST_SPLITS"  # fairseq's test, test1, ... in this order
  mark_done binarize "$made_from" "$WORKDIR"/bin/{TEST_SPLITS,dict.zh.txt,dict.en.txt,see_index.zh.npz,see_index.en.npz} \
      "$WORKDIR"/bin/{train,valid}.zh-en.{zh,en}.{bin,idx}
}

# train NAME SEED [--data DIR] [--init-from CHECKPOINT] FAIRSEQ_TRAIN_ARGS...: resumable (checkpoint_last),
# its log appended to logs/NAME.log; FAIRSEQ_TRAIN_ARGS come after COMMON_TRAIN, so they override it. It
# trains and validates on DIR (default bin/; another one is part of the fingerprint, every file's
# contents). A new run (no checkpoint_last yet) starts from CHECKPOINT with fresh optimizer, data and
# lr state. A checkpoint directory made from other inputs (its MADE_FROM) is deleted, with the log,
# rather than resumed; a step marked done whose directory is gone is trained again.
train() {
  local name=$1 seed=$2 start=$SECONDS arg deps=() made_from init=() ckpt=$WORKDIR/ckpt/$1
  local data=$WORKDIR/bin data_made_from=(); shift 2
  if [ "${1:-}" = --data ]; then
    data=$2 data_made_from=("data $2" "dir:$2"); shift 2
  fi
  for arg in "$@"; do  # the models it starts from or learns from
    case $arg in "$WORKDIR"/ckpt/*/*) deps+=("step:train.$(basename "$(dirname "$arg")")") ;; esac
  done
  made_from=$(record step:binarize "${data_made_from[@]}" "${deps[@]}" "seed $seed" "${COMMON_TRAIN[@]}" "$@")
  # done only with its checkpoint: a directory deleted to redo a run is trained again (from the same inputs)
  [ -f "$ckpt/checkpoint_last.pt" ] && step_done "train.$name" "$made_from" && return 0
  if [ "${1:-}" = --init-from ]; then
    init=(--restore-file "$2" --reset-optimizer --reset-dataloader --reset-meters --reset-lr-scheduler)
    shift 2
  fi
  if [ -d "$ckpt" ] && ! same_made_from "$(head -n 1 "$ckpt/MADE_FROM" 2> /dev/null)" "$made_from"; then
    rm -rf "$ckpt" "$WORKDIR/logs/$name.log"
  fi
  mkdir -p "$ckpt"
  printf '%s\n' "$made_from" > "$ckpt/MADE_FROM"
  [ ! -f "$ckpt/checkpoint_last.pt" ] || init=()  # resumed
  log "train $name"
  local status=0
  fairseq-train "$data" "${COMMON_TRAIN[@]}" --seed "$seed" --save-dir "$ckpt" "${init[@]}" "$@" \
      2>&1 \
      | tee -a "$WORKDIR/logs/$name.log" \
      | { grep -E "embedding \(|embedding compression|init-student|valid on|early stop|done training" || true; } \
      || status=$?
  # a run killed or crashed after saving a checkpoint is not done: the next run resumes it
  [ "$status" = 0 ] || die "training $name stopped with exit status $status; see $WORKDIR/logs/$name.log" \
                           "(rerun the same command to resume it from its last checkpoint)"
  [ -f "$ckpt/checkpoint_last.pt" ] || die "training $name failed; see $WORKDIR/logs/$name.log"
  log "train $name done in $((SECONDS - start)) s"
  mark_done "train.$name" "$made_from"
}

# evaluate NAME [--after EARLIER] FAIRSEQ_ARGS...: every test split through NAME's best checkpoint, scored,
# then its row (collect_row). EARLIER: the training step NAME started from (its stage 1).
evaluate() {
  local name=$1 made_from earlier=(); shift
  if [ "${1:-}" = --after ]; then
    earlier=("$2"); shift 2
  fi
  made_from=$(record "step:train.$name" "$@" "${DEVICE_ARGS[@]}")
  if ! step_done "eval.$name" "$made_from"; then
    log "evaluate $name"
    local splits split subset i=0 out made=()
    mapfile -t splits < "$WORKDIR/bin/TEST_SPLITS"
    for split in "${splits[@]}"; do
      subset="test"; [ $i -gt 0 ] && subset=test$i
      out=$WORKDIR/eval/$name.$split
      generate "$WORKDIR/bin" "$WORKDIR/ckpt/$name/checkpoint_best.pt" "$subset" "$out" "$@" \
          "${DEVICE_ARGS[@]}"
      if scored_by_sacrebleu_iwslt17 "$split"; then
        score "$out.hyp" -t iwslt17 -l zh-en > "$out.json"
      else  # a slice of the test set (smoke), or a set sacrebleu does not ship
        score "$out.hyp" "$WORKDIR/raw/$split.en" > "$out.json"
      fi
      made+=("$out.gen" "$out.hyp" "$out.json")  # what collect_row reads
      i=$((i + 1))
    done
    mark_done "eval.$name" "$made_from" "${made[@]}"
  fi
  collect_row "$name" "${earlier[@]}"
}

# scored_by_sacrebleu_iwslt17 SPLIT: SPLIT is the whole IWSLT17 tst2017, scored with sacrebleu's own copy
scored_by_sacrebleu_iwslt17() { [ "$1" = iwslt17_tst2017 ] && [ "$N_TEST" = 0 ] && have_sacrebleu_iwslt17; }

# collect_row NAME [EARLIER]: results/NAME.json from NAME's scores, checkpoint and training logs (EARLIER's
# minutes and updates count too), naming the hypothesis and reference files the report's paired bootstrap
# reads. Its own step, remade when the evaluation or the code that makes rows changed: a row collected by
# an older recipe gets what the report needs without evaluating again.
collect_row() {
  local name=$1 made_from logs=() step splits split out reference specs=()
  made_from=$(record "step:eval.$name" "${@/#/step:train.}" "file:$SEE_USER_DIR/recipe/results.py")
  step_done "collect.$name" "$made_from" && return 0
  for step in "${@:2}" "$name"; do logs+=(--train-log "$WORKDIR/logs/$step.log"); done
  mapfile -t splits < "$WORKDIR/bin/TEST_SPLITS"
  for split in "${splits[@]}"; do
    out=$WORKDIR/eval/$name.$split reference=$WORKDIR/raw/$split.en
    if scored_by_sacrebleu_iwslt17 "$split"; then
      reference=$WORKDIR/eval/$split.reference
      if [ ! -s "$reference" ]; then
        sacrebleu -t iwslt17 -l zh-en --echo ref > "$reference.partial"
        mv "$reference.partial" "$reference"
      fi
    fi
    specs+=(--test "$split:$out.gen:$out.json:$out.hyp:$reference")
  done
  fairseq-see-recipe collect --name "$name" --trained-on "$(cat "$WORKDIR/raw/TRAINED_ON")" "${logs[@]}" \
      --checkpoint "$WORKDIR/ckpt/$name/checkpoint_best.pt" "${specs[@]}" \
      --output "$WORKDIR/results/$name.json"
  mark_done "collect.$name" "$made_from" "$WORKDIR/results/$name.json"
}

# sequence_kd_data TEACHER_CHECKPOINT: $WORKDIR/bin-seqkd, the training source with the teacher's beam-5
# translations as targets (sequence-level knowledge distillation, Kim & Rush 2016) and the rest of bin/
# (dictionaries, index, valid and test splits) as it is. The translations are made in shards kept in
# $WORKDIR/seqkd, so an interrupted run generates only the shards still missing.
sequence_kd_data() {
  local teacher=$1 made_from teacher_made_from=file:$1
  # a teacher of ours stands for its training step, as in train (no checkpoint hashed on every rerun)
  case $teacher in "$WORKDIR"/ckpt/*/*) teacher_made_from=step:train.$(basename "$(dirname "$teacher")") ;; esac
  made_from=$(record step:binarize "$teacher_made_from" "teacher $teacher" "${DEVICE_ARGS[@]}")
  step_done seqkd "$made_from" && return 0
  log "sequence-level KD data: the training source translated by $teacher"
  fairseq-see-recipe sequence-kd "$WORKDIR/bin" --teacher "$teacher" --output "$WORKDIR/bin-seqkd" \
      --shard-dir "$WORKDIR/seqkd" --log-dir "$WORKDIR/logs" --workers 2 "${DEVICE_ARGS[@]}" 2>&1 \
      | tee "$WORKDIR/logs/seqkd.log" || die "sequence-level KD data failed; see $WORKDIR/logs/seqkd.log"
  mark_done seqkd "$made_from" "$WORKDIR"/bin-seqkd/train.zh-en.{zh,en}.{bin,idx}
}

have_sacrebleu_iwslt17() { sacrebleu -t iwslt17 -l zh-en --echo src > /dev/null 2>&1; }

# students SEED RATIO: the SEE student distilled in two stages and the same student from scratch; at the
# first ratio the other embeddings from scratch (SCRATCH); at the first seed and ratio also the
# sequence-level KD students (SEQKD) and the other compressors (DISTILLED) distilled in the same two
# stages. Budget: stage 1 + stage 2 = the teacher's updates (from scratch: as many), each run stopping
# early on validation (EARLY_STOP) with --max-update as the cap.
students() {
  local seed=$1 ratio=$2 kind
  [ -n "$SCRATCH_ONLY" ] || two_stage see "$seed" "$ratio"
  from_scratch see "$seed" "$ratio"
  [ "$ratio" = "${RATIOS%% *}" ] || return 0
  for kind in $SCRATCH; do from_scratch "$kind" "$seed" "$ratio"; done
  [ "$seed" = "${SEEDS%% *}" ] && [ -z "$SCRATCH_ONLY" ] || return 0
  [ -z "$SEQKD" ] || sequence_kd_students see "$seed" "$ratio"
  for kind in $DISTILLED; do two_stage "$kind" "$seed" "$ratio"; done
}

# student_options KIND RATIO: a see_transformer with KIND embeddings on both sides sized for RATIO (the
# model picks each side's sizes and logs what it achieved; -: no ratio), early stopping; one option a line
student_options() {
  local ratio=(--embedding-compression-ratio "$2")
  [ "$2" != - ] || ratio=()
  printf '%s\n' "${SEE_ARGS[@]}" --arch see_transformer --encoder-embedding-type "$1" \
      --decoder-embedding-type "$1" "${ratio[@]}" "${EARLY_STOP[@]}"
}

# row_prefix KIND RATIO: how the rows of KIND at RATIO are named, KIND${RATIO}x. (RATIO -: KIND.)
row_prefix() { if [ "$2" = - ]; then echo "$1."; else echo "$1$2x."; fi; }

# two_stage KIND SEED RATIO [VARIANT FAIRSEQ_TRAIN_ARGS...]: KIND${RATIO}x.stage1.seedSEED and
# KIND${RATIO}x.stage2.seedSEED, distilled from the teacher (stage 2 evaluated); VARIANT names them
# KIND${RATIO}x.VARIANT-stage1/-stage2.seedSEED (RATIO -: KIND.VARIANT-...), the FAIRSEQ_TRAIN_ARGS after
# their own in both stages (an --extra-distilled)
two_stage() {
  local kind=$1 seed=$2 ratio=$3 options teacher=$WORKDIR/ckpt/teacher/checkpoint_best.pt prefix extra
  shift 3
  prefix=$(row_prefix "$kind" "$ratio")
  if [ $# -gt 0 ]; then prefix=$prefix$1-; shift; fi
  local s1=${prefix}stage1.seed$seed
  extra=("$@")
  mapfile -t options < <(student_options "$kind" "$ratio")
  # stage 1 trains only the new embeddings, inside the teacher's copied and frozen transformer (so a
  # larger lr is safe). paper: MSE on tables and hidden states, the weight 100 putting the table MSE
  # (~0.01 per element) on the scale of the hidden-state MSE (~1-5). fit-kd: the tables first fitted
  # to the teacher's (FIT_STEPS full-batch steps, no data), then stage 2's loss through the frozen
  # body: a far better student after stage 1, not after stage 2 (docs/METHOD.md, "Distillation").
  # Short stages: warm-up 10%.
  local stage1=(--distill-stage 1 --init-student-from-teacher --freeze-non-embedding --embed-mse-weight 100)
  [ "$STAGE1" = paper ] || stage1=(--init-student-from-teacher --freeze-non-embedding --fit-tables-steps "$FIT_STEPS"
                                   --distill-stage 2 --kd-alpha 0.5 --kd-temperature 1 --label-smoothing 0.1)
  train "$s1" "$seed" "${options[@]}" --criterion see_distillation --teacher-checkpoint "$teacher" \
      "${stage1[@]}" --lr 1e-2 \
      --warmup-updates $((STAGE1_UPDATES / 10 + 1)) --max-update "$STAGE1_UPDATES" "${extra[@]}"
  stage2 "${prefix}stage2.seed$seed" "$seed" "$s1" "${options[@]}" --criterion see_distillation \
      --teacher-checkpoint "$teacher" --distill-stage 2 --kd-alpha 0.5 --kd-temperature 1 \
      --label-smoothing 0.1 "${extra[@]}"
}

# stage2 NAME SEED STAGE1 [--data DIR] FAIRSEQ_TRAIN_ARGS...: NAME trained from STAGE1's last checkpoint,
# every parameter, at the profile's lr, then evaluated (its row counts both stages)
stage2() {
  local name=$1 seed=$2 s1=$3 data=(); shift 3
  if [ "${1:-}" = --data ]; then
    data=(--data "$2"); shift 2
  fi
  train "$name" "$seed" "${data[@]}" --init-from "$WORKDIR/ckpt/$s1/checkpoint_last.pt" "$@" \
      --warmup-updates $((STAGE2_UPDATES / 10 + 1)) --max-update "$STAGE2_UPDATES"
  evaluate "$name" --after "$s1" "${SEE_ARGS[@]}"
}

# from_scratch KIND SEED RATIO [VARIANT FAIRSEQ_TRAIN_ARGS...]: the KIND student of two_stage, trained from
# random initialisation with plain label-smoothed cross-entropy for stage 1 + stage 2 updates; VARIANT
# (default scratch) names the row KIND${RATIO}x.VARIANT.seedSEED (RATIO -: KIND.VARIANT.seedSEED), the
# FAIRSEQ_TRAIN_ARGS after its own (an --extra-row)
from_scratch() {
  local kind=$1 seed=$2 ratio=$3 variant=scratch options updates=$((STAGE1_UPDATES + STAGE2_UPDATES)) name
  shift 3
  if [ $# -gt 0 ]; then variant=$1; shift; fi
  name=$(row_prefix "$kind" "$ratio")$variant.seed$seed
  mapfile -t options < <(student_options "$kind" "$ratio")
  train "$name" "$seed" "${options[@]}" --criterion label_smoothed_cross_entropy --label-smoothing 0.1 \
      --warmup-updates $((updates / 10 + 1)) --max-update "$updates" "$@"
  evaluate "$name" "${SEE_ARGS[@]}"
}

# extra_row SEED from_scratch|two_stage NAME:KIND:RATIO:OPTIONS: an --extra-row (from scratch) or an
# --extra-distilled (two stages)
extra_row() {
  local seed=$1 how=$2 name kind ratio options
  IFS=: read -r name kind ratio options <<< "$3"
  # shellcheck disable=SC2086  # OPTIONS are space-separated fairseq-train options
  "$how" "$kind" "$seed" "$ratio" "$name" $options
}

# sequence_kd_students KIND SEED RATIO [VARIANT FAIRSEQ_TRAIN_ARGS...]: stage 2 of two_stage's KIND student
# (the same arguments) on the teacher's beam-5 translations of the training source (bin-seqkd), from that
# student's own stage 1 (it fits tables and hidden states to the teacher's, on bin/'s pairs), so the two
# differ in stage 2 only: per SEQKD item, ce = label-smoothed CE alone (KIND${RATIO}x.[VARIANT-]seqkd),
# kd = with stage 2's word-level KD as well (KIND${RATIO}x.[VARIANT-]seqkd-kd)
sequence_kd_students() {
  local kind=$1 seed=$2 ratio=$3 variant options prefix extra teacher=$WORKDIR/ckpt/teacher/checkpoint_best.pt
  shift 3
  prefix=$(row_prefix "$kind" "$ratio")
  if [ $# -gt 0 ]; then prefix=$prefix$1-; shift; fi
  extra=("$@")
  local s1=${prefix}stage1.seed$seed
  mapfile -t options < <(student_options "$kind" "$ratio")
  sequence_kd_data "$teacher"
  for variant in $SEQKD; do
    case $variant in
      ce) stage2 "${prefix}seqkd.seed$seed" "$seed" "$s1" --data "$WORKDIR/bin-seqkd" "${options[@]}" \
              --criterion label_smoothed_cross_entropy --label-smoothing 0.1 "${extra[@]}" ;;
      kd) stage2 "${prefix}seqkd-kd.seed$seed" "$seed" "$s1" --data "$WORKDIR/bin-seqkd" "${options[@]}" \
              --criterion see_distillation --teacher-checkpoint "$teacher" --distill-stage 2 --kd-alpha 0.5 \
              --kd-temperature 1 --label-smoothing 0.1 "${extra[@]}" ;;
      *) die "SEQKD: $variant is neither ce nor kd" ;;
    esac
  done
}

# two_stage_and_sequence_kd KIND SEED RATIO VARIANT FAIRSEQ_TRAIN_ARGS...: an --extra-seqkd
two_stage_and_sequence_kd() { two_stage "$@"; sequence_kd_students "$@"; }

pipeline_main() {
  local dataset=$1 title=$2 download=$3 official_tests=(); shift 3
  while [ $# -gt 0 ] && [ "$1" != -- ]; do official_tests+=("$1"); shift; done
  [ $# -gt 0 ] || die "pipeline_main: no -- before the script's arguments"
  shift
  local command="$0 $*" t0
  parse_args "$dataset" official_tests "$@"
  set_profile
  make_workdir
  readonly PROFILE RATIOS SEEDS STAGE1 WORKDIR DATA_ROOT LEXICON SEMEME_NAMES WORDNET DATA_ONLY SCRATCH_ONLY EXTRA_ONLY TEACHERS_ONLY MAX_POSITIONS \
      TRAIN_ZH TRAIN_EN VALID_ZH VALID_EN EXTRA_ROWS EXTRA_DISTILLED EXTRA_SEQKD \
      DATA_SOURCE TESTS SEMEME_ARGS SEE_ARGS N_TRAIN N_VALID N_INDOMAIN_TEST N_TEST SPM_ZH SPM_EN MAX_TOKENS \
      LR WARMUP TEACHER_UPDATES STAGE1_UPDATES FIT_STEPS STAGE2_UPDATES SEQKD DISTILLED SCRATCH ARCH_ARGS \
      DEVICE_ARGS \
      COMMON_TRAIN EARLY_STOP
  t0=$SECONDS

  log "$title recipe, profile $PROFILE, ratios $RATIOS, seeds $SEEDS, work dir $WORKDIR"
  prepare_raw "$title" "$download"
  log "data ready: $(cat "$WORKDIR/raw/TRAINED_ON") ($((SECONDS - t0)) s)"
  # sacrebleu's own IWSLT17 test set, from the mirror's archives when sacrebleu cannot download it
  if [ -n "$DATA_ROOT" ] && [ -f "$DATA_ROOT/test/iwslt17/2017-01-ted-test.texts.zh.en.zh-en.tgz" ]; then
    have_sacrebleu_iwslt17 || fairseq-see-recipe iwslt17-cache --archives "$DATA_ROOT/test/iwslt17"
  fi
  check_and_segment;  log "segmented ($((SECONDS - t0)) s)"
  binarize;           log "binarized and indexed ($((SECONDS - t0)) s)"
  [ -z "$DATA_ONLY" ] || return 0

  local teacher_args=(--user-dir "$SEE_USER_DIR" --task translation --arch transformer
                      --share-decoder-input-output-embed --criterion label_smoothed_cross_entropy
                      --label-smoothing 0.1 --max-update "$TEACHER_UPDATES")
  # the teacher's seed is 1 whatever --seeds says: runs that split the seeds between them share it
  if [ -z "$SCRATCH_ONLY" ]; then
    train teacher 1 "${teacher_args[@]}"
    evaluate teacher --user-dir "$SEE_USER_DIR" --task translation
  fi
  local seed ratio
  for seed in $SEEDS; do
    [ -z "$EXTRA_ONLY" ] || break
    for ratio in $RATIOS; do
      [ -z "$TEACHERS_ONLY" ] || break
      # further seeds repeat the first ratio only: they measure run-to-run noise
      [ "$seed" = "${SEEDS%% *}" ] || [ "$ratio" = "${RATIOS%% *}" ] || continue
      students "$seed" "$ratio"
    done
    if [ "$seed" != 1 ]; then  # the teacher's own seed noise (the students' teacher stays)
      train "teacher.seed$seed" "$seed" "${teacher_args[@]}"
      evaluate "teacher.seed$seed" --user-dir "$SEE_USER_DIR" --task translation
    fi
  done
  local spec
  for spec in "${EXTRA_ROWS[@]}"; do extra_row "${SEEDS%% *}" from_scratch "$spec"; done
  if [ -z "$SCRATCH_ONLY" ]; then
    for spec in "${EXTRA_DISTILLED[@]}"; do extra_row "${SEEDS%% *}" two_stage "$spec"; done
    for spec in "${EXTRA_SEQKD[@]}"; do extra_row "${SEEDS%% *}" two_stage_and_sequence_kd "$spec"; done
  fi
  fairseq-see-recipe report --workdir "$WORKDIR" --title "$title zh-en, profile $PROFILE" \
      --note "Command: $command"
  log "done in $((SECONDS - t0)) s; table: $WORKDIR/RESULTS.md (as data: RESULTS.json)," \
      "plot: $WORKDIR/bleu_vs_ratio.png"
}
