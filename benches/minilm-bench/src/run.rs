//! Measuring one allocator configuration in this process: the rayon pools, the arenas, the
//! three ways of running a batch, and the measured rounds. Results go to stdout as JSON lines
//! (one per shape and mode, then one for the process), progress to stderr.

use std::time::Instant;

use allocarrays::{without_arena, HeapArena, HeapArenaOptions, HeapResetReport};
use bench_support::process::peak_rss_kib;
use bench_support::stats::{median, quantile};
use rayon::{ThreadPool, ThreadPoolBuilder};
use serde_json::{json, Value};
use tokenizers::Tokenizer;

use crate::alloc::{
    set_thread_role, size_class_limit, Backend, CountingSelected, Counts, Role, SIZE_CLASSES,
};
use crate::cli::{AllocConfig, Mode, Options, Shape};
use crate::model::{batch_texts, dot, find_model_dir, Embedder, Result, Tokens, SENTENCES};
use crate::usage::{max_rss_kib, Usage};

/// The arena of [`Mode::On`]: the calling thread and every worker of the arena pool.
static ARENA: HeapArena = HeapArena::new();
static ARENA_HUGE: HeapArena = HeapArena::with_options(HeapArenaOptions::new().huge_pages(true));
/// The arena of [`Mode::MainOnly`], separate so each arena's lanes are those of one mode.
static MAIN_ARENA: HeapArena = HeapArena::new();
static MAIN_ARENA_HUGE: HeapArena =
    HeapArena::with_options(HeapArenaOptions::new().huge_pages(true));

/// A reset's report (a reset never fails; pins are reported).
fn reset(arena: &HeapArena) -> HeapResetReport {
    arena.reset()
}

/// A rayon pool of `threads` plain workers, tagged [`Role::PlainWorker`].
fn plain_pool(threads: usize) -> Result<ThreadPool> {
    Ok(ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("plain-worker-{i}"))
        .start_handler(|_| set_thread_role(Role::PlainWorker))
        .build()?)
}

/// A rayon pool of `threads` workers for [`Mode::On`]: worker 0 is the calling thread (it
/// drives the batches, inside a scope of `arena`), the others are threads that spend their
/// whole life inside a scope of `arena`, so every job they run, whoever queued it,
/// allocates from their own lane.
///
/// Candle and the tokenizer hand work to rayon internally (matrix products, parallel
/// iterators), where no scope of the caller reaches; this is how that work sees the arena.
/// A lane held by a worker for good is only reset by that worker (see [`Bench::pass`]).
///
/// The calling thread drives rather than a spawned worker (as `install` from outside would
/// have it) so that one lane, always the same, holds a batch's tensors: a batch's memory is
/// not reused before the reset (tensors die in no particular order), so a lane takes as much
/// as everything the batch allocates, and a driver that changed from batch to batch would
/// make every worker's lane that large.
///
/// Must be called once, on a thread that is in no rayon pool; the thread stays worker 0.
fn arena_pool(threads: usize, arena: &'static HeapArena) -> Result<ThreadPool> {
    Ok(ThreadPoolBuilder::new()
        .num_threads(threads)
        .use_current_thread()
        .thread_name(|i| format!("arena-worker-{i}"))
        .start_handler(|_| set_thread_role(Role::ArenaWorker))
        .spawn_handler(move |thread| {
            let mut builder = std::thread::Builder::new();
            if let Some(name) = thread.name() {
                builder = builder.name(name.to_owned());
            }
            if let Some(size) = thread.stack_size() {
                builder = builder.stack_size(size);
            }
            builder.spawn(move || arena.scope(|| thread.run()))?;
            Ok(())
        })
        .build()?)
}

/// What a batch starts from.
enum Input<'a> {
    /// Texts, tokenized in the pass.
    Text(&'a Tokenizer, &'a [&'a str]),
    /// Token ids, tokenized before.
    Tokens(&'a Tokens),
}

/// The model, the pools and the arenas of one process.
struct Bench<'a> {
    embedder: &'a Embedder,
    plain: ThreadPool,
    arena_pool: ThreadPool,
    arena: &'static HeapArena,
    main_arena: &'static HeapArena,
}

impl Bench<'_> {
    fn embed(&self, input: &Input<'_>, out: &mut [f32]) -> Result<()> {
        match input {
            Input::Text(tokenizer, texts) => self.embedder.embed(tokenizer, texts, out),
            Input::Tokens(tokens) => self.embedder.embed_tokens(tokens, out),
        }
    }

    /// Runs one batch in `mode`, writing the embeddings to `out`; returns the bytes that
    /// stayed pinned at the resets after it.
    fn pass(&self, mode: Mode, input: &Input<'_>, out: &mut [f32]) -> Result<usize> {
        match mode {
            Mode::Off => {
                self.plain.install(|| self.embed(input, out))?;
                Ok(0)
            }
            Mode::MainOnly => {
                let result = self
                    .plain
                    .install(|| self.main_arena.scope(|| self.embed(input, out)));
                // The scope has ended, so its lane is idle: this reset covers it.
                let report = reset(self.main_arena);
                result?;
                Ok(report.pinned_bytes)
            }
            Mode::On => {
                let (result, pinned_by_workers) = self.arena.scope(|| {
                    // This thread is worker 0 of the pool: `install` runs here, in the scope.
                    let result = self.arena_pool.install(|| self.embed(input, out));
                    // The other workers hold their lanes for good, so each resets its own.
                    // The broadcast's bookkeeping lives in this thread's lane, which is reset
                    // below, once the scope is over and that bookkeeping freed.
                    let pinned: usize = self
                        .arena_pool
                        .broadcast(|ctx| {
                            if ctx.index() == 0 {
                                0
                            } else {
                                reset(self.arena).pinned_bytes
                            }
                        })
                        .iter()
                        .sum();
                    (result, pinned)
                });
                // This thread's lane, idle now that its scope has ended.
                let report = reset(self.arena);
                result?;
                Ok(pinned_by_workers + report.pinned_bytes)
            }
        }
    }

    /// Runs one batch on every worker of the arena pool at once, outside the arena, so the
    /// long-lived per-thread state a batch creates (the matrix products' thread-local
    /// scratch) comes from the wrapped allocator and pins nothing.
    fn prewarm(&self, input: &Input<'_>, len: usize) -> Result<()> {
        let results = self.arena_pool.broadcast(|_| {
            without_arena(|| {
                let mut out = vec![0.0; len];
                self.embed(input, &mut out)
            })
        });
        results.into_iter().collect()
    }

    /// Allocations and bytes served by both arenas so far.
    fn arena_totals(&self) -> (u64, u64) {
        let a = self.arena.stats();
        let m = self.main_arena.stats();
        (a.allocations + m.allocations, a.bytes + m.bytes)
    }

    /// The median time, in microseconds, of handing an empty job to the plain pool and
    /// getting it back: what [`Mode::Off`] and [`Mode::MainOnly`] pay per batch and
    /// [`Mode::On`] (which drives on this thread) does not.
    fn handoff_us(&self) -> f64 {
        let mut micros: Vec<f64> = (0..201)
            .map(|_| {
                let t0 = Instant::now();
                self.plain.install(|| std::hint::black_box(()));
                t0.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        micros.sort_by(f64::total_cmp);
        micros[micros.len() / 2]
    }
}

/// What the measured passes of one shape and mode added up to.
struct Tally {
    mode: Mode,
    millis: Vec<f64>,
    cpu_millis: Vec<f64>,
    counts: Counts,
    max_calls: u64,
    minor_faults: u64,
    major_faults: u64,
    arena_allocations: u64,
    arena_bytes: u64,
    pinned_sum: usize,
    pinned_max: usize,
    max_abs_diff: f32,
}

impl Tally {
    fn new(mode: Mode, rounds: usize) -> Tally {
        Tally {
            mode,
            millis: Vec::with_capacity(rounds),
            cpu_millis: Vec::with_capacity(rounds),
            counts: Counts::default(),
            max_calls: 0,
            minor_faults: 0,
            major_faults: 0,
            arena_allocations: 0,
            arena_bytes: 0,
            pinned_sum: 0,
            pinned_max: 0,
            max_abs_diff: 0.0,
        }
    }

    fn median_ms(&self) -> f64 {
        median(&self.millis)
    }

    fn to_json(&self, config: AllocConfig, shape: Shape) -> Value {
        let n = self.millis.len().max(1) as f64;
        let per = |x: u64| x as f64 / n;
        let by_role: serde_json::Map<String, Value> = Role::ALL
            .iter()
            .map(|&role| {
                (
                    role.name().to_string(),
                    json!(per(self.counts.by_role(role))),
                )
            })
            .collect();
        let by_size: Vec<Value> = (0..SIZE_CLASSES)
            .filter(|&c| self.counts.by_size_class(c) > 0)
            .map(|c| {
                json!({
                    "max_bytes": size_class_limit(c),
                    "per_batch": per(self.counts.by_size_class(c)),
                })
            })
            .collect();
        let min = self.millis.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self.millis.iter().copied().fold(0.0, f64::max);
        json!({
            "kind": "result",
            "config": config.name(),
            "shape": shape.to_string(),
            "batch": shape.batch,
            "seq": shape.seq,
            "mode": self.mode.name(),
            "passes": self.millis.len(),
            "median_ms": self.median_ms(),
            "p99_ms": quantile(&self.millis, 0.99),
            "mean_ms": self.millis.iter().sum::<f64>() / n,
            "min_ms": min,
            "max_ms": max,
            "millis": self.millis,
            "cpu_millis": self.cpu_millis,
            "calls_per_batch": per(self.counts.total_calls()),
            "calls_max": self.max_calls,
            "bytes_per_batch": per(self.counts.bytes),
            "frees_per_batch": per(self.counts.frees),
            "faults_per_batch": per(self.minor_faults),
            "major_faults_per_batch": per(self.major_faults),
            "arena_allocs_per_batch": per(self.arena_allocations),
            "arena_bytes_per_batch": per(self.arena_bytes),
            "pinned_bytes_mean": self.pinned_sum as f64 / n,
            "pinned_bytes_max": self.pinned_max,
            "max_abs_diff": self.max_abs_diff,
            "calls_by_role": by_role,
            "calls_by_size": by_size,
            // The process's peak resident set size so far (VmHWM), after this shape's passes
            // in every mode: the modes share the process, so it is not one mode's alone.
            "peak_rss_kib": peak_rss_kib(),
        })
    }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The probe texts: a sentence, one related to it, one unrelated.
const PROBE: [&str; 3] = [SENTENCES[0], SENTENCES[1], SENTENCES[4]];

/// What one measured pass took and caused.
struct Pass {
    millis: f64,
    usage: Usage,
    counts: Counts,
    arena_allocations: u64,
    arena_bytes: u64,
    pinned: usize,
}

impl Tally {
    /// Adds `pass`, whose embeddings differ from the reference by `diff` at most.
    fn add(&mut self, pass: &Pass, diff: f32) {
        self.millis.push(pass.millis);
        self.cpu_millis.push(pass.usage.cpu.as_secs_f64() * 1e3);
        self.max_calls = self.max_calls.max(pass.counts.total_calls());
        self.counts.add(&pass.counts);
        self.minor_faults += pass.usage.minor_faults;
        self.major_faults += pass.usage.major_faults;
        self.arena_allocations += pass.arena_allocations;
        self.arena_bytes += pass.arena_bytes;
        self.pinned_sum += pass.pinned;
        self.pinned_max = self.pinned_max.max(pass.pinned);
        self.max_abs_diff = self.max_abs_diff.max(diff);
    }
}

/// The environment this process needs for `config`, checked: returns `GLIBC_TUNABLES` as set.
fn check_environment(config: AllocConfig, backend: Backend) -> Result<Option<String>> {
    let tunables = std::env::var("GLIBC_TUNABLES").ok();
    if backend.name() != config.backend_env() || tunables.as_deref() != config.glibc_tunables() {
        return Err(format!(
            "this process uses {} with GLIBC_TUNABLES={:?}, not what `{}` needs: run without \
             --worker, which starts each configuration with the right environment",
            backend.name(),
            tunables,
            config.name()
        )
        .into());
    }
    Ok(tunables)
}

/// Everything one worker process measures with, and where its counters are.
struct Worker<'a> {
    bench: Bench<'a>,
    counting: &'static CountingSelected,
    options: &'a Options,
    tag: &'static str,
}

impl Worker<'_> {
    /// The cosine similarities of [`PROBE`]'s first text with the second (related) and the
    /// third (unrelated): the model is real if the first is high and the second low.
    fn probe(&self) -> Result<(f32, f32)> {
        let embedder = self.bench.embedder;
        let hidden = embedder.hidden_size();
        let tokenizer = embedder.tokenizer_for(16)?;
        let mut out = vec![0.0; PROBE.len() * hidden];
        self.bench
            .pass(Mode::Off, &Input::Text(&tokenizer, &PROBE), &mut out)?;
        let row = |i: usize| &out[i * hidden..(i + 1) * hidden];
        Ok((dot(row(0), row(1)), dot(row(0), row(2))))
    }

    /// One measured pass in `mode`.
    fn measured_pass(&self, mode: Mode, input: &Input<'_>, out: &mut [f32]) -> Result<Pass> {
        let (arena_allocs0, arena_bytes0) = self.bench.arena_totals();
        let counts0 = self.counting.observer().snapshot();
        let usage0 = Usage::now();
        let t0 = Instant::now();
        let pinned = self.bench.pass(mode, input, out)?;
        let elapsed = t0.elapsed();
        let usage = Usage::now().since(&usage0);
        let counts = self.counting.observer().snapshot().since(&counts0);
        let (arena_allocs1, arena_bytes1) = self.bench.arena_totals();
        Ok(Pass {
            millis: elapsed.as_secs_f64() * 1e3,
            usage,
            counts,
            arena_allocations: arena_allocs1 - arena_allocs0,
            arena_bytes: arena_bytes1 - arena_bytes0,
            pinned,
        })
    }

    /// The trace line of one pass.
    fn trace(&self, shape: Shape, round: usize, mode: Mode, pass: &Pass) {
        eprintln!(
            "[{}] {shape} round {round} {}: {:.2} ms, {} calls, {} faults, pinned {} B, arena \
             high water {:.1} MB (on) / {:.1} MB (main-only)",
            self.tag,
            mode.name(),
            pass.millis,
            pass.counts.total_calls(),
            pass.usage.minor_faults,
            pass.pinned,
            self.bench.arena.stats().high_water_bytes as f64 / 1e6,
            self.bench.main_arena.stats().high_water_bytes as f64 / 1e6,
        );
    }

    /// The measured rounds of one shape: every mode once per round, the order alternating.
    fn rounds(
        &self,
        shape: Shape,
        input: &Input<'_>,
        out: &mut [f32],
        reference: &[f32],
    ) -> Result<Vec<Tally>> {
        let options = self.options;
        let mut tallies: Vec<Tally> = options
            .modes
            .iter()
            .map(|&m| Tally::new(m, options.rounds))
            .collect();
        for round in 0..options.rounds {
            // Alternate the order, so no mode always follows the same one.
            let order: Vec<usize> = if round % 2 == 0 {
                (0..tallies.len()).collect()
            } else {
                (0..tallies.len()).rev().collect()
            };
            for i in order {
                let mode = tallies[i].mode;
                let pass = self.measured_pass(mode, input, out)?;
                tallies[i].add(&pass, max_abs_diff(out, reference));
                if options.trace {
                    self.trace(shape, round, mode, &pass);
                }
            }
        }
        Ok(tallies)
    }

    /// Measures one shape: warm-up, a reference pass, the measured rounds; prints a JSON line
    /// per mode and a summary. Returns the bytes pinned at the resets during the warm-up.
    fn shape(&self, config: AllocConfig, shape: Shape) -> Result<usize> {
        let (bench, options) = (&self.bench, self.options);
        let embedder = bench.embedder;
        let owned = batch_texts(shape.batch, shape.seq);
        let texts: Vec<&str> = owned.iter().map(String::as_str).collect();
        let tokenizer = embedder.tokenizer_for(shape.seq)?;
        let tokens;
        let input = if options.pretokenized {
            tokens = embedder.tokenize(&tokenizer, &texts)?;
            Input::Tokens(&tokens)
        } else {
            Input::Text(&tokenizer, &texts)
        };
        let len = shape.batch * embedder.hidden_size();
        let mut out = vec![0.0f32; len];
        let mut reference = vec![0.0f32; len];

        if options.prewarm && options.modes.contains(&Mode::On) {
            bench.prewarm(&input, len)?;
        }
        let mut pinned = 0;
        for _ in 0..options.warmup {
            for &mode in &options.modes {
                pinned = pinned.max(bench.pass(mode, &input, &mut out)?);
            }
        }
        bench.pass(Mode::Off, &input, &mut reference)?;

        let tallies = self.rounds(shape, &input, &mut out, &reference)?;
        let mut summary = Vec::new();
        for tally in &tallies {
            println!("{}", tally.to_json(config, shape));
            summary.push(format!(
                "{} {:.2} ms, {:.0} calls",
                tally.mode.name(),
                tally.median_ms(),
                tally.counts.total_calls() as f64 / tally.millis.len() as f64
            ));
        }
        eprintln!("[{}] {shape}: {}", self.tag, summary.join("; "));
        Ok(pinned)
    }
}

/// The statistics of `arena`, as JSON.
fn arena_json(arena: &HeapArena) -> Value {
    let s = arena.stats();
    json!({
        "lanes": s.lanes,
        "allocations": s.allocations,
        "bytes": s.bytes,
        "spills": s.spills,
        "high_water_bytes": s.high_water_bytes,
    })
}

/// Measures `config` (which must be the configuration this process was started with) as
/// `options` say, printing JSON lines to stdout. `counting` is the global allocator's counter.
pub fn run_worker(
    config: AllocConfig,
    options: &Options,
    counting: &'static CountingSelected,
) -> Result<()> {
    let backend = counting.inner().backend();
    let tunables = check_environment(config, backend)?;
    let tag = config.name();

    let started = Instant::now();
    let dir = find_model_dir(options.model_dir.as_deref())?;
    let embedder = Embedder::load(&dir)?;
    let load_secs = started.elapsed().as_secs_f64();
    let (arena, main_arena) = if options.huge_pages {
        (&ARENA_HUGE, &MAIN_ARENA_HUGE)
    } else {
        (&ARENA, &MAIN_ARENA)
    };
    let worker = Worker {
        bench: Bench {
            embedder: &embedder,
            plain: plain_pool(options.threads)?,
            arena_pool: arena_pool(options.threads, arena)?,
            arena,
            main_arena,
        },
        counting,
        options,
        tag,
    };
    let (similar, unrelated) = worker.probe()?;
    eprintln!(
        "[{tag}] model loaded from {} in {load_secs:.2} s; cos(\"{}\", \"{}\") = {similar:.3}, \
         cos(\"{}\", \"{}\") = {unrelated:.3}",
        dir.display(),
        PROBE[0],
        PROBE[1],
        PROBE[0],
        PROBE[2],
    );
    let handoff_us = worker.bench.handoff_us();
    let mut pinned_after_warmup = Vec::new();
    for &shape in &options.shapes {
        let pinned = worker.shape(config, shape)?;
        pinned_after_warmup.push(json!({"shape": shape.to_string(), "pinned_bytes": pinned}));
    }

    println!(
        "{}",
        json!({
            "kind": "process",
            "config": config.name(),
            "backend": backend.name(),
            "glibc_tunables": tunables,
            "threads": options.threads,
            "huge_pages": options.huge_pages,
            "prewarm": options.prewarm,
            "pretokenized": options.pretokenized,
            "handoff_us": handoff_us,
            "rounds": options.rounds,
            "warmup": options.warmup,
            "load_secs": load_secs,
            "cos_similar": similar,
            "cos_unrelated": unrelated,
            "pinned_after_warmup": pinned_after_warmup,
            "arena": arena_json(arena),
            "main_arena": arena_json(main_arena),
            "max_rss_kib": max_rss_kib(),
            "peak_rss_kib": peak_rss_kib(),
        })
    );
    Ok(())
}
