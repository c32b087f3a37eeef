"""Sequence-level knowledge distillation data (Kim & Rush 2016): the teacher translates the training
source once with beam search, and a student trains on those translations instead of the references.

``sequence_kd_data`` makes a new data-bin from a data-bin (``bin/``) and a teacher trained on it:

1. the teacher must index the same tokens as the data-bin; one that does not is refused before any
   generation, in one line naming both dictionary files;
2. fairseq-generate translates the training subset (beam 5, no ``--remove-bpe``: the pieces the
   dictionary holds) in shards, each written to a temporary file renamed into place once complete, so
   a rerun generates only the shards still missing (``MADE_FROM`` says what the shards were made from;
   shards made from anything else are removed first);
3. the shards' lines, parsed once and strictly, must cover every training pair exactly once; the
   hypotheses become the targets in pair order (an empty one keeps the reference), written as text
   beside the shards and binarised with the data-bin's own dictionaries, so token ids are the same;
4. the new data-bin is the old one with train.* replaced: assembled in ``<output>.partial`` and renamed
   into place last, so an interrupted run never leaves a half-made one.
"""

import filecmp
import glob
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys

from ..errors import RecipeError
from ..lexicon import dictionary_checksum, read_fairseq_dictionary
from ..lexicon.files import atomic_output
from .corpus import read_lines, write_atomic

BEAM = 5
PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# fairseq-generate's lines for one pair: source, reference, hypothesis (score, then pieces), and the
# detokenised hypothesis and per-token scores, which are not needed here
PAIR_LINE = re.compile(r"([STHDP])-(\d+)\t(.*)")
SCORE = re.compile(r"-?(\d+(\.\d*)?([eE][-+]?\d+)?|inf)")


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_teacher(data, teacher):
    """The teacher's task and language pair, once its dictionaries are known to be the data-bin's.

    The token ids must mean the same on both sides: the dictionaries the teacher was trained with
    (found through the checkpoint's task data and languages) must list the data-bin's symbols in the
    same order (the counts do not matter); when that data-bin is gone, the checkpoint's token tables
    must have as many rows as the data-bin's dictionaries have symbols.
    """
    from ..checkpoint_files import language_pair, load_checkpoint
    state = load_checkpoint(teacher, "teacher checkpoint", "pass the teacher's checkpoint_best.pt")
    # fairseq's task data may list several data-bins (path1:path2:...); the first holds the dictionaries
    teacher_data = str(state["cfg"]["task"].get("data") or "").split(os.pathsep)[0]
    # languages the checkpoint leaves unset are the teacher's data-bin's, while it is there
    source, target = language_pair(state, teacher_data if os.path.isdir(teacher_data) else data)
    fix = f"translate with a teacher trained on {data}, or pass the teacher's own data-bin"
    for side, lang in (("encoder", source), ("decoder", target)):
        ours = os.path.join(data, f"dict.{lang}.txt")
        symbols, _ = read_fairseq_dictionary(ours)
        theirs = os.path.join(teacher_data, f"dict.{lang}.txt")
        if teacher_data and os.path.isfile(theirs):
            if dictionary_checksum(read_fairseq_dictionary(theirs)[0]) != dictionary_checksum(symbols):
                raise RecipeError(f"teacher {teacher} was trained with {theirs}, which differs from {ours}; {fix}")
            continue
        table = state["model"].get(f"{side}.embed_tokens.weight")
        if table is not None and table.shape[0] != len(symbols):
            raise RecipeError(f"teacher {teacher} has a {table.shape[0]}-token {side} table (its dictionary "
                              f"{theirs} is gone) but {ours} has {len(symbols)} symbols; {fix}")
    return state["cfg"]["task"]["_name"], source, target


def training_pairs(data, source, target):
    """The number of pairs in the data-bin's train split."""
    from fairseq.data.indexed_dataset import infer_dataset_impl, make_dataset
    prefix = os.path.join(data, f"train.{source}-{target}")
    sides = [make_dataset(f"{prefix}.{lang}", infer_dataset_impl(f"{prefix}.{lang}")) for lang in (source, target)]
    if any(side is None for side in sides) or not len(sides[0]):
        raise RecipeError(f"{prefix}.{{{source},{target}}}.bin: no training pairs; pass the data-bin "
                          "fairseq-preprocess wrote (with --trainpref)")
    return len(sides[0])


def generate_command(data, teacher, task, source, target, shards, batch_size, max_tokens, device_args):
    """fairseq-generate's command line for every shard; the shard's rank is added to it."""
    command = [sys.executable, "-m", "fairseq_cli.generate", os.path.abspath(data), "--user-dir", PLUGIN_DIR,
               "--task", task, "--source-lang", source, "--target-lang", target, "--path", os.path.abspath(teacher),
               "--gen-subset", "train", "--beam", str(BEAM), "--batch-size", str(batch_size),
               # a multiple above 1 makes fairseq drop the sentences of a last, smaller batch
               "--required-batch-size-multiple", "1", "--max-len-a", "1.5", "--max-len-b", "10",
               # this fairseq's generate reads no --num-shards/--shard-id: it shards the batches by
               # the distributed world size and rank (and starts no process group for them)
               "--distributed-world-size", str(shards), *device_args]
    return command + (["--max-tokens", str(max_tokens)] if max_tokens else [])


def made_from(data, teacher, source, target, command):
    """What the shards are made from: the generate command (its paths absolute) and the contents of the
    teacher and of the data-bin files the training pairs come from."""
    names = [f"dict.{source}.txt", f"dict.{target}.txt"] + [
        f"train.{source}-{target}.{lang}.{ext}" for lang in (source, target) for ext in ("bin", "idx")]
    return json.dumps({"generate": command[3:], "teacher_sha256": file_sha256(teacher),
                       "data_sha256": {name: file_sha256(os.path.join(data, name)) for name in names}}, indent=1)


def shard_path(shard_dir, shard, shards):
    return os.path.join(shard_dir, f"shard{shard}-of-{shards}.gen")


def generate_shards(shard_dir, log_dir, command, record, shards):
    """Every shard's fairseq-generate output in ``shard_dir``; yields a line per shard."""
    manifest = os.path.join(shard_dir, "MADE_FROM")
    if not os.path.isfile(manifest) or "\n".join(read_lines(manifest)) != record:
        for stale in glob.glob(os.path.join(shard_dir, "shard*-of-*.gen")):
            os.unlink(stale)  # another teacher, data-bin, sharding or generate option
        write_atomic(manifest, [record])
    for shard in range(shards):
        path = shard_path(shard_dir, shard, shards)
        if os.path.isfile(path):
            yield f"{path}: kept (generated by an earlier run)"
            continue
        log = os.path.join(log_dir, f"seqkd.shard{shard}-of-{shards}.log")
        with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as out, open(log, "w") as err:
            code = subprocess.run(command + ["--distributed-rank", str(shard)], stdout=out, stderr=err).returncode
            if code:
                raise RecipeError(f"fairseq-generate failed (exit status {code}) on shard {shard} of {shards}; "
                                  f"see {log} ({last_line(log)})")
        yield f"{path}: shard {shard + 1} of {shards} generated"


def last_line(path):
    """The last non-empty line of a log (a traceback's ends with the error)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [line.strip() for line in f if line.strip()]
    return lines[-1] if lines else "no output"


def read_shard(path):
    """{pair id: {"S": source, "T": reference, "H": hypothesis}} of one shard (pieces, space-separated)."""
    fix = "delete the file and rerun to generate it again"
    lines = read_lines(path, "shard of fairseq-generate output", fix)
    if not lines or not lines[-1].startswith("Generate train with beam="):
        raise RecipeError(f"{path}: no 'Generate train with beam=...' line at its end (an incomplete shard); {fix}")
    pairs = {}
    for number, line in enumerate(lines[:-1], start=1):
        match = PAIR_LINE.fullmatch(line)
        if match is None:
            raise RecipeError(f"{path}:{number}: not a line of fairseq-generate's output "
                              f"(S-/T-/H-/D-/P-<id>, a tab, then text): {line[:60]!r}; {fix}")
        kind, pair, text = match.group(1), int(match.group(2)), match.group(3)
        if kind in "DP":
            continue
        if kind == "H":
            score, tab, text = text.partition("\t")
            if not tab or SCORE.fullmatch(score) is None:
                raise RecipeError(f"{path}:{number}: expected H-<id>, a tab, the score, a tab, then the "
                                  f"hypothesis: {line[:60]!r}; {fix}")
        fields = pairs.setdefault(pair, {})
        if kind in fields:
            raise RecipeError(f"{path}:{number}: a second {kind}-{pair} line; {fix}")
        fields[kind] = text
    for pair, fields in pairs.items():
        if len(fields) != 3:
            missing = "/".join(kind for kind in "STH" if kind not in fields)
            raise RecipeError(f"{path}: pair {pair} has no {missing}- line; {fix}")
    return pairs


def collect(shard_paths, pairs, data):
    """The (source, reference, hypothesis) of every training pair, in pair order, from all shards."""
    found, shard_of = [None] * pairs, {}
    for path in shard_paths:
        for pair, fields in read_shard(path).items():
            if pair >= pairs:
                raise RecipeError(f"{path}: pair {pair}, but {data} has {pairs} training pairs; delete the "
                                  "file and rerun to generate it again")
            if found[pair] is not None:
                raise RecipeError(f"{path}: pair {pair} again (also in {shard_of[pair]}); delete both files "
                                  "and rerun to generate them again")
            found[pair], shard_of[pair] = (fields["S"], fields["T"], fields["H"]), path
    missing = [pair for pair, fields in enumerate(found) if fields is None]
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
        raise RecipeError(f"{os.path.dirname(shard_paths[0])}: {len(missing)} of {pairs} training pairs are in "
                          f"none of the {len(shard_paths)} shard files (pairs {shown}); delete the shard files "
                          "and rerun to generate them again")
    return found


def binarize(prefix, data, source, target, destination, log, workers):
    """fairseq-preprocess of the text pairs at ``prefix`` with the data-bin's dictionaries (the same
    ids); the training source must come out exactly as the data-bin has it."""
    with open(log, "w") as out:
        code = subprocess.run(
            [sys.executable, "-m", "fairseq_cli.preprocess", "--source-lang", source, "--target-lang", target,
             "--trainpref", prefix, "--srcdict", os.path.join(data, f"dict.{source}.txt"),
             "--tgtdict", os.path.join(data, f"dict.{target}.txt"), "--destdir", destination,
             "--workers", str(workers)], stdout=out, stderr=subprocess.STDOUT).returncode
    if code:
        raise RecipeError(f"fairseq-preprocess failed (exit status {code}) on {prefix}.{{{source},{target}}}; "
                          f"see {log} ({last_line(log)})")
    for ext in ("bin", "idx"):
        name = f"train.{source}-{target}.{source}.{ext}"
        if not filecmp.cmp(os.path.join(destination, name), os.path.join(data, name), shallow=False):
            raise RecipeError(f"{os.path.join(destination, name)}: the training source re-binarised from "
                              f"fairseq-generate's S- lines differs from {os.path.join(data, name)}; the "
                              "targets would not line up with it")


def link_or_copy(source, destination):
    if os.path.exists(destination):
        os.unlink(destination)
    try:
        os.link(source, destination)  # the data-bin's files are replaced, never changed in place
    except OSError:
        shutil.copy2(source, destination)


def assemble(data, output, build):
    """``output``: ``data``'s files except its training pairs (dictionaries, index, valid and test
    splits, TEST_SPLITS, ...), and the training pairs ``build(directory)`` writes; renamed into place
    last. A killed run's ``<output>.partial`` / ``<output>.old`` are removed first."""
    partial, old = output + ".partial", output + ".old"
    for leftover in (partial, old):
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        build(partial)
        for name in sorted(os.listdir(data)):
            path = os.path.join(data, name)
            # train.*: the new pairs; preprocess.log: fairseq-preprocess's own, the new one describes them
            if os.path.isfile(path) and not name.startswith("train.") and name != "preprocess.log":
                link_or_copy(path, os.path.join(partial, name))
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if os.path.exists(output):
        os.rename(output, old)
    os.rename(partial, output)
    shutil.rmtree(old, ignore_errors=True)


def mean_length(lines):
    return sum(len(line.split()) for line in lines) / max(len(lines), 1)


def sequence_kd_data(data, teacher, output, shard_dir, log_dir=None, sentences_per_shard=5000, batch_size=64,
                     max_tokens=None, device_args=(), workers=1):
    """Make ``output`` (see the module's notes); yields a line per shard, then the summary line."""
    for option, value in (("--sentences-per-shard", sentences_per_shard), ("--batch-size", batch_size)):
        if value < 1:
            raise RecipeError(f"{option} {value}: expected a positive number")
    task, source, target = check_teacher(data, teacher)
    pairs = training_pairs(data, source, target)
    # every shard needs a batch: fairseq-generate fails on a shard that translates nothing (it divides
    # by its time), and there are at least pairs / batch_size batches
    shards = min(math.ceil(pairs / sentences_per_shard), math.ceil(pairs / batch_size))
    command = generate_command(data, teacher, task, source, target, shards, batch_size, max_tokens, device_args)
    record = made_from(data, teacher, source, target, command)
    log_dir = log_dir or shard_dir
    os.makedirs(shard_dir, exist_ok=True)
    os.makedirs(log_dir, exist_ok=True)
    yield from generate_shards(shard_dir, log_dir, command, record, shards)

    found = collect([shard_path(shard_dir, shard, shards) for shard in range(shards)], pairs, data)
    sources, references, hypotheses = zip(*found)
    # an empty hypothesis would teach the student to stop at once: such a pair keeps its reference
    targets = [hypothesis or reference for reference, hypothesis in zip(references, hypotheses)]
    empty = hypotheses.count("")
    prefix = os.path.join(shard_dir, "train")
    write_atomic(f"{prefix}.{source}", sources)
    write_atomic(f"{prefix}.{target}", targets)
    assemble(data, output, lambda destination: binarize(
        prefix, data, source, target, destination, os.path.join(log_dir, "seqkd.preprocess.log"), workers))
    yield (f"{output}: {pairs:,} pairs, the targets {teacher}'s beam-{BEAM} translations; empty hypotheses "
           f"kept as references: {empty:,}; mean target length {mean_length(targets):.2f} pieces (teacher) vs "
           f"{mean_length(references):.2f} (reference)")
