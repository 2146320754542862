//! Log records in runc's two formats.
//!
//! containerd's shim passes `--log <bundle>/log.json --log-format json` and shows its users the
//! `msg` of the last `{"level":"error",...}` line, so the JSON form is part of the contract:
//! one object per line with `level`, `msg` and `time` (RFC 3339, UTC).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::cli::LogFormat;

static LOG_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// The fd of the --log file, which the container process keeps until execve to log its steps.
pub fn log_fd() -> Option<std::os::fd::RawFd> {
    let fd = LOG_FD.load(std::sync::atomic::Ordering::Relaxed);
    (fd >= 0).then_some(fd)
}

struct Logger {
    format: LogFormat,
    level: LevelFilter,
    sink: Mutex<Sink>,
}

enum Sink {
    Stderr,
    File(File),
}

/// Installs the process-wide logger. Without `--log`, records go to stderr.
pub fn init(log: Option<&Path>, format: LogFormat, debug: bool) -> std::io::Result<()> {
    let sink = match log {
        Some(path) => {
            let f = OpenOptions::new().create(true).append(true).open(path)?;
            LOG_FD.store(
                std::os::fd::AsRawFd::as_raw_fd(&f),
                std::sync::atomic::Ordering::Relaxed,
            );
            Sink::File(f)
        }
        None => Sink::Stderr,
    };
    let level = if debug {
        LevelFilter::Debug
    } else {
        LevelFilter::Warn
    };
    let logger = Box::new(Logger {
        format,
        level,
        sink: Mutex::new(sink),
    });
    // A second init (only possible in tests) keeps the first logger.
    if log::set_boxed_logger(logger).is_ok() {
        log::set_max_level(level);
    }
    Ok(())
}

/// Whether error records already reach stderr, so `main` need not print them twice.
pub fn logs_to_stderr(log: Option<&Path>) -> bool {
    log.is_none()
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format_record(
            self.format,
            record.level(),
            &record.args().to_string(),
            SystemTime::now(),
        );
        let mut sink = self
            .sink
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A log that cannot be written has nowhere to report to.
        let _ = match &mut *sink {
            Sink::Stderr => std::io::stderr().write_all(line.as_bytes()),
            Sink::File(f) => f.write_all(line.as_bytes()),
        };
    }

    fn flush(&self) {}
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warn => "warning",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    }
}

/// One log line, newline included.
pub fn format_record(format: LogFormat, level: Level, msg: &str, at: SystemTime) -> String {
    let time = rfc3339(at);
    match format {
        LogFormat::Json => {
            let obj = serde_json::json!({ "level": level_name(level), "msg": msg, "time": time });
            format!("{obj}\n")
        }
        LogFormat::Text => {
            format!(
                "time=\"{time}\" level={} msg={:?}\n",
                level_name(level),
                msg
            )
        }
    }
}

/// RFC 3339 in UTC with nanoseconds, as Go's `time.RFC3339Nano` prints it.
pub fn rfc3339(at: SystemTime) -> String {
    let d = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_795_549_425, 5);
        assert_eq!(rfc3339(t), "2026-11-24T19:43:45.000000005Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn json_line_has_level_msg_time() {
        let line = format_record(
            LogFormat::Json,
            Level::Error,
            "container \"x\" does not exist",
            UNIX_EPOCH,
        );
        assert!(line.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "container \"x\" does not exist");
        assert_eq!(v["time"], "1970-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn text_line_quotes_the_message() {
        let line = format_record(LogFormat::Text, Level::Warn, "a \"b\"", UNIX_EPOCH);
        assert_eq!(
            line,
            "time=\"1970-01-01T00:00:00.000000000Z\" level=warning msg=\"a \\\"b\\\"\"\n"
        );
    }
}
