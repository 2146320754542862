//! Signal names and numbers for `kill`: a number, or a name with or without the `SIG` prefix in
//! any case, as runc accepts; real-time signals as `RTMIN+n` / `RTMAX-n`.

use crate::validate::{invalid, ValidationError};

/// First real-time signal as glibc numbers them (the kernel's 32 and 33 are taken by glibc's
/// threading), the number `SIGRTMIN` means to programs in most containers.
pub const SIGRTMIN: i32 = 34;
/// Last real-time signal on Linux.
pub const SIGRTMAX: i32 = 64;

/// Names without the `SIG` prefix, aliases included (IOT, POLL, CLD).
const SIGNALS: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// Parses a signal given to `kill`: "9", "KILL", "SIGKILL", "sigkill", "RTMIN+3", "SIGRTMAX-1".
/// Numbers 0 (existence check) to 64 are accepted. The error text is runc's:
/// `unknown signal "FOO"`.
pub fn validate_signal(sig: &str) -> Result<i32, ValidationError> {
    let unknown = || invalid("", format!("unknown signal {sig:?}"));
    if let Ok(number) = sig.parse::<i32>() {
        return if (0..=SIGRTMAX).contains(&number) {
            Ok(number)
        } else {
            Err(unknown())
        };
    }
    let upper = sig.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some((_, number)) = SIGNALS.iter().find(|(known, _)| *known == name) {
        return Ok(*number);
    }
    let offset = |text: &str| {
        text.parse::<i32>()
            .ok()
            .filter(|n| (0..=SIGRTMAX - SIGRTMIN).contains(n))
    };
    let rt = match name {
        "RTMIN" => Some(SIGRTMIN),
        "RTMAX" => Some(SIGRTMAX),
        _ => match (name.strip_prefix("RTMIN+"), name.strip_prefix("RTMAX-")) {
            (Some(n), _) => offset(n).map(|n| SIGRTMIN + n),
            (_, Some(n)) => offset(n).map(|n| SIGRTMAX - n),
            _ => None,
        },
    };
    rt.ok_or_else(unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(validate_signal("9"), Ok(9));
        assert_eq!(validate_signal("15"), Ok(15));
        assert_eq!(validate_signal("0"), Ok(0));
        assert_eq!(validate_signal("64"), Ok(64));
        assert!(validate_signal("65").is_err());
        assert!(validate_signal("-1").is_err());
    }

    #[test]
    fn names_with_or_without_prefix_any_case() {
        for name in ["KILL", "SIGKILL", "sigkill", "kill", "SigKill"] {
            assert_eq!(validate_signal(name), Ok(9), "{name}");
        }
        assert_eq!(validate_signal("TERM"), Ok(15));
        assert_eq!(validate_signal("SIGHUP"), Ok(1));
        assert_eq!(validate_signal("usr1"), Ok(10));
        assert_eq!(validate_signal("WINCH"), Ok(28));
        assert_eq!(validate_signal("SIGSTOP"), Ok(19));
        assert_eq!(validate_signal("CONT"), Ok(18));
        assert_eq!(validate_signal("IOT"), validate_signal("ABRT"));
        assert_eq!(validate_signal("CLD"), validate_signal("CHLD"));
    }

    #[test]
    fn real_time_signals() {
        assert_eq!(validate_signal("RTMIN"), Ok(34));
        assert_eq!(validate_signal("SIGRTMIN+1"), Ok(35));
        assert_eq!(validate_signal("rtmin+30"), Ok(64));
        assert_eq!(validate_signal("SIGRTMAX"), Ok(64));
        assert_eq!(validate_signal("RTMAX-2"), Ok(62));
        assert!(validate_signal("RTMIN+31").is_err());
        assert!(validate_signal("RTMAX-31").is_err());
        assert!(validate_signal("RTMIN+").is_err());
        assert!(validate_signal("RTMIN-1").is_err());
    }

    #[test]
    fn unknown_names_use_runc_words() {
        let err = validate_signal("FOO").unwrap_err();
        assert_eq!(err.to_string(), "unknown signal \"FOO\"");
        assert_eq!(err.field, "");
        assert!(validate_signal("").is_err());
        assert!(validate_signal("SIG").is_err());
        assert!(validate_signal("SIGSIGKILL").is_err());
    }
}
