//! Progress bars for large transfers and the human-readable sizes and rates of the summary
//! lines.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Transfers at least this large get a progress bar (on a terminal, unless `--quiet`).
pub(crate) const PROGRESS_THRESHOLD: u64 = 16 << 20;

/// A progress bar on stderr that draws only on a terminal; a no-op when hidden.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for `total` bytes (`None`: unknown, e.g. stdin) labelled `label`; hidden when
    /// `quiet` or the transfer is small.
    pub(crate) fn new(label: &str, total: Option<u64>, quiet: bool) -> Self {
        let big = total.is_none_or(|t| t >= PROGRESS_THRESHOLD);
        if quiet || !big {
            return Self { bar: None };
        }
        let bar = match total {
            Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        };
        let template = if total.is_some() {
            "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}"
        } else {
            "{msg} {bytes} {binary_bytes_per_sec}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(label.to_owned());
        Self { bar: Some(bar) }
    }

    /// A progress object that never draws.
    pub(crate) fn hidden() -> Self {
        Self { bar: None }
    }

    /// Adds `n` transferred bytes.
    pub(crate) fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Removes the bar from the terminal.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `1.50 MiB`, `512 B`.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    // Lossy on purpose: only for display.
    #[allow(clippy::cast_precision_loss)]
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in UNITS.iter().skip(1) {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.2} {unit}")
}

/// Bytes per second as `812.3 MiB/s`; `-` for a zero duration.
pub(crate) fn human_rate(bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return "-".to_owned();
    }
    #[allow(clippy::cast_precision_loss)]
    let mib = bytes as f64 / (1024.0 * 1024.0) / secs;
    format!("{mib:.1} MiB/s")
}

/// A duration as `1.234 s` or `12.3 ms`.
pub(crate) fn human_duration(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.3} s", d.as_secs_f64())
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(1 << 30), "1.00 GiB");
        assert_eq!(human_rate(1 << 20, Duration::from_secs(2)), "0.5 MiB/s");
        assert_eq!(human_rate(1, Duration::ZERO), "-");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.500 s");
        assert_eq!(human_duration(Duration::from_micros(2500)), "2.5 ms");
    }

    #[test]
    fn hidden_bars_do_nothing() {
        let p = Progress::new("x", Some(10), false);
        assert!(p.bar.is_none());
        p.inc(5);
        let p = Progress::new("x", Some(1 << 30), true);
        assert!(p.bar.is_none());
        Progress::hidden().finish();
    }
}
