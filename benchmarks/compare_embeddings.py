#!/usr/bin/env python
"""Every embedding compressor against full tables: training step, generation, memory, size, BLEU.

    .venv/bin/python benchmarks/compare_embeddings.py --speed --json benchmarks/speed.json
    .venv/bin/python benchmarks/compare_embeddings.py --quick --json /tmp/quick.json
    .venv/bin/python benchmarks/compare_embeddings.py --quality --quality-data work/iwslt17-cpu --json q.json --plot q.png
    .venv/bin/python benchmarks/compare_embeddings.py --index

--speed  For each requested compression ratio (default 20 and 80), one group of see_transformer
         models (full, then every compressed type with --embedding-compression-ratio R) is built
         in this process and measured interleaved: every round times one step of each model in a
         shuffled order, after a warm-up round (5 training rounds, then 15 generation rounds: a
         generation call is short, so it takes more of them to see through other jobs' load); a
         model's figure is the median over rounds of its time divided by the full model's time in
         the same round, so load from other processes cancels out as far as possible. Measured:
           step_time_ratio  training step (forward, label-smoothed CE, backward, Adam) / full's
           gen_speed_ratio  beam-5 fairseq SequenceGenerator throughput / full's (every sentence
                            decodes exactly gen_len tokens: min_len = max_len, so all models do
                            the same work whatever their random weights prefer)
           peak_mem_mb      peak RSS above the baseline of a fresh process (forked from a server
                            that only imported the libraries) that builds the model, generates
                            once and trains two steps with Adam: parameters, gradients, optimizer
                            state, activations, rebuilt tables (gen_peak_mem_mb: after generating)
           ckpt_mb          torch.save of the model's state_dict (what generation loads; for SEE
                            it includes the index buffers), without optimizer state
         Shapes: |V| 16k per side, d 512, 6+6 layers, FFN 1024, 4 heads (see_transformer_iwslt_zh_en),
         batches of 128 x 32 = 4,096 tokens per side. Token ids are synthetic; the dictionaries
         are synthetic too, but shaped like real ones: the source side is Chinese words sampled
         from the real HowNet lexicons (../shared/data/hownet) plus out-of-lexicon character
         strings, so the SEE index has a realistic sense/unit structure; the target side is
         English-like pieces (morphemes only, as this project's lexicons are Chinese). Without
         the lexicons, see and see_random are skipped with a message.
--quick  The same with small shapes and few rounds (< 2 minutes on 2 cores); used by
         tests/test_benchmark.py.
--index  Times the sememe index build the way fairseq-see-index does it: reading the real
         lexicons (glossary + thunlp, with the sememe names) and indexing a dictionary of
         --index-words of their words (default 40,000; o 3, R 4). One record {lexicon_words,
         dictionary_tokens, read_s, build_s, total_s}.
--quality  Trains every type at every --ratios value (default 20) with the same budget, stock
         fairseq-train --user-dir fairseq_see, and scores fairseq-generate (beam 5) with detokenised
         sacreBLEU BLEU and chrF on every test set, plus the in-domain validation NLL. Data: a
         recipe's work dir with --quality-data (e.g. work/iwslt17-cpu: the cpu profile's 200k TVsub
         pairs, IWSLT17 tst2017 and the TVsub held-out test), else a slice of TVsub prepared here
         (jieba + sentencepiece + fairseq-preprocess) with IWSLT17 tst2017. The default budget is
         small (see_transformer_tiny, 300 updates); --quality-arch/-arch-args/-updates raise it.
         --plot draws BLEU per test set and validation NLL against embedding parameters.

Records (--json): one per type and ratio with at least
``{type, params, ratio, step_time_ratio, gen_speed_ratio, peak_mem_mb, ckpt_mb}``; ``params`` is
the embedding parameters of both sides, ``ratio`` = (|V_src| + |V_tgt|)·d / params.
"""

import argparse
import contextlib
import io
import json
import logging
import multiprocessing
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)
SHARED = os.environ.get("FAIRSEQ_SEE_SHARED", os.path.join(os.path.dirname(REPO), "shared"))
HOWNET = os.path.join(SHARED, "data", "hownet")
LEXICONS = [os.path.join(HOWNET, "pypi_similarities-1.2.4__hownet_glossary.txt"),
            os.path.join(HOWNET, "thunlp_sememe_prediction__hownet.txt")]
SEMEME_NAMES = os.path.join(HOWNET, "openhownet__sememe_dict_all.json")
USER_DIR = os.path.join(REPO, "fairseq_see")

TYPES = ("full", "see", "see_random", "low_rank", "word2ket", "word2ketxs", "tt", "morphte")
SEE_TYPES = ("see", "see_random")

SPEED = dict(vocab=16000, dim=512, layers=6, ffn=1024, heads=4, sentences=128, src_len=32, tgt_len=32,
             gen_sentences=16, gen_src_len=24, gen_len=24, beam=5, warmup=1, rounds=5, gen_rounds=15,
             ratios=(20, 80), see_order=3, see_rank=4)
QUICK = dict(vocab=2000, dim=64, layers=1, ffn=128, heads=2, sentences=8, src_len=12, tgt_len=12,
             gen_sentences=2, gen_src_len=6, gen_len=6, beam=5, warmup=1, rounds=3, gen_rounds=3,
             ratios=(20,), see_order=3, see_rank=4)

log = logging.getLogger("compare_embeddings")


def say(*args):
    print(*args, flush=True)


# ---- dictionaries and the task the models are built from -------------------------------------------

def missing_lexicon():
    """The first HowNet file that is not beside the repository, or None."""
    return next((p for p in LEXICONS + [SEMEME_NAMES] if not os.path.exists(p)), None)


def load_lexicon():
    """The real HowNet lexicons, or None (with the reason) when they are not beside the repository."""
    missing = missing_lexicon()
    if missing:
        return None, f"HowNet lexicon not found ({missing}); see and see_random are skipped"
    from fairseq_see.lexicon import load_lexicons
    return load_lexicons(",".join(LEXICONS), "auto", SEMEME_NAMES), None


def _is_cjk(c):
    return "\u4e00" <= c <= "\u9fff"


def chinese_symbols(vocab, lexicon, seed):
    """A dictionary shaped like a jieba + sentencepiece Chinese one: ~75% HowNet words made of
    common characters, the rest out-of-lexicon strings of the same characters; half with "▁"."""
    rng = random.Random(seed)
    from collections import Counter
    words = sorted(w for w in lexicon.entries if 1 <= len(w) <= 4 and all(_is_cjk(c) for c in w))
    frequency = Counter(c for w in words for c in w)
    common = [c for c, _ in frequency.most_common(max(200, min(3500, vocab // 4)))]
    allowed = set(common)
    words = [w for w in words if all(c in allowed for c in w)]
    chosen = rng.sample(words, min(len(words), int(0.75 * vocab)))
    seen = set(chosen)
    while len(chosen) < vocab:
        w = "".join(rng.choice(common) for _ in range(rng.choice((1, 2, 2, 3))))
        if w not in seen:
            seen.add(w)
            chosen.append(w)
    rng.shuffle(chosen)
    return ["\u2581" + w if rng.random() < 0.5 else w for w in chosen]


def english_symbols(vocab, seed):
    """English-like sentencepiece pieces: distinct lowercase strings, 60% word-initial ("▁")."""
    rng = random.Random(seed)
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    weights = [1 / (i + 2) for i in range(len(letters))]
    seen = set()
    out = []
    while len(out) < vocab:
        piece = "".join(rng.choices(letters, weights, k=rng.choice((1, 2, 3, 3, 4, 4, 5, 6, 7, 8))))
        piece = ("\u2581" + piece) if rng.random() < 0.6 else piece
        if piece not in seen:
            seen.add(piece)
            out.append(piece)
    return out


def make_dictionary(symbols):
    from fairseq.data import Dictionary
    d = Dictionary()  # <s> <pad> </s> <unk>
    for rank, s in enumerate(symbols):
        d.add_symbol(s, n=int(1e6 / (rank + 10)))  # Zipf-like counts, for coverage by token mass
    return d


class BenchTask:
    """What ``SEETransformerModel.build_model`` needs of a task: two dictionaries and sememe indexes.

    Indexes are built from the lexicon on demand and kept, so a model-building child process gets
    them pickled without the lexicon."""

    def __init__(self, src_dict, tgt_dict, lexicon):
        self.source_dictionary, self.target_dictionary = src_dict, tgt_dict
        self.lexicon = lexicon
        self.indexes = {}

    def language(self, side):
        return side

    def dictionary_path(self, lang):
        return f"the benchmark's {lang} dictionary"

    def sememe_index(self, side, order, rank, required=True):
        key = (side, order, rank)
        if key not in self.indexes:
            if self.lexicon is None:
                return None
            from fairseq_see.lexicon import build_index
            d = self.source_dictionary if side == "source" else self.target_dictionary
            self.indexes[key] = build_index(d.symbols, d.count, self.lexicon, order, rank)
        return self.indexes[key]

    def prebuild(self, orders, rank):
        for side in ("source", "target"):
            for order in orders:
                self.sememe_index(side, order, rank)

    def __getstate__(self):
        return dict(self.__dict__, lexicon=None)


def make_task(shape, lexicon, seed=1):
    vocab = shape["vocab"] - 4
    src = chinese_symbols(vocab, lexicon, seed) if lexicon is not None else english_symbols(vocab, seed + 100)
    tgt = english_symbols(vocab, seed)
    task = BenchTask(make_dictionary(src), make_dictionary(tgt), lexicon)
    if lexicon is not None:
        from fairseq_see.modules.sememe_entanglement import fitting_orders
        task.prebuild(fitting_orders(shape["dim"], (3, 4, 2)), shape["see_rank"])
    return task


# ---- models --------------------------------------------------------------------------------------

def model_args(kind, ratio, shape):
    from fairseq import options
    s = shape
    argv = ["benchmark-data", "--user-dir", USER_DIR, "--task", "translation_sememe",
            "--arch", "see_transformer_iwslt_zh_en", "--encoder-embedding-type", kind,
            "--decoder-embedding-type", kind, "--encoder-embed-dim", s["dim"], "--decoder-embed-dim", s["dim"],
            "--encoder-ffn-embed-dim", s["ffn"], "--decoder-ffn-embed-dim", s["ffn"],
            "--encoder-attention-heads", s["heads"], "--decoder-attention-heads", s["heads"],
            "--encoder-layers", s["layers"], "--decoder-layers", s["layers"],
            "--see-order", s["see_order"], "--see-rank", s["see_rank"], "--seed", "1"]
    if kind != "full":
        argv += ["--embedding-compression-ratio", ratio]
    return options.parse_args_and_arch(options.get_training_parser(), [str(a) for a in argv])


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        message = record.getMessage()
        if message.startswith(("embedding (", "embedding compression")):
            self.lines.append(message)


def build_model(kind, ratio, shape, task, seed=1):
    """A see_transformer of this shape, exactly as fairseq-train would build it; and its log lines."""
    import torch
    from fairseq_see.models.see_transformer import SEETransformerModel
    args = model_args(kind, ratio, shape)
    handler = _Lines()
    logger = logging.getLogger("fairseq_see")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        torch.manual_seed(seed)
        model = SEETransformerModel.build_model(args, task)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    return model, handler.lines


def embedding_parameters(model):
    return sum(p.numel() for side in (model.encoder, model.decoder) for p in side.embed_tokens.parameters())


def checkpoint_mb(model):
    import torch
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict()}, buffer)
    return buffer.tell() / 2 ** 20


# ---- one training step, one generation -------------------------------------------------------------

def make_batches(shape, task, seed=0):
    import torch
    g = torch.Generator().manual_seed(seed)
    vs, vt = len(task.source_dictionary), len(task.target_dictionary)
    n, s, t = shape["sentences"], shape["src_len"], shape["tgt_len"]
    src = torch.randint(4, vs, (n, s), generator=g)
    src[:, -1] = 2  # </s>
    target = torch.randint(4, vt, (n, t), generator=g)
    target[:, -1] = 2
    prev = torch.cat([torch.full((n, 1), 2), target[:, :-1]], 1)
    train = (src, torch.full((n,), s), prev, target)
    gen_src = torch.randint(4, vs, (shape["gen_sentences"], shape["gen_src_len"]), generator=g)
    gen_src[:, -1] = 2
    gen = {"net_input": {"src_tokens": gen_src, "src_lengths": torch.full((len(gen_src),), gen_src.shape[1])}}
    return train, gen


class Trainer:
    def __init__(self, model, batch):
        import torch
        self.model, self.batch = model, batch
        self.optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4,
                                          betas=(0.9, 0.98))

    def step(self):
        import torch.nn.functional as F
        src, lengths, prev, target = self.batch
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        logits, _ = self.model(src, lengths, prev)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]).float(), target.view(-1), ignore_index=1,
                               label_smoothing=0.1)
        loss.backward()
        self.optimizer.step()
        return loss.item()


class Generator:
    def __init__(self, model, task, sample, shape):
        from fairseq.sequence_generator import SequenceGenerator
        self.model, self.sample = model, sample
        self.generator = SequenceGenerator([model], task.target_dictionary, beam_size=shape["beam"],
                                           max_len_a=0, max_len_b=shape["gen_len"], min_len=shape["gen_len"])
        self.tokens = len(sample["net_input"]["src_tokens"]) * shape["gen_len"]

    def run(self):
        # the model is put in eval mode once, as fairseq-generate does (eval() drops cached tables)
        return self.generator.generate([self.model], self.sample)


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(runners, rounds, warmup, seed=0):
    """{name: [seconds per round]}: every round calls each runner once, in a shuffled order."""
    rng = random.Random(seed)
    times = {name: [] for name in runners}
    names = list(runners)
    start = time.time()
    for r in range(warmup + rounds):
        rng.shuffle(names)
        for name in names:
            t = timed(runners[name])
            if r >= warmup:
                times[name].append(t)
        say(f"  round {r + 1}/{warmup + rounds}{' (warm-up)' if r < warmup else ''}: {time.time() - start:.0f}s")
    return times


def paired_ratio(times, name, reference="full", invert=False):
    """Median over rounds of time(name) / time(reference) in the same round (inverted for speeds)."""
    ratios = [(r / t if invert else t / r) for t, r in zip(times[name], times[reference])]
    return statistics.median(ratios)


# ---- peak memory in a fresh process ----------------------------------------------------------------

def _status_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def memory_probe(payload):
    """In a child forked from a server that only imported libraries: peak RSS above the start."""
    kind, ratio, shape, task = payload
    import torch
    torch.set_num_threads(1)  # memory does not depend on the thread count
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # VmHWM := VmRSS
    except OSError:
        pass
    base = _status_mb("VmRSS")
    model, _ = build_model(kind, ratio, shape, task)
    train, gen = make_batches(shape, task)
    Generator(model, task, gen, shape).run()
    gen_peak = _status_mb("VmHWM") - base
    trainer = Trainer(model, train)
    trainer.step()
    trainer.step()
    return gen_peak, _status_mb("VmHWM") - base


def peak_memory(jobs):
    """[(gen_peak_mb, train_peak_mb)] per job, each in its own fresh process."""
    try:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["torch", "fairseq", "fairseq.sequence_generator",
                                        "fairseq.models.transformer", "fairseq_see.models", "fairseq_see.tasks"])
    except ValueError:
        context = multiprocessing.get_context("spawn")
    results = []
    for job in jobs:
        with context.Pool(1, maxtasksperchild=1) as pool:
            results.append(pool.apply(memory_probe, (job,)))
    return results


# ---- the speed comparison ------------------------------------------------------------------------------

def speed(shape, types, ratios, rounds, warmup, gen_rounds, with_memory=True):
    lexicon, why = load_lexicon()
    if why:
        say(why)
        types = [t for t in types if t not in SEE_TYPES]
    t0 = time.time()
    task = make_task(shape, lexicon)
    say(f"dictionaries: |V| {len(task.source_dictionary)} (source, Chinese words"
        f"{' from HowNet' if lexicon else ''}) / {len(task.target_dictionary)} (target, English-like pieces); "
        f"{time.time() - t0:.1f}s")
    for key, index in sorted(task.indexes.items()):
        if key[1] == shape["see_order"]:
            say("  " + index.summary(key[0]))
    train_batch, gen_sample = make_batches(shape, task)
    records = []
    for ratio in ratios:
        group = ["full"] + [t for t in types if t != "full"]
        models, lines, trainers, generators = {}, {}, {}, {}
        for kind in group:
            models[kind], lines[kind] = build_model(kind, ratio, shape, task)
            trainers[kind] = Trainer(models[kind], train_batch)
            generators[kind] = Generator(models[kind], task, gen_sample, shape)
        say(f"\n## ratio {ratio}x: {len(group)} models built; training steps, {warmup} warm-up + {rounds} rounds")
        for kind in group:
            for line in lines[kind]:
                say("  " + line)
        train_times = interleaved({k: trainers[k].step for k in group}, rounds, warmup, seed=ratio)
        for trainer in trainers.values():
            trainer.optimizer = None  # free Adam state before generation
        for model in models.values():
            model.zero_grad(set_to_none=True)
            model.eval()
        say(f"generation (beam {shape['beam']}, {shape['gen_sentences']} sentences x {shape['gen_len']} tokens), "
            f"{warmup} warm-up + {gen_rounds} rounds")
        gen_times = interleaved({k: generators[k].run for k in group}, gen_rounds, warmup, seed=ratio + 1)
        full_params = (len(task.source_dictionary) + len(task.target_dictionary)) * shape["dim"]
        for kind in group:
            model = models[kind]
            params = embedding_parameters(model)
            records.append({
                "type": kind, "requested_ratio": None if kind == "full" else ratio, "group": ratio,
                "params": params, "ratio": full_params / params,
                "step_time_ratio": paired_ratio(train_times, kind),
                "gen_speed_ratio": paired_ratio(gen_times, kind, invert=True),
                "step_ms": 1000 * statistics.median(train_times[kind]),
                "gen_tokens_per_s": generators[kind].tokens / statistics.median(gen_times[kind]),
                "peak_mem_mb": None, "gen_peak_mem_mb": None,
                "ckpt_mb": checkpoint_mb(model),
                "model_params": sum(p.numel() for p in model.parameters()),
                "embedding": lines[kind]})
        del models, trainers, generators
        if with_memory:
            say("peak memory (fresh process per model)")
            jobs = [(r["type"], ratio, shape, task) for r in records if r["group"] == ratio]
            for record, (gen_peak, train_peak) in zip([r for r in records if r["group"] == ratio], peak_memory(jobs)):
                record["gen_peak_mem_mb"], record["peak_mem_mb"] = gen_peak, train_peak
        say(markdown([r for r in records if r["group"] == ratio]))
    return records


def markdown(records, with_bleu=False):
    head = ("| type | ratio | emb. params | step time vs full | generation speed vs full | step ms | "
            "gen tok/s | peak train MB | peak gen MB | ckpt MB |")
    rule = "|---|---|---|---|---|---|---|---|---|---|"
    if with_bleu:
        head += " BLEU |"
        rule += "---|"
    rows = [head, rule]
    for r in records:
        def fmt(x, spec):
            return "n/a" if x is None else format(x, spec)
        row = (f"| {r['type']} | {r['ratio']:.1f}x | {r['params']:,} | {fmt(r.get('step_time_ratio'), '.3f')} | "
               f"{fmt(r.get('gen_speed_ratio'), '.3f')} | {fmt(r.get('step_ms'), '.0f')} | "
               f"{fmt(r.get('gen_tokens_per_s'), '.0f')} | {fmt(r.get('peak_mem_mb'), '.0f')} | "
               f"{fmt(r.get('gen_peak_mem_mb'), '.0f')} | {fmt(r.get('ckpt_mb'), '.1f')} |")
        if with_bleu:
            row += f" {fmt(r.get('bleu'), '.2f')} |"
        rows.append(row)
    return "\n".join(rows)


def machine():
    import torch
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "load_average": [round(x, 2) for x in load] if load else None}


def index_build(words):
    """Seconds to read the real lexicons and to index a dictionary of ``words`` of their words."""
    from fairseq_see.lexicon import build_index, load_lexicons
    start = time.perf_counter()
    lexicon = load_lexicons(",".join(LEXICONS), "auto", SEMEME_NAMES)
    read = time.perf_counter()
    symbols = ["<s>", "<pad>", "</s>", "<unk>"] + ["\u2581" + w for w in sorted(lexicon.entries)[:words]]
    build_index(symbols, [1] * len(symbols), lexicon, 3, 4)
    done = time.perf_counter()
    return {"lexicon_words": len(lexicon.entries), "dictionary_tokens": len(symbols),
            "read_s": round(read - start, 2), "build_s": round(done - read, 2), "total_s": round(done - start, 2)}


# ---- the quality comparison ----------------------------------------------------------------------------

def run(argv, cwd, **kw):
    result = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, **kw)
    if result.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout + result.stderr


def cli(name):
    path = os.path.join(os.path.dirname(sys.executable), name)
    return path if os.path.exists(path) else name


def prepare_quality_data(work, lines, test_lines, vocab_zh, vocab_en):
    """TVsub slice -> jieba -> sentencepiece -> fairseq-preprocess into work/bin (cached)."""
    import lzma
    if os.path.exists(os.path.join(work, "bin", "test.zh-en.zh.bin")):
        return os.path.join(work, "bin")
    import sentencepiece as spm
    os.makedirs(work, exist_ok=True)
    tvsub = os.path.join(SHARED, "data", "zh-en", "train", "tvsub")
    test = os.path.join(SHARED, "data", "zh-en", "test", "iwslt17", "IWSLT17.TED.tst2017.zh-en")
    with lzma.open(os.path.join(tvsub, "train.zh.xz"), "rt", encoding="utf-8") as fz, \
            lzma.open(os.path.join(tvsub, "train.en.xz"), "rt", encoding="utf-8") as fe:
        pairs = []
        for z, e in zip(fz, fe):
            z, e = z.strip(), e.strip()
            if z and e:
                pairs.append((z, e))
            if len(pairs) >= lines + 1000:
                break
    with open(test + ".zh", encoding="utf-8") as f:
        test_zh = [next(f).strip() for _ in range(test_lines)]
    with open(test + ".en", encoding="utf-8") as f:
        test_en = [next(f).strip() for _ in range(test_lines)]
    splits = {"train": pairs[:lines], "valid": pairs[lines:], "test": list(zip(test_zh, test_en))}
    for split, pairs_ in splits.items():
        for lang, column in (("zh", 0), ("en", 1)):
            with open(os.path.join(work, f"{split}.raw.{lang}"), "w", encoding="utf-8") as f:
                f.write("\n".join(p[column] for p in pairs_) + "\n")
        segmented = run([sys.executable, "-m", "jieba", "-q", "-d", " ", f"{split}.raw.zh"], cwd=work)
        with open(os.path.join(work, f"{split}.seg.zh"), "w", encoding="utf-8") as f:
            f.write("\n".join(" ".join(s.split()) for s in segmented.splitlines()) + "\n")
    for lang, vocab in (("zh", vocab_zh), ("en", vocab_en)):
        source = "seg" if lang == "zh" else "raw"
        spm.SentencePieceTrainer.train(input=os.path.join(work, f"train.{source}.{lang}"),
                                       model_prefix=os.path.join(work, f"spm.{lang}"), vocab_size=vocab,
                                       character_coverage=0.9995 if lang == "zh" else 1.0, minloglevel=2,
                                       hard_vocab_limit=False)  # small slices: the size is an upper bound
        processor = spm.SentencePieceProcessor(model_file=os.path.join(work, f"spm.{lang}.model"))
        for split in splits:
            with open(os.path.join(work, f"{split}.{source}.{lang}"), encoding="utf-8") as f:
                text = f.read().splitlines()
            with open(os.path.join(work, f"{split}.spm.{lang}"), "w", encoding="utf-8") as f:
                f.write("\n".join(" ".join(processor.encode(s, out_type=str)) for s in text) + "\n")
    run([cli("fairseq-preprocess"), "--source-lang", "zh", "--target-lang", "en", "--trainpref", "train.spm",
         "--validpref", "valid.spm", "--testpref", "test.spm", "--destdir", "bin", "--workers", "1"], cwd=work)
    return os.path.join(work, "bin")


def quality_data(args):
    """(data-bin, [(gen subset, test name, reference file)]): a recipe's work dir, or our own slice."""
    if args.quality_data:
        work = os.path.abspath(args.quality_data)
        splits_file = os.path.join(work, "bin", "TEST_SPLITS")
        if not os.path.exists(splits_file):
            raise SystemExit(f"{splits_file}: not found; --quality-data takes a recipe work dir "
                             "(examples/*/run.sh --workdir DIR, run at least to its binarize step)")
        with open(splits_file, encoding="utf-8") as f:
            names = f.read().split()
        tests = [("test" if i == 0 else f"test{i}", name, os.path.join(work, "raw", f"{name}.en"))
                 for i, name in enumerate(names)]
        return os.path.join(work, "bin"), tests
    work = os.path.abspath(args.quality_dir)
    say(f"quality: data in {work} ({args.quality_lines} TVsub lines, {args.quality_test_lines} tst2017 lines)")
    data = prepare_quality_data(work, args.quality_lines, args.quality_test_lines, args.quality_vocab,
                                args.quality_vocab)
    return data, [("test", "iwslt17_tst2017", os.path.join(work, "test.raw.en"))]


def score(gen_output, reference):
    """Detokenised sacreBLEU BLEU and chrF of fairseq-generate's D- lines against the raw reference."""
    import sacrebleu
    hyps = sorted((int(m.group(1)), m.group(2)) for m in re.finditer(r"^D-(\d+)\t[^\t]*\t(.*)$", gen_output, re.M))
    with open(reference, encoding="utf-8") as f:
        refs = f.read().splitlines()
    if len(hyps) != len(refs):
        raise RuntimeError(f"{len(hyps)} hypotheses for the {len(refs)} lines of {reference}")
    hyps = [h for _, h in hyps]
    return sacrebleu.corpus_bleu(hyps, [refs]).score, sacrebleu.corpus_chrf(hyps, [refs]).score


def quality(args, types, ratios):
    """Train each type at each ratio with the same budget; BLEU/chrF per test set. One record each."""
    from fairseq_see.recipe.results import checkpoint_embedding_stats, training_log_figures
    missing = missing_lexicon()
    if missing:  # the models read the lexicon themselves
        say(f"HowNet lexicon not found ({missing}); see and see_random are skipped")
        types = [t for t in types if t not in SEE_TYPES]
    data, tests = quality_data(args)
    work = os.path.abspath(args.quality_dir)
    os.makedirs(work, exist_ok=True)
    arch = ["--arch", args.quality_arch] + (args.quality_arch_args.split() if args.quality_arch_args else [])
    runs = [("full", None)] * ("full" in types) + [(k, r) for r in ratios for k in types if k != "full"]
    records = []
    for kind, ratio in runs:
        save = os.path.join(work, f"ckpt_{kind}_{ratio or 1}")
        extra = ["--encoder-embedding-type", kind, "--decoder-embedding-type", kind]
        if ratio:
            extra += ["--embedding-compression-ratio", ratio]
        if kind in SEE_TYPES:
            extra += ["--sememe-lexicon", ",".join(LEXICONS), "--sememe-names", SEMEME_NAMES]
        start = time.time()
        log_text = run([cli("fairseq-train"), data, "--user-dir", USER_DIR, "--task", "translation_sememe", *arch,
                        "--optimizer", "adam", "--adam-betas", "(0.9, 0.98)",
                        "--lr", args.quality_lr, "--lr-scheduler", "inverse_sqrt", "--warmup-updates",
                        max(10, args.quality_updates // 10), "--max-tokens", args.quality_max_tokens,
                        "--max-update", args.quality_updates, "--criterion", "label_smoothed_cross_entropy",
                        "--label-smoothing", "0.1", "--dropout", "0.1", "--save-dir", save,
                        "--no-epoch-checkpoints", "--no-last-checkpoints", "--log-format", "simple",
                        "--log-interval", "50", "--seed", "1", "--required-batch-size-multiple", "1",
                        "--num-workers", "0", "--cpu", *extra], cwd=work)
        train_s = time.time() - start
        record = {"type": kind, "requested_ratio": ratio, "train_s": round(train_s, 1), "tests": {}}
        for subset, name, reference in tests:
            out = run([cli("fairseq-generate"), data, "--user-dir", USER_DIR, "--task", "translation_sememe",
                       "--path", os.path.join(save, "checkpoint_best.pt"), "--gen-subset", subset, "--beam", "5",
                       "--batch-size", "64", "--required-batch-size-multiple", "1", "--max-len-a", "1.5",
                       "--max-len-b", "10", "--remove-bpe", "sentencepiece", "--cpu"], cwd=work)
            bleu, chrf = score(out, reference)
            record["tests"][name] = {"bleu": round(bleu, 2), "chrf": round(chrf, 1)}
        stats = checkpoint_embedding_stats(os.path.join(save, "checkpoint_best.pt"))
        params = sum(s["parameters"] for s in stats.values())
        full = sum(s["vocab"] * s["dim"] for s in stats.values())
        record.update(params=params, ratio=full / params, valid_nll=training_log_figures(log_text)["valid_nll"],
                      embedding_stats=stats)
        say(f"  {kind} {ratio or ''}: valid NLL {record['valid_nll']} "
            + " ".join(f"{n} BLEU {t['bleu']} chrF {t['chrf']}" for n, t in record["tests"].items())
            + f" ({train_s:.0f}s training)")
        records.append(record)
    return records


def plot(records, path):
    """BLEU per test set and validation NLL against embedding parameters, one point per type and ratio."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tests = sorted({t for r in records for t in r["tests"]})
    fig, axes = plt.subplots(1, len(tests) + 1, figsize=(5 * (len(tests) + 1), 4))
    panels = [(f"BLEU, {t}", lambda r, t=t: r["tests"].get(t, {}).get("bleu")) for t in tests]
    panels.append(("validation NLL (in-domain)", lambda r: r.get("valid_nll")))
    for ax, (label, value) in zip(axes, panels):
        for r in records:
            if value(r) is None or not r.get("params"):
                continue
            ax.scatter(r["params"], value(r))
            ax.annotate(f"{r['type']} {r['ratio']:.0f}x", (r["params"], value(r)), textcoords="offset points",
                        xytext=(4, 4), fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("embedding parameters (both sides)")
        ax.set_ylabel(label)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


# ---- main -------------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--speed", action="store_true", help="speed, memory and size at full shapes")
    mode.add_argument("--quick", action="store_true", help="a reduced --speed (< 2 min on 2 cores)")
    mode.add_argument("--quality", action="store_true", help="train every type; BLEU, chrF, validation NLL")
    mode.add_argument("--index", action="store_true", help="time the sememe index build (real lexicons)")
    parser.add_argument("--types", default=",".join(TYPES), help="comma-separated embedding types")
    parser.add_argument("--ratios", help="comma-separated compression ratios (default 20,80; --quick and --quality 20)")
    parser.add_argument("--rounds", type=int, help="measured training rounds (default 5; --quick 3)")
    parser.add_argument("--gen-rounds", type=int, help="measured generation rounds (default 15; --quick 3)")
    parser.add_argument("--warmup", type=int, help="warm-up rounds (default 1)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: on a small machine shared with other jobs, OpenMP "
                             "regions wait for descheduled threads and multi-threaded timings measure the "
                             "scheduler; 0 keeps torch's default)")
    parser.add_argument("--index-words", type=int, default=40000, help="--index: dictionary size")
    parser.add_argument("--json", help="write the records here")
    parser.add_argument("--markdown", help="also write the table here")
    parser.add_argument("--quality-dir", default=os.path.join(REPO, "benchmarks", "work"),
                        help="--quality: data and checkpoints (default benchmarks/work, git-ignored)")
    parser.add_argument("--quality-lines", type=int, default=20000, help="--quality: TVsub training pairs")
    parser.add_argument("--quality-test-lines", type=int, default=1459, help="--quality: tst2017 lines")
    parser.add_argument("--quality-vocab", type=int, default=4000, help="--quality: sentencepiece vocabulary per side")
    parser.add_argument("--quality-data", help="--quality: a recipe work dir (its bin/ and test sets) instead "
                        "of the benchmark's own slice")
    parser.add_argument("--quality-arch", default="see_transformer_tiny", help="--quality: architecture")
    parser.add_argument("--quality-arch-args", help="--quality: extra model options, e.g. '--encoder-layers 3'")
    parser.add_argument("--quality-updates", type=int, default=300, help="--quality: updates per type")
    parser.add_argument("--quality-max-tokens", type=int, default=4096)
    parser.add_argument("--quality-lr", type=float, default=2e-3)
    parser.add_argument("--plot", help="--quality: write a BLEU vs parameters PNG here")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING)
    types = [t for t in args.types.split(",") if t]
    unknown = set(types) - set(TYPES)
    if unknown:
        parser.error(f"unknown types {sorted(unknown)}; choose from {', '.join(TYPES)}")
    meta = {"command": " ".join([".venv/bin/python", "benchmarks/compare_embeddings.py"]
                                + list(sys.argv[1:] if argv is None else argv))}
    start = time.time()
    if args.index:
        missing = missing_lexicon()
        if missing:
            parser.error(f"{missing}: HowNet lexicon not found; --index needs ../shared/data/hownet")
        meta.update(machine())
        records = [index_build(args.index_words)]
        table = "\n".join(["| lexicon words | dictionary tokens | read s | index s | total s |", "|---|---|---|---|---|",
                           "| {lexicon_words:,} | {dictionary_tokens:,} | {read_s} | {build_s} | {total_s} |".format(
                               **records[0])])
    elif args.quality:
        ratios = [float(r) for r in args.ratios.split(",")] if args.ratios else [20.0]
        meta.update(machine())
        records = quality(args, types, ratios)
        table = markdown_quality(records)
    else:
        shape = dict(QUICK if args.quick else SPEED)
        ratios = [float(r) if "." in r else int(r) for r in args.ratios.split(",")] if args.ratios else shape["ratios"]
        rounds = args.rounds or shape["rounds"]
        warmup = shape["warmup"] if args.warmup is None else args.warmup
        import torch
        if args.threads:
            torch.set_num_threads(args.threads)
        gen_rounds = args.gen_rounds or shape["gen_rounds"]
        meta.update(machine(), shape=shape, rounds=rounds, gen_rounds=gen_rounds, warmup=warmup)
        say(f"machine: {meta['cpus']} CPUs, torch {meta['torch']} ({meta['torch_threads']} threads), "
            f"load average {meta['load_average']}")
        records = speed(shape, types, ratios, rounds, warmup, gen_rounds, with_memory=not args.no_memory)
        table = markdown(records)
    meta["load_average_after"] = machine()["load_average"]
    meta["seconds"] = round(time.time() - start, 1)
    say("\n" + table)
    say(f"\n{meta['seconds']}s; load average after: {meta.get('load_average_after')}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"meta": meta, "records": records}, f, indent=1, ensure_ascii=False)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(table + "\n")
    if args.quality and args.plot:
        plot(records, args.plot)
    return records


def markdown_quality(records):
    tests = sorted({t for r in records for t in r["tests"]})
    rows = ["| type | ratio | emb. params | valid NLL | " + " | ".join(f"{t} BLEU | {t} chrF" for t in tests)
            + " | training s |", "|---|---|---|---|" + "---|---|" * len(tests) + "---|"]
    for r in records:
        ratio = f"{r['ratio']:.1f}x" if r.get("ratio") else "n/a"
        nll = "n/a" if r.get("valid_nll") is None else f"{r['valid_nll']:.3f}"
        scores = " | ".join(f"{r['tests'][t]['bleu']:.2f} | {r['tests'][t]['chrf']:.1f}" for t in tests)
        rows.append(f"| {r['type']} | {ratio} | {r['params']:,} | {nll} | {scores} | {r['train_s']:.0f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        main()
