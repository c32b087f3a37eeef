"""--speed and --quick: training step, generation, memory and size of every type against full tables.

For each requested compression ratio (default 20 and 80), one group of see_transformer models
(full, then every compressed type with --embedding-compression-ratio R) is built in this process
and measured interleaved: every round times one step of each model in a shuffled order, after a
warm-up round (5 training rounds, then 15 generation rounds: a generation call is short, so it
takes more of them to see through other jobs' load); a model's figure is the median over rounds of
its time divided by the full model's time in the same round, so load from other processes cancels
out as far as possible. Each call is timed twice: wall time, and the CPU time of the calling
thread (with torch at 1 thread, all of the call's work; other jobs on the machine change it far
less than they change wall time; at more threads the whole process's CPU time). Measured:
  step_time_ratio       training step (forward, label-smoothed CE, backward, Adam) / full's
  step_cpu_time_ratio   the same in CPU time
  gen_speed_ratio       beam-5 fairseq SequenceGenerator throughput / full's (every sentence decodes
                        exactly gen_len tokens: min_len = max_len, so all models do the same work
                        whatever their random weights prefer)
  gen_cpu_speed_ratio   the same in CPU time
  peak_mem_mb           peak RSS above the baseline of a fresh process (forked from a server that
                        only imported the libraries) that builds the model, generates once and
                        trains two steps with Adam: parameters, gradients, optimizer state,
                        activations, rebuilt tables (gen_peak_mem_mb: after generating)
  ckpt_mb               torch.save of the model's state_dict (what generation loads; for SEE it
                        includes the index buffers), without optimizer state
Shapes (SPEED): |V| 16k per side, d 512, 6+6 layers, FFN 1024, 4 heads (see_transformer_iwslt_zh_en),
batches of 128 x 32 = 4,096 tokens per side; --cpu-profile-shape (CPU_PROFILE) the IWSLT17 recipe's
cpu profile (8k + 8k, d 256, 3+3 layers, 64 x 32 tokens); --quick (QUICK) the same at toy shapes with few
rounds (< 2 minutes on 2 cores). Token ids are synthetic, the dictionaries too (common.py).
--model-args: options after every compressed model's own (shape["model_args"]), e.g. a recipe row's sizes.
Without the lexicons, see and see_random are skipped with a message.
"""

import io
import multiprocessing
import random
import shlex
import statistics
import time

from common import SEE_TYPES, build_model, embedding_parameters, load_lexicon, machine, make_task, model_args, say

SPEED = dict(vocab=16000, dim=512, layers=6, ffn=1024, heads=4, sentences=128, src_len=32, tgt_len=32,
             gen_sentences=16, gen_src_len=24, gen_len=24, beam=5, warmup=1, rounds=5, gen_rounds=15,
             ratios=(20, 80))
# the IWSLT17 recipe's cpu profile: 8k + 8k, d 256, 3+3 layers, FFN 1024, 2,048 tokens a batch
CPU_PROFILE = dict(SPEED, vocab=8000, dim=256, layers=3, sentences=64)
QUICK = dict(vocab=2000, dim=64, layers=1, ffn=128, heads=2, sentences=8, src_len=12, tgt_len=12,
             gen_sentences=2, gen_src_len=6, gen_len=6, beam=5, warmup=1, rounds=3, gen_rounds=3,
             ratios=(20,))


def checkpoint_mb(model):
    import torch
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict()}, buffer)
    return buffer.tell() / 2 ** 20


# ---- one training step, one generation -------------------------------------------------------------

def make_batches(shape, task, seed=0):
    import torch
    g = torch.Generator().manual_seed(seed)
    source, target_dict = task.source_dictionary, task.target_dictionary
    n, s, t = shape["sentences"], shape["src_len"], shape["tgt_len"]
    # any token but fairseq's specials (the first nspecial ids), then </s>
    src = torch.randint(source.nspecial, len(source), (n, s), generator=g)
    src[:, -1] = source.eos()
    target = torch.randint(target_dict.nspecial, len(target_dict), (n, t), generator=g)
    target[:, -1] = target_dict.eos()
    prev = torch.cat([torch.full((n, 1), target_dict.eos()), target[:, :-1]], 1)
    train = (src, torch.full((n,), s), prev, target)
    gen_src = torch.randint(source.nspecial, len(source), (shape["gen_sentences"], shape["gen_src_len"]),
                            generator=g)
    gen_src[:, -1] = source.eos()
    gen = {"net_input": {"src_tokens": gen_src, "src_lengths": torch.full((len(gen_src),), gen_src.shape[1])}}
    return train, gen


class Trainer:
    def __init__(self, model, batch, pad):
        import torch
        self.model, self.batch, self.pad = model, batch, pad
        self.optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4,
                                          betas=(0.9, 0.98))

    def step(self):
        import torch.nn.functional as F
        src, lengths, prev, target = self.batch
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        logits, _ = self.model(src, lengths, prev)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]).float(), target.view(-1), ignore_index=self.pad,
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


def cpu_clock():
    """The CPU clock a call is timed with: the calling thread's at one torch thread, else the process's."""
    import torch
    return time.thread_time if torch.get_num_threads() == 1 else time.process_time


def interleaved(runners, rounds, warmup, seed=0):
    """{name: [(wall s, CPU s) per round]}: every round calls each runner once, in a shuffled order."""
    rng = random.Random(seed)
    times = {name: [] for name in runners}
    names = list(runners)
    cpu = cpu_clock()
    start = time.time()
    for r in range(warmup + rounds):
        rng.shuffle(names)
        for name in names:
            wall, cpu_start = time.perf_counter(), cpu()
            runners[name]()
            if r >= warmup:
                times[name].append((time.perf_counter() - wall, cpu() - cpu_start))
        say(f"  round {r + 1}/{warmup + rounds}{' (warm-up)' if r < warmup else ''}: {time.time() - start:.0f}s")
    return times


def paired_ratio(times, name, reference="full", invert=False, clock=0):
    """Median over rounds of time(name) / time(reference) in the same round (inverted for speeds);
    ``clock`` 0: wall time, 1: CPU time."""
    ratios = [(r[clock] / t[clock] if invert else t[clock] / r[clock]) for t, r in zip(times[name], times[reference])]
    return statistics.median(ratios)


def median_wall(times):
    return statistics.median(t for t, _ in times)


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
    trainer = Trainer(model, train, task.target_dictionary.pad())
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


# ---- the comparison ------------------------------------------------------------------------------------

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
    train_batch, gen_sample = make_batches(shape, task)
    pad = task.target_dictionary.pad()
    records = []
    for ratio in ratios:
        group = ["full"] + [t for t in types if t != "full"]
        models, lines, trainers, generators = {}, {}, {}, {}
        for kind in group:
            models[kind], lines[kind] = build_model(kind, ratio, shape, task)
            trainers[kind] = Trainer(models[kind], train_batch, pad)
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
                "step_cpu_time_ratio": paired_ratio(train_times, kind, clock=1),
                "gen_speed_ratio": paired_ratio(gen_times, kind, invert=True),
                "gen_cpu_speed_ratio": paired_ratio(gen_times, kind, invert=True, clock=1),
                "step_ms": 1000 * median_wall(train_times[kind]),
                "gen_tokens_per_s": generators[kind].tokens / median_wall(gen_times[kind]),
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


def markdown(records):
    def fmt(x, spec):
        return "n/a" if x is None else format(x, spec)
    rows = ["| type | ratio | emb. params | step time vs full | step CPU time vs full | generation speed vs full | "
            "generation CPU speed vs full | step ms | gen tok/s | peak train MB | peak gen MB | ckpt MB |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        rows.append(f"| {r['type']} | {r['ratio']:.1f}x | {r['params']:,} | {fmt(r.get('step_time_ratio'), '.3f')} | "
                    f"{fmt(r.get('step_cpu_time_ratio'), '.3f')} | {fmt(r.get('gen_speed_ratio'), '.3f')} | "
                    f"{fmt(r.get('gen_cpu_speed_ratio'), '.3f')} | {fmt(r.get('step_ms'), '.0f')} | "
                    f"{fmt(r.get('gen_tokens_per_s'), '.0f')} | {fmt(r.get('peak_mem_mb'), '.0f')} | "
                    f"{fmt(r.get('gen_peak_mem_mb'), '.0f')} | {fmt(r.get('ckpt_mb'), '.1f')} |")
    return "\n".join(rows)


def main(args, types):
    """(records, table, meta) of --speed, or of --quick with ``args.quick``."""
    import torch
    shape = dict(QUICK if args.quick else CPU_PROFILE if args.cpu_profile_shape else SPEED)
    if args.model_args:
        shape["model_args"] = shlex.split(args.model_args)  # in the shape: every model build (memory too) sees it
    ratios = [float(r) if "." in r else int(r) for r in args.ratios.split(",")] if args.ratios else shape["ratios"]
    rounds = args.rounds or shape["rounds"]
    warmup = shape["warmup"] if args.warmup is None else args.warmup
    gen_rounds = args.gen_rounds or shape["gen_rounds"]
    if args.threads:
        torch.set_num_threads(args.threads)
    meta = dict(machine(), shape=shape, rounds=rounds, gen_rounds=gen_rounds, warmup=warmup,
                cpu_clock=cpu_clock().__name__)
    say(f"machine: {meta['cpus']} CPUs, torch {meta['torch']} ({meta['torch_threads']} threads), "
        f"load average {meta['load_average']}")
    records = speed(shape, types, ratios, rounds, warmup, gen_rounds, with_memory=not args.no_memory)
    return records, markdown(records), meta
