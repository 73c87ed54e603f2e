//! What `cp` tells its user: a progress bar with rate and ETA when stderr is a terminal,
//! one plain line per file otherwise, nothing with `--quiet`, and with `--json` one
//! summary object on stdout for scripts.

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// The bar on a terminal: the file, then bytes done of all, the rate and the ETA.
const BAR_TEMPLATE: &str = "{msg}\n{wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Bar,
    Lines,
    Quiet,
    Json,
}

impl Mode {
    /// `--json` wins over `--quiet`; otherwise a bar when stderr is a terminal, and plain
    /// lines (no cursor movement, nothing redrawn) when it is a pipe or a file.
    fn choose(quiet: bool, json: bool, stderr_is_terminal: bool) -> Self {
        if json {
            Mode::Json
        } else if quiet {
            Mode::Quiet
        } else if stderr_is_terminal {
            Mode::Bar
        } else {
            Mode::Lines
        }
    }
}

/// Totals over every file of one `cp`.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    pub files: u64,
    /// Body bytes sent (uploads) or received (downloads).
    pub bytes_sent: u64,
    /// Bytes not transferred because the other side already had them (resumed parts,
    /// a partial download kept).
    pub bytes_skipped: u64,
    /// Parts of an interrupted upload found on the server and not sent again.
    pub parts_resumed: u64,
    pub seconds: f64,
}

/// What one file's transfer did.
#[derive(Debug, Default, Clone, Copy)]
pub struct FileReport {
    pub bytes_sent: u64,
    pub bytes_skipped: u64,
    pub parts_resumed: u64,
}

pub struct Output {
    mode: Mode,
    started: Instant,
    summary: Mutex<Summary>,
}

/// One file's progress; cheap to clone into the tasks sending its parts.
#[derive(Clone)]
pub struct FileProgress {
    bar: Option<ProgressBar>,
}

impl FileProgress {
    /// `n` more bytes done (sent, received, or found already there).
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }
}

impl Output {
    pub fn new(quiet: bool, json: bool) -> Self {
        Self {
            mode: Mode::choose(quiet, json, std::io::stderr().is_terminal()),
            started: Instant::now(),
            summary: Mutex::new(Summary::default()),
        }
    }

    /// Starts a file of `size` bytes, described as `what` (`a -> s3://b/k`).
    pub fn start(&self, what: &str, size: u64) -> FileProgress {
        if self.mode != Mode::Bar {
            return FileProgress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(BAR_TEMPLATE).unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(what.to_owned());
        FileProgress { bar: Some(bar) }
    }

    /// A file is done.
    pub fn finish(&self, what: &str, progress: &FileProgress, r: FileReport) {
        if let Some(b) = &progress.bar {
            b.finish_and_clear();
        }
        if let Ok(mut s) = self.summary.lock() {
            s.files += 1;
            s.bytes_sent += r.bytes_sent;
            s.bytes_skipped += r.bytes_skipped;
            s.parts_resumed += r.parts_resumed;
        }
        if matches!(self.mode, Mode::Bar | Mode::Lines) {
            let resumed = if r.bytes_skipped > 0 {
                format!(", {} bytes already there", r.bytes_skipped)
            } else {
                String::new()
            };
            eprintln!("{what} ({} bytes transferred{resumed})", r.bytes_sent);
        }
    }

    /// The end of the run: the JSON summary in `--json` mode.
    pub fn done(&self) -> anyhow::Result<()> {
        let mut s = self.summary.lock().map(|s| s.clone()).unwrap_or_default();
        s.seconds = self.started.elapsed().as_secs_f64();
        if self.mode == Mode::Json {
            println!("{}", serde_json::to_string(&s)?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_gets_a_bar_anything_else_plain_lines_and_the_flags_win() {
        assert_eq!(Mode::choose(false, false, true), Mode::Bar);
        assert_eq!(Mode::choose(false, false, false), Mode::Lines);
        assert_eq!(Mode::choose(true, false, true), Mode::Quiet);
        assert_eq!(Mode::choose(true, true, true), Mode::Json);
        assert_eq!(Mode::choose(false, true, false), Mode::Json);
    }

    #[test]
    fn the_bar_shows_rate_and_eta() {
        assert!(ProgressStyle::with_template(BAR_TEMPLATE).is_ok());
        assert!(BAR_TEMPLATE.contains("{binary_bytes_per_sec}") && BAR_TEMPLATE.contains("{eta}"));
    }
}
