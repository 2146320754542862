//! The metadata a layer entry carries: owner, mode, times and extended attributes, from the
//! ustar header and its PAX records (which win when present).

use std::io;

/// PAX records holding extended attributes: `SCHILY.xattr.NAME`, as GNU tar and Go write them.
const PAX_XATTR: &str = "SCHILY.xattr.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time {
    pub sec: i64,
    pub nsec: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: Time,
    pub atime: Time,
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// How an extended attribute is treated when the filesystem refuses it.
#[derive(Debug, PartialEq, Eq)]
pub enum XattrPolicy {
    /// Never set: overlayfs reads `trusted.overlay.*`/`user.overlay.*` on lower layers as
    /// instructions (opaque dirs, redirects), and the rootfs may become a clone's lower layer.
    Skip,
    /// Set if possible, else warn: host-policy labels (SELinux, IMA/EVM, AppArmor) that the
    /// host's own policy may reject without harm to the image.
    BestEffort,
    /// Set or fail: file capabilities and user data change what the image does.
    Required,
}

/// Extended attributes that label files for the host's security policy.
const HOST_LABELS: [&str; 4] = [
    "security.selinux",
    "security.ima",
    "security.evm",
    "security.apparmor",
];

pub fn xattr_policy(name: &str) -> XattrPolicy {
    if name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.") {
        XattrPolicy::Skip
    } else if HOST_LABELS.contains(&name) {
        XattrPolicy::BestEffort
    } else {
        XattrPolicy::Required
    }
}

/// Parses a PAX time: seconds with an optional fraction, possibly negative.
pub fn parse_pax_time(text: &str) -> Option<Time> {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (sec, frac) = text.split_once('.').unwrap_or((text, ""));
    if sec.is_empty() || !sec.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sec: i64 = sec.parse().ok()?;
    let mut nsec: i64 = 0;
    for (i, digit) in frac.bytes().take(9).enumerate() {
        nsec += i64::from(digit - b'0') * 10i64.pow(8 - i as u32);
    }
    Some(if !negative {
        Time { sec, nsec }
    } else if nsec == 0 {
        Time { sec: -sec, nsec: 0 }
    } else {
        Time {
            sec: -sec - 1,
            nsec: 1_000_000_000 - nsec,
        }
    })
}

/// A numeric header field; one left blank (NULs or spaces, as some writers leave fields they do
/// not use) reads as 0, as Go's archive/tar has it.
fn numeric(parsed: io::Result<u64>, raw: &[u8]) -> io::Result<u64> {
    match parsed {
        Ok(value) => Ok(value),
        Err(_) if raw.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
        Err(err) => Err(err),
    }
}

fn id(value: u64) -> io::Result<u32> {
    u32::try_from(value).map_err(|_| io::Error::other(format!("id {value} is out of range")))
}

fn pax_id(text: &str) -> Option<u32> {
    text.parse().ok()
}

impl Meta {
    /// Reads the entry's metadata. `pax` is the entry's PAX records (key, value).
    pub fn from_header(header: &tar::Header, pax: &[(String, Vec<u8>)]) -> io::Result<Meta> {
        let mtime = Time {
            sec: i64::try_from(numeric(header.mtime(), &header.as_old().mtime)?)
                .unwrap_or(i64::MAX),
            nsec: 0,
        };
        let old = header.as_old();
        let mut meta = Meta {
            mode: numeric(header.mode().map(u64::from), &old.mode)? as u32 & 0o7777,
            uid: id(numeric(header.uid(), &old.uid)?)?,
            gid: id(numeric(header.gid(), &old.gid)?)?,
            mtime,
            atime: mtime,
            xattrs: Vec::new(),
        };
        let mut atime = None;
        for (key, value) in pax {
            let text = std::str::from_utf8(value).ok();
            match key.as_str() {
                "mtime" => meta.mtime = text.and_then(parse_pax_time).unwrap_or(meta.mtime),
                "atime" => atime = text.and_then(parse_pax_time),
                "uid" => meta.uid = text.and_then(pax_id).unwrap_or(meta.uid),
                "gid" => meta.gid = text.and_then(pax_id).unwrap_or(meta.gid),
                _ => {
                    if let Some(name) = key.strip_prefix(PAX_XATTR) {
                        meta.xattrs.push((name.to_string(), value.clone()));
                    }
                }
            }
        }
        meta.atime = atime.unwrap_or(meta.mtime);
        Ok(meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        assert_eq!(parse_pax_time("12"), Some(Time { sec: 12, nsec: 0 }));
        assert_eq!(
            parse_pax_time("1700000000.123456789123"),
            Some(Time {
                sec: 1_700_000_000,
                nsec: 123_456_789
            })
        );
        assert_eq!(
            parse_pax_time("1.5"),
            Some(Time {
                sec: 1,
                nsec: 500_000_000
            })
        );
        assert_eq!(
            parse_pax_time("-1.25"),
            Some(Time {
                sec: -2,
                nsec: 750_000_000
            })
        );
        assert_eq!(parse_pax_time("x"), None);
        assert_eq!(parse_pax_time("1.x"), None);
        assert_eq!(parse_pax_time(""), None);
    }

    #[test]
    fn header_then_pax_overrides() {
        let mut header = tar::Header::new_ustar();
        header.set_mode(0o104755);
        header.set_uid(7);
        header.set_gid(8);
        header.set_mtime(1000);
        let meta = Meta::from_header(&header, &[]).unwrap();
        assert_eq!((meta.mode, meta.uid, meta.gid), (0o4755, 7, 8));
        assert_eq!(meta.atime, Time { sec: 1000, nsec: 0 });

        let pax = vec![
            ("uid".to_string(), b"3000000".to_vec()),
            ("mtime".to_string(), b"2000.5".to_vec()),
            (
                "SCHILY.xattr.security.capability".to_string(),
                vec![1, 2, 3],
            ),
            ("path".to_string(), b"ignored/here".to_vec()),
        ];
        let meta = Meta::from_header(&header, &pax).unwrap();
        assert_eq!(meta.uid, 3_000_000);
        assert_eq!(meta.gid, 8);
        assert_eq!(
            meta.mtime,
            Time {
                sec: 2000,
                nsec: 500_000_000
            }
        );
        assert_eq!(meta.atime, meta.mtime);
        assert_eq!(
            meta.xattrs,
            vec![("security.capability".to_string(), vec![1, 2, 3])]
        );
    }

    #[test]
    fn blank_numeric_fields_read_as_zero() {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_mtime(5);
        header.as_old_mut().uid = [0; 8];
        header.as_old_mut().gid = [b' '; 8];
        let meta = Meta::from_header(&header, &[]).unwrap();
        assert_eq!((meta.uid, meta.gid, meta.mode), (0, 0, 0o644));
        header.as_old_mut().uid = *b"12x4567\0";
        assert!(Meta::from_header(&header, &[]).is_err());
    }

    #[test]
    fn xattr_policies() {
        assert_eq!(xattr_policy("trusted.overlay.opaque"), XattrPolicy::Skip);
        assert_eq!(xattr_policy("user.overlay.redirect"), XattrPolicy::Skip);
        assert_eq!(xattr_policy("security.selinux"), XattrPolicy::BestEffort);
        assert_eq!(xattr_policy("security.capability"), XattrPolicy::Required);
        assert_eq!(xattr_policy("user.mime_type"), XattrPolicy::Required);
    }
}
