//! Command-line options of the `minilm` binary.

use std::fmt;
use std::path::PathBuf;

use crate::model::Result;

/// A batch shape: `batch` texts of exactly `seq` tokens each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Texts per batch.
    pub batch: usize,
    /// Tokens per text (special tokens included), after truncation and padding.
    pub seq: usize,
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.batch, self.seq)
    }
}

impl std::str::FromStr for Shape {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Shape, String> {
        let (b, q) = s
            .split_once('x')
            .ok_or_else(|| format!("shape `{s}`: expected BATCHxSEQ, e.g. 8x14"))?;
        let batch: usize = b.parse().map_err(|_| format!("shape `{s}`: bad batch"))?;
        let seq: usize = q.parse().map_err(|_| format!("shape `{s}`: bad length"))?;
        if batch == 0 || !(2..=512).contains(&seq) {
            return Err(format!("shape `{s}`: batch >= 1 and 2 <= length <= 512"));
        }
        Ok(Shape { batch, seq })
    }
}

/// The shapes measured by default.
pub const DEFAULT_SHAPES: [Shape; 4] = [
    Shape { batch: 1, seq: 8 },
    Shape { batch: 8, seq: 14 },
    Shape { batch: 32, seq: 17 },
    Shape { batch: 8, seq: 105 },
];

/// How a batch is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// No arena: every allocation goes to the wrapped allocator.
    Off,
    /// An arena scope around the batch on the thread that runs it, as a program would write
    /// it without knowing about rayon: work stolen by the other rayon workers allocates
    /// outside the arena.
    MainOnly,
    /// The arena on every thread involved: the batch runs inside a scope on the calling
    /// thread, which is worker 0 of a rayon pool whose other workers spend their whole life
    /// inside the arena's scope; after the batch every worker resets its own lane.
    On,
}

impl Mode {
    /// All modes, in report order.
    pub const ALL: [Mode; 3] = [Mode::Off, Mode::MainOnly, Mode::On];

    /// The name used in options and reports.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::MainOnly => "main-only",
            Mode::On => "on",
        }
    }

    /// The mode called `name`.
    pub fn from_name(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// An allocator configuration, each measured in a process of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocConfig {
    /// The system allocator (glibc malloc) with its defaults.
    System,
    /// glibc malloc with the mmap threshold at its maximum and a high trim threshold, so
    /// large blocks are reused instead of being mapped and unmapped on every call.
    SystemTuned,
    /// mimalloc.
    Mimalloc,
}

/// `GLIBC_TUNABLES` for [`AllocConfig::SystemTuned`]: `mmap_threshold` at glibc's maximum on
/// 64-bit targets (32 MiB, half of `HEAP_MAX_SIZE`; larger values are ignored) and
/// `trim_threshold` at 4 GiB (freed memory is kept instead of given back).
pub const TUNED_GLIBC: &str =
    "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296";

impl AllocConfig {
    /// All configurations, in report order.
    pub const ALL: [AllocConfig; 3] = [
        AllocConfig::System,
        AllocConfig::SystemTuned,
        AllocConfig::Mimalloc,
    ];

    /// The name used in options and reports.
    pub fn name(self) -> &'static str {
        match self {
            AllocConfig::System => "system",
            AllocConfig::SystemTuned => "system-tuned",
            AllocConfig::Mimalloc => "mimalloc",
        }
    }

    /// The configuration called `name`.
    pub fn from_name(name: &str) -> Option<AllocConfig> {
        AllocConfig::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The value of [`ALLOCATOR_ENV`](crate::alloc::ALLOCATOR_ENV) for its process.
    pub fn backend_env(self) -> &'static str {
        match self {
            AllocConfig::System | AllocConfig::SystemTuned => "system",
            AllocConfig::Mimalloc => "mimalloc",
        }
    }

    /// The `GLIBC_TUNABLES` of its process (`None`: unset).
    pub fn glibc_tunables(self) -> Option<&'static str> {
        match self {
            AllocConfig::SystemTuned => Some(TUNED_GLIBC),
            _ => None,
        }
    }
}

/// Everything the command line can set.
#[derive(Clone, Debug)]
pub struct Options {
    /// Run one configuration in this process and print JSON lines (set by the driver when it
    /// re-executes itself).
    pub worker: Option<AllocConfig>,
    /// Configurations the driver runs.
    pub configs: Vec<AllocConfig>,
    /// Modes measured.
    pub modes: Vec<Mode>,
    /// Shapes measured.
    pub shapes: Vec<Shape>,
    /// Unmeasured passes per shape and mode before measuring.
    pub warmup: usize,
    /// Measured passes per shape and mode in each process (rounds alternate between the
    /// modes).
    pub rounds: usize,
    /// Processes per allocator configuration, run in turns; their passes are merged.
    pub repeat: usize,
    /// Rayon worker threads per pool.
    pub threads: usize,
    /// Transparent huge pages for the arenas (`HeapArenaOptions::huge_pages`): fewer TLB
    /// misses over a batch's hundreds of megabytes, and a lane whose high water creeps up by a
    /// few pages from one batch to the next (work stealing splits the work differently each
    /// time) mostly stays within pages already mapped.
    pub huge_pages: bool,
    /// Warm the arena pool's threads up outside the arena first (thread-local scratch of the
    /// matrix products is then not allocated in the arena, where it would pin blocks).
    pub prewarm: bool,
    /// Print a line per measured pass to stderr.
    pub trace: bool,
    /// Tokenize once per shape, outside the measured passes: the passes then measure the
    /// model alone (tensors from token ids, forward pass, pooling, normalisation).
    pub pretokenized: bool,
    /// Where the model files are.
    pub model_dir: Option<PathBuf>,
    /// Write the results as JSON here.
    pub json: Option<PathBuf>,
    /// Write a bar chart here.
    pub svg: Option<PathBuf>,
}

/// The usage text.
pub const USAGE: &str = "\
minilm: all-MiniLM-L6-v2 sentence embeddings (candle BERT) with arena routing off and on,
under the system allocator, tuned glibc malloc and mimalloc.

Usage: minilm [OPTIONS]

  --quick              short run (1 process per allocator, 1 warm-up pass, 5 rounds)
  --rounds N           measured passes per shape and mode, per process (default 10)
  --repeat N           processes per allocator, run in turns, passes merged (default 2)
  --warmup N           warm-up passes per shape and mode, per process (default 5)
  --shapes LIST        e.g. 1x8,8x14,32x17,8x105 (the default)
  --configs LIST       system,system-tuned,mimalloc (the default)
  --modes LIST         off,main-only,on (the default)
  --threads N          rayon threads per pool (default: $RAYON_NUM_THREADS, else 2)
  --no-huge-pages      no transparent huge pages for the arena memory (default: asked for)
  --no-prewarm         let the arena workers' thread-local scratch be made in the arena
  --pretokenized       tokenize outside the measured passes (measure the model alone)
  --trace              a line per measured pass on stderr
  --model-dir DIR      model files (default: models/all-minilm-l6-v2, from
                       scripts/fetch-minilm.sh)
  --json FILE          write the results as JSON
  --svg FILE           write a bar chart of ms/batch and calls/batch
  --worker CONFIG      (internal) measure one configuration here, print JSON lines
  -h, --help           this text
";

fn parse_list<T>(value: &str, one: impl Fn(&str) -> Option<T>, what: &str) -> Result<Vec<T>> {
    let items: Vec<T> = value
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| one(s).ok_or_else(|| format!("unknown {what} `{s}`")))
        .collect::<std::result::Result<_, _>>()?;
    if items.is_empty() {
        return Err(format!("no {what} given").into());
    }
    Ok(items)
}

fn default_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(2)
}

/// The value of option `name`.
fn value(parser: &mut lexopt::Parser, name: &str) -> Result<String> {
    let value = parser
        .value()
        .map_err(|_| format!("{name} needs a value"))?;
    value
        .into_string()
        .map_err(|v| format!("{name}: not UTF-8: {}", v.to_string_lossy()).into())
}

/// The value of option `name` as a number.
fn number(parser: &mut lexopt::Parser, name: &str) -> Result<usize> {
    let text = value(parser, name)?;
    text.parse()
        .map_err(|e| format!("{name}: `{text}`: {e}").into())
}

/// The counts `--quick` changes unless they are given: `None` where not given.
#[derive(Default)]
struct Counts {
    quick: bool,
    rounds: Option<usize>,
    repeat: Option<usize>,
    warmup: Option<usize>,
}

impl Options {
    /// The defaults.
    fn defaults() -> Options {
        Options {
            worker: None,
            configs: AllocConfig::ALL.to_vec(),
            modes: Mode::ALL.to_vec(),
            shapes: DEFAULT_SHAPES.to_vec(),
            warmup: 5,
            rounds: 10,
            repeat: 2,
            threads: default_threads(),
            huge_pages: true,
            prewarm: true,
            trace: false,
            pretokenized: false,
            model_dir: None,
            json: None,
            svg: None,
        }
    }

    /// Parses the arguments (without the program name). `Ok(None)`: help was asked for.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>> {
        use lexopt::Arg::{Long, Short};
        let mut options = Options::defaults();
        let mut counts = Counts::default();
        let mut parser = lexopt::Parser::from_args(args);
        while let Some(arg) = parser.next()? {
            match arg {
                Short('h') | Long("help") => return Ok(None),
                Long("all") => {}
                Long("quick") => counts.quick = true,
                Long("huge-pages") => options.huge_pages = true,
                Long("no-huge-pages") => options.huge_pages = false,
                Long("no-prewarm") => options.prewarm = false,
                Long("trace") => options.trace = true,
                Long("pretokenized") => options.pretokenized = true,
                Long("rounds") => counts.rounds = Some(number(&mut parser, "--rounds")?),
                Long("repeat") => counts.repeat = Some(number(&mut parser, "--repeat")?),
                Long("warmup") => counts.warmup = Some(number(&mut parser, "--warmup")?),
                Long("threads") => options.threads = number(&mut parser, "--threads")?,
                Long("shapes") => {
                    options.shapes = parse_list(
                        &value(&mut parser, "--shapes")?,
                        |s| s.parse().ok(),
                        "shape",
                    )?
                }
                Long("configs") => {
                    options.configs = parse_list(
                        &value(&mut parser, "--configs")?,
                        AllocConfig::from_name,
                        "allocator configuration",
                    )?
                }
                Long("modes") => {
                    options.modes =
                        parse_list(&value(&mut parser, "--modes")?, Mode::from_name, "mode")?
                }
                Long("model-dir") => {
                    options.model_dir = Some(value(&mut parser, "--model-dir")?.into())
                }
                Long("json") => options.json = Some(value(&mut parser, "--json")?.into()),
                Long("svg") => options.svg = Some(value(&mut parser, "--svg")?.into()),
                Long("worker") => {
                    let name = value(&mut parser, "--worker")?;
                    options.worker = Some(
                        AllocConfig::from_name(&name)
                            .ok_or_else(|| format!("unknown allocator configuration `{name}`"))?,
                    );
                }
                other => {
                    return Err(format!("{} (see --help)", other.unexpected()).into());
                }
            }
        }
        options.apply(counts)?;
        Ok(Some(options))
    }

    /// Sets the counts: as given, else `--quick`'s or the defaults; all must be positive.
    fn apply(&mut self, counts: Counts) -> Result<()> {
        let quick = counts.quick;
        self.warmup = counts.warmup.unwrap_or(if quick { 1 } else { self.warmup });
        self.rounds = counts.rounds.unwrap_or(if quick { 5 } else { self.rounds });
        self.repeat = counts.repeat.unwrap_or(if quick { 1 } else { self.repeat });
        if self.rounds == 0 || self.threads == 0 || self.repeat == 0 {
            return Err("--rounds, --repeat and --threads must be at least 1".into());
        }
        Ok(())
    }

    /// The arguments that make a worker process measure like this one.
    pub fn worker_args(&self, config: AllocConfig) -> Vec<String> {
        let join = |items: Vec<&str>| items.join(",");
        let mut args = vec![
            "--worker".to_string(),
            config.name().to_string(),
            "--rounds".to_string(),
            self.rounds.to_string(),
            "--warmup".to_string(),
            self.warmup.to_string(),
            "--threads".to_string(),
            self.threads.to_string(),
            "--shapes".to_string(),
            self.shapes
                .iter()
                .map(Shape::to_string)
                .collect::<Vec<_>>()
                .join(","),
            "--modes".to_string(),
            join(self.modes.iter().map(|m| m.name()).collect()),
        ];
        args.push(
            if self.huge_pages {
                "--huge-pages"
            } else {
                "--no-huge-pages"
            }
            .to_string(),
        );
        if !self.prewarm {
            args.push("--no-prewarm".to_string());
        }
        if self.trace {
            args.push("--trace".to_string());
        }
        if self.pretokenized {
            args.push("--pretokenized".to_string());
        }
        if let Some(dir) = &self.model_dir {
            args.push("--model-dir".to_string());
            args.push(dir.display().to_string());
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Options>> {
        Options::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_and_quick() {
        let o = parse(&[]).unwrap().unwrap();
        assert_eq!(o.shapes, DEFAULT_SHAPES);
        assert_eq!(o.configs, AllocConfig::ALL);
        assert_eq!((o.rounds, o.repeat, o.warmup), (10, 2, 5));
        let q = parse(&["--quick", "--warmup", "2"]).unwrap().unwrap();
        assert_eq!((q.rounds, q.repeat, q.warmup), (5, 1, 2));
        assert!(parse(&["--help"]).unwrap().is_none());
        assert!(parse(&["--bogus"])
            .unwrap_err()
            .to_string()
            .contains("--bogus"));
        assert!(parse(&["--shapes", "8y14"]).is_err());
        assert!(parse(&["--rounds"])
            .unwrap_err()
            .to_string()
            .contains("needs a value"));
        assert!(parse(&["--rounds", "x"]).is_err());
        assert!(parse(&["--rounds", "0"]).is_err());
        let joined = parse(&["--rounds=3", "--modes=off"]).unwrap().unwrap();
        assert_eq!((joined.rounds, joined.modes), (3, vec![Mode::Off]));
    }

    #[test]
    fn worker_args_round_trip() {
        let o = parse(&[
            "--shapes",
            "2x9,4x30",
            "--modes",
            "off,on",
            "--threads",
            "3",
            "--no-huge-pages",
            "--no-prewarm",
            "--pretokenized",
            "--model-dir",
            "/m",
        ])
        .unwrap()
        .unwrap();
        let w = Options::parse(o.worker_args(AllocConfig::Mimalloc))
            .unwrap()
            .unwrap();
        assert_eq!(w.worker, Some(AllocConfig::Mimalloc));
        assert_eq!(w.shapes, o.shapes);
        assert_eq!(w.modes, [Mode::Off, Mode::On]);
        assert_eq!((w.threads, w.rounds, w.warmup), (3, o.rounds, o.warmup));
        assert!(!w.huge_pages && !w.prewarm && w.pretokenized);
        assert_eq!(w.model_dir, Some(PathBuf::from("/m")));
    }
}
