//! The command line: options, the measurements in order, and the outputs (tables on stdout,
//! `--json`, `--svg`, `--svg-dir`).

use std::path::{Path, PathBuf};

use crate::report::Report;
use crate::{alloc_stack, digits, fx, reduction, svg};

/// The usage text.
pub const USAGE: &str = "\
usage: allocarrays-demo [--quick] [--rounds N] [--images N] [--batch N] [--len N]
                        [--json FILE] [--svg FILE] [--svg-dir DIR]

  --quick        fewer images and repetitions (a smoke run, seconds)
  --rounds N     measured passes per DigitsModel variant and allocator
  --images N     images for the DigitsModel (default 1000; 64 with --quick)
  --batch N      images per batch (default 32)
  --len N        elements of the basic_reduction input (default 100000)
  --json FILE    write every figure as JSON
  --svg FILE     write the DigitsModel charts (time and allocator calls per batch) to one SVG
  --svg-dir DIR  write digits_time.svg, digits_allocs.svg, reduction_time.svg and
                 reduction_allocs.svg into DIR (created if missing)";

/// What to measure and where to write it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    /// Smaller sizes, for tests and smoke runs.
    pub quick: bool,
    /// Overrides the measured passes of the DigitsModel benchmark.
    pub rounds: Option<usize>,
    /// Overrides the number of images.
    pub images: Option<usize>,
    /// Overrides the batch size.
    pub batch: Option<usize>,
    /// Overrides the length of the reduction's input.
    pub len: Option<usize>,
    /// Where to write the JSON.
    pub json: Option<PathBuf>,
    /// Where to write the combined SVG.
    pub svg: Option<PathBuf>,
    /// Where to write one SVG per chart.
    pub svg_dir: Option<PathBuf>,
}

impl Options {
    /// Parses the arguments (without the program name). `Err` holds the message to print.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
        use lexopt::Arg::{Long, Short};
        let mut opts = Options::default();
        let mut parser = lexopt::Parser::from_args(args);
        while let Some(arg) = parser.next().map_err(|e| format!("{e}\n\n{USAGE}"))? {
            match arg {
                Long("quick") => opts.quick = true,
                Long("rounds") => opts.rounds = Some(positive(&mut parser, "--rounds")?),
                Long("images") => opts.images = Some(positive(&mut parser, "--images")?),
                Long("batch") => opts.batch = Some(positive(&mut parser, "--batch")?),
                Long("len") => opts.len = Some(positive(&mut parser, "--len")?),
                Long("json") => opts.json = Some(value(&mut parser, "--json")?.into()),
                Long("svg") => opts.svg = Some(value(&mut parser, "--svg")?.into()),
                Long("svg-dir") => opts.svg_dir = Some(value(&mut parser, "--svg-dir")?.into()),
                Short('h') | Long("help") => return Err(USAGE.to_string()),
                other => {
                    let name = match other {
                        Long(name) => format!("--{name}"),
                        Short(c) => format!("-{c}"),
                        lexopt::Arg::Value(v) => v.to_string_lossy().into_owned(),
                    };
                    return Err(format!("unknown argument: {name}\n\n{USAGE}"));
                }
            }
        }
        Ok(opts)
    }
}

/// The value of option `name`, or the message saying it is missing.
fn value(parser: &mut lexopt::Parser, name: &str) -> Result<std::ffi::OsString, String> {
    parser
        .value()
        .map_err(|_| format!("{name} needs a value\n\n{USAGE}"))
}

/// The value of option `name` as a positive number, or the message for it.
fn positive(parser: &mut lexopt::Parser, name: &str) -> Result<usize, String> {
    let text = value(parser, name)?;
    match text.to_str().and_then(|t| t.parse::<usize>().ok()) {
        Some(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "{name}: not a positive number: {}\n\n{USAGE}",
            text.to_string_lossy()
        )),
    }
}

/// The sizes of every measurement.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// `f(x)`.
    pub fx: fx::Config,
    /// `basic_reduction`.
    pub reduction: reduction::Config,
    /// The DigitsModel.
    pub digits: digits::Config,
}

impl Sizes {
    /// The full run (the seed's sizes; under a minute in release mode on two cores).
    pub fn full() -> Self {
        Sizes {
            fx: fx::Config {
                samples: 101,
                calls_per_sample: 10_000,
            },
            reduction: reduction::Config {
                len: 100_000,
                rounds: 51,
                round_ms: 4.0,
            },
            digits: digits::Config {
                images: 1000,
                batch: 32,
                rounds: 31,
            },
        }
    }

    /// A smoke run: the same workloads, much smaller.
    pub fn quick() -> Self {
        Sizes {
            fx: fx::Config {
                samples: 11,
                calls_per_sample: 1000,
            },
            reduction: reduction::Config {
                len: 100_000,
                rounds: 3,
                round_ms: 0.5,
            },
            digits: digits::Config {
                images: 64,
                batch: 32,
                rounds: 2,
            },
        }
    }

    /// The sizes `opts` ask for.
    pub fn for_options(opts: &Options) -> Self {
        let mut sizes = if opts.quick {
            Self::quick()
        } else {
            Self::full()
        };
        if let Some(rounds) = opts.rounds {
            sizes.digits.rounds = rounds;
        }
        if let Some(images) = opts.images {
            sizes.digits.images = images;
        }
        if let Some(batch) = opts.batch {
            sizes.digits.batch = batch;
        }
        if let Some(len) = opts.len {
            sizes.reduction.len = len;
        }
        sizes
    }
}

/// Runs every measurement (progress on stderr) and gathers the report.
pub fn measure(sizes: &Sizes, quick: bool) -> Report {
    eprintln!("measuring f(x) ...");
    let fx = fx::measure(&sizes.fx);
    eprintln!("measuring basic_reduction ...");
    let (reduction, mut targets) = reduction::measure(&sizes.reduction);
    eprintln!("measuring DigitsModel inference ...");
    let (digits, digits_targets) = digits::measure(&sizes.digits);
    targets.extend(digits_targets);
    Report {
        build: if cfg!(debug_assertions) {
            "debug (numbers are not meaningful: use --release)"
        } else {
            "release"
        },
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        platform: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        quick,
        counting: alloc_stack::counting_active(),
        fx,
        reduction,
        digits,
        targets,
    }
}

/// Writes `text` to `path`, with the path in the error.
fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Writes the files `opts` ask for.
pub fn write_outputs(report: &Report, opts: &Options) -> Result<(), String> {
    if let Some(path) = &opts.json {
        write(path, &report.json())?;
    }
    if let Some(path) = &opts.svg {
        write_combined_svg(report, path)?;
    }
    if let Some(dir) = &opts.svg_dir {
        write_svg_dir(report, dir)?;
    }
    Ok(())
}

/// The DigitsModel's two charts (time, allocator calls) in one SVG file.
fn write_combined_svg(report: &Report, path: &Path) -> Result<(), String> {
    let charts = [
        svg::time_chart(&report.digits),
        svg::allocs_chart(&report.digits),
    ];
    write(path, &svg::document(&charts))
}

/// One SVG file per chart in `dir`: `{digits,reduction}_{time,allocs}.svg`.
fn write_svg_dir(report: &Report, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for (name, w) in [("digits", &report.digits), ("reduction", &report.reduction)] {
        write(
            &dir.join(format!("{name}_time.svg")),
            &svg::document(&[svg::time_chart(w)]),
        )?;
        write(
            &dir.join(format!("{name}_allocs.svg")),
            &svg::document(&[svg::allocs_chart(w)]),
        )?;
    }
    Ok(())
}

/// The whole program: parse, measure, print, write. Returns the exit code.
pub fn run(args: impl IntoIterator<Item = String>) -> i32 {
    let opts = match Options::parse(args) {
        Ok(opts) => opts,
        Err(message) => {
            eprintln!("{message}");
            return 2;
        }
    };
    let report = measure(&Sizes::for_options(&opts), opts.quick);
    print!("{}", report.markdown());
    match write_outputs(&report, &opts) {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("{message}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn options_parse() {
        assert_eq!(parse(&[]).unwrap(), Options::default());
        let o = parse(&[
            "--quick",
            "--json",
            "a.json",
            "--svg-dir",
            "d",
            "--rounds",
            "3",
            "--images",
            "9",
        ])
        .unwrap();
        assert_eq!(Sizes::for_options(&o).digits.images, 9);
        assert!(o.quick);
        assert_eq!(o.json, Some("a.json".into()));
        assert_eq!(o.svg_dir, Some("d".into()));
        assert_eq!(o.rounds, Some(3));
        assert!(parse(&["--json"]).unwrap_err().contains("needs a value"));
        assert!(parse(&["--rounds", "0"]).is_err());
        assert!(parse(&["--bogus"])
            .unwrap_err()
            .contains("unknown argument"));
        assert!(parse(&["--help"]).unwrap_err().starts_with("usage:"));
        assert!(parse(&["--len", "x"])
            .unwrap_err()
            .contains("not a positive number: x"));
        assert!(parse(&["-q"]).unwrap_err().contains("unknown argument: -q"));
        assert!(parse(&["stray"])
            .unwrap_err()
            .contains("unknown argument: stray"));
        let joined = parse(&["--batch=4", "--svg=a.svg"]).unwrap();
        assert_eq!((joined.batch, joined.svg), (Some(4), Some("a.svg".into())));
    }
}
