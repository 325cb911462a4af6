//! The demo binary, run small: it prints every table, and `--json`, `--svg` and `--svg-dir`
//! write well-formed files with every variant in them.

use std::path::PathBuf;
use std::process::Command;

/// A fresh, empty folder under the target directory's temp folder.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch folder");
    dir
}

/// A strict JSON syntax check (RFC 8259): `Err` names the byte where it fails.
fn check_json(text: &str) -> Result<(), usize> {
    struct P<'a> {
        s: &'a [u8],
        i: usize,
    }
    impl P<'_> {
        fn ws(&mut self) {
            while self.i < self.s.len() && b" \t\r\n".contains(&self.s[self.i]) {
                self.i += 1;
            }
        }
        fn eat(&mut self, c: u8) -> Result<(), usize> {
            self.ws();
            if self.s.get(self.i) == Some(&c) {
                self.i += 1;
                Ok(())
            } else {
                Err(self.i)
            }
        }
        fn lit(&mut self, word: &str) -> Result<(), usize> {
            if self.s[self.i..].starts_with(word.as_bytes()) {
                self.i += word.len();
                Ok(())
            } else {
                Err(self.i)
            }
        }
        fn string(&mut self) -> Result<(), usize> {
            self.eat(b'"')?;
            while let Some(&c) = self.s.get(self.i) {
                self.i += 1;
                match c {
                    b'"' => return Ok(()),
                    b'\\' => {
                        let e = *self.s.get(self.i).ok_or(self.i)?;
                        self.i += if e == b'u' { 5 } else { 1 };
                        if !b"\"\\/bfnrtu".contains(&e) {
                            return Err(self.i);
                        }
                    }
                    c if c < 0x20 => return Err(self.i),
                    _ => {}
                }
            }
            Err(self.i)
        }
        fn number(&mut self) -> Result<(), usize> {
            let start = self.i;
            while self.i < self.s.len() && b"+-0123456789.eE".contains(&self.s[self.i]) {
                self.i += 1;
            }
            let text = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| start)?;
            text.parse::<f64>().map(|_| ()).map_err(|_| start)
        }
        fn value(&mut self) -> Result<(), usize> {
            self.ws();
            match self.s.get(self.i).ok_or(self.i)? {
                b'{' => {
                    self.i += 1;
                    self.ws();
                    if self.s.get(self.i) == Some(&b'}') {
                        self.i += 1;
                        return Ok(());
                    }
                    loop {
                        self.ws();
                        self.string()?;
                        self.eat(b':')?;
                        self.value()?;
                        self.ws();
                        match self.s.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                return Ok(());
                            }
                            _ => return Err(self.i),
                        }
                    }
                }
                b'[' => {
                    self.i += 1;
                    self.ws();
                    if self.s.get(self.i) == Some(&b']') {
                        self.i += 1;
                        return Ok(());
                    }
                    loop {
                        self.value()?;
                        self.ws();
                        match self.s.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                return Ok(());
                            }
                            _ => return Err(self.i),
                        }
                    }
                }
                b'"' => self.string(),
                b't' => self.lit("true"),
                b'f' => self.lit("false"),
                b'n' => self.lit("null"),
                _ => self.number(),
            }
        }
    }
    let mut p = P {
        s: text.as_bytes(),
        i: 0,
    };
    p.value()?;
    p.ws();
    if p.i == p.s.len() {
        Ok(())
    } else {
        Err(p.i)
    }
}

#[test]
fn the_checker_rejects_broken_json() {
    assert!(check_json(r#"{"a": [1, 2.5e3, -0.1, true, null, "x\"y"], "b": {}}"#).is_ok());
    assert!(check_json(r#"{"a": 1,}"#).is_err());
    assert!(check_json(r#"{"a": NaN}"#).is_err());
    assert!(check_json("[1] 2").is_err());
}

const VARIANTS: [&str; 9] = [
    "ndarray",
    "AllocArray",
    "CheckedAllocArray",
    "AllocArray, 64 MiB arena",
    "AllocArray, `infer_batch`",
    "AllocArray, default arena",
    "AllocArray + weights",
    "heap Vec",
    "default buffer",
];

#[test]
fn a_quick_run_prints_the_tables_and_writes_json_and_svg() {
    let dir = scratch_dir("cli_outputs");
    let (json, svg, svg_dir) = (
        dir.join("demo.json"),
        dir.join("demo.svg"),
        dir.join("charts"),
    );
    let output = Command::new(env!("CARGO_BIN_EXE_allocarrays-demo"))
        .args(["--quick", "--len", "10000", "--images", "4", "--batch", "2"])
        .args(["--rounds", "1"])
        .arg("--json")
        .arg(&json)
        .arg("--svg")
        .arg(&svg)
        .arg("--svg-dir")
        .arg(&svg_dir)
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    for heading in [
        "## f(x)",
        "## basic_reduction",
        "## DigitsModel",
        "## Targets",
    ] {
        assert!(stdout.contains(heading), "no {heading} in\n{stdout}");
    }
    for variant in VARIANTS {
        assert!(
            stdout.contains(&format!("| {variant} ")),
            "no row {variant}"
        );
    }

    let text = std::fs::read_to_string(&json).expect("the JSON file");
    if let Err(at) = check_json(&text) {
        panic!(
            "invalid JSON at byte {at}: ...{}",
            &text[at.saturating_sub(80)..(at + 20).min(text.len())]
        );
    }
    for key in [
        "\"machine\"",
        "\"fx\"",
        "\"basic_reduction\"",
        "\"digits\"",
        "\"targets\"",
    ] {
        assert!(text.contains(key), "no {key} in the JSON");
    }
    for variant in VARIANTS {
        let quoted = format!("\"variant\": \"{variant}\"");
        assert!(text.contains(&quoted), "no {quoted} in the JSON");
    }
    for allocator in ["\"allocator\": \"System\"", "\"allocator\": \"mimalloc\""] {
        assert!(text.contains(allocator), "no {allocator} in the JSON");
    }

    let mut svgs = vec![svg];
    for name in [
        "digits_time",
        "digits_allocs",
        "reduction_time",
        "reduction_allocs",
    ] {
        svgs.push(svg_dir.join(format!("{name}.svg")));
    }
    for path in &svgs {
        let text = std::fs::read_to_string(path).expect("an SVG file");
        assert!(text.starts_with("<svg "), "{}", path.display());
        assert!(text.trim_end().ends_with("</svg>"), "{}", path.display());
        assert_eq!(text.matches("<svg").count(), 1);
        assert_eq!(
            text.matches("<text").count(),
            text.matches("</text>").count()
        );
        assert!(text.contains("System") && text.contains("mimalloc"));
    }
    let combined = std::fs::read_to_string(&svgs[0]).expect("the combined SVG");
    assert!(combined.contains("median time per batch") && combined.contains("allocator calls"));
}

#[test]
fn bad_arguments_exit_with_usage() {
    let output = Command::new(env!("CARGO_BIN_EXE_allocarrays-demo"))
        .arg("--frobnicate")
        .output()
        .expect("run the demo");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage:"));
}
