//! Netlink messages: building them (header, family header, attributes, nests) and reading
//! the kernel's answers (acks, errors with their extended-ack text, dumps).
//!
//! Synchronous and allocation-light on purpose: `create` makes a handful of requests and
//! waits for each answer, so there is no need for an async runtime.

use nix::errno::Errno;

use crate::sys::netlink::{Family, NetlinkSocket};

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLM_F_DUMP: u16 = 0x300;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;
const NLMSGERR_ATTR_MSG: u16 = 1;
const HEADER: usize = 16;

/// What the kernel refused, with its own explanation when it gave one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    pub errno: Errno,
    pub message: Option<String>,
}

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.message {
            Some(m) => write!(f, "{} ({m})", self.errno.desc()),
            None => write!(f, "{}", self.errno.desc()),
        }
    }
}

impl std::error::Error for KernelError {}

impl From<Errno> for KernelError {
    fn from(errno: Errno) -> Self {
        KernelError {
            errno,
            message: None,
        }
    }
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// One netlink message being built.
#[derive(Debug, Clone)]
pub struct Message {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Message {
    /// A request of `kind` with `flags` (NLM_F_REQUEST is always added).
    pub fn new(kind: u16, flags: u16) -> Message {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        buf.extend_from_slice(&[0; 8]);
        Message {
            buf,
            nests: Vec::new(),
        }
    }

    fn flags(&self) -> u16 {
        u16::from_ne_bytes([self.buf[6], self.buf[7]])
    }

    /// Raw bytes (the family header: ifinfomsg, ifaddrmsg, rtmsg, nfgenmsg), padded.
    pub fn raw(&mut self, data: &[u8]) -> &mut Message {
        self.buf.extend_from_slice(data);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    pub fn attr(&mut self, kind: u16, data: &[u8]) -> &mut Message {
        let len = u16::try_from(4 + data.len()).expect("netlink attribute under 64 KiB");
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.raw(data)
    }

    /// A u32 in host byte order (rtnetlink).
    pub fn u32(&mut self, kind: u16, v: u32) -> &mut Message {
        self.attr(kind, &v.to_ne_bytes())
    }

    /// A u32 in network byte order (nf_tables).
    pub fn be32(&mut self, kind: u16, v: u32) -> &mut Message {
        self.attr(kind, &v.to_be_bytes())
    }

    /// A NUL-terminated string.
    pub fn str(&mut self, kind: u16, s: &str) -> &mut Message {
        let mut data = Vec::with_capacity(s.len() + 1);
        data.extend_from_slice(s.as_bytes());
        data.push(0);
        self.attr(kind, &data)
    }

    /// Opens a nested attribute; close it with [`Message::end`].
    pub fn nest(&mut self, kind: u16) -> &mut Message {
        self.nests.push(self.buf.len());
        self.attr(kind | NLA_F_NESTED, &[])
    }

    pub fn end(&mut self) -> &mut Message {
        let start = self.nests.pop().expect("end() matches a nest()");
        let len = u16::try_from(self.buf.len() - start).expect("nest under 64 KiB");
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    /// The finished bytes with sequence number `seq`.
    fn finish(&self, seq: u32) -> Vec<u8> {
        debug_assert!(self.nests.is_empty(), "unclosed nest");
        let mut buf = self.buf.clone();
        let len = u32::try_from(buf.len()).expect("message under 4 GiB");
        buf[0..4].copy_from_slice(&len.to_ne_bytes());
        buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        buf
    }
}

/// The attributes in `buf` as (type, payload) pairs, nested flag masked off.
pub fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([buf[0], buf[1]]));
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > buf.len() {
            return None;
        }
        let data = &buf[4..len];
        buf = &buf[align(len).min(buf.len())..];
        Some((kind, data))
    })
}

/// One message of a datagram: type, flags, sequence number, payload.
struct Received<'a> {
    kind: u16,
    flags: u16,
    seq: u32,
    payload: &'a [u8],
}

fn messages(mut buf: &[u8]) -> impl Iterator<Item = Received<'_>> {
    std::iter::from_fn(move || {
        if buf.len() < HEADER {
            return None;
        }
        let len = u32::from_ne_bytes(buf[0..4].try_into().ok()?) as usize;
        if len < HEADER || len > buf.len() {
            return None;
        }
        let msg = Received {
            kind: u16::from_ne_bytes([buf[4], buf[5]]),
            flags: u16::from_ne_bytes([buf[6], buf[7]]),
            seq: u32::from_ne_bytes(buf[8..12].try_into().ok()?),
            payload: &buf[HEADER..len],
        };
        buf = &buf[align(len).min(buf.len())..];
        Some(msg)
    })
}

/// An NLMSG_ERROR payload: Ok for an ack, the error (with the kernel's text) otherwise.
fn parse_error(flags: u16, payload: &[u8]) -> Result<(), KernelError> {
    let code = payload
        .get(0..4)
        .and_then(|b| b.try_into().ok())
        .map_or(-libc::EPROTO, i32::from_ne_bytes);
    if code == 0 {
        return Ok(());
    }
    let mut message = None;
    if flags & NLM_F_ACK_TLVS != 0 {
        // After the error code comes the request's header, and its payload unless capped.
        let inner_len = if flags & NLM_F_CAPPED != 0 {
            HEADER
        } else {
            payload
                .get(4..8)
                .and_then(|b| b.try_into().ok())
                .map_or(HEADER, |b| u32::from_ne_bytes(b) as usize)
        };
        if let Some(tlvs) = payload.get(4 + align(inner_len)..) {
            message = attrs(tlvs)
                .find(|(k, _)| *k == NLMSGERR_ATTR_MSG)
                .map(|(_, v)| String::from_utf8_lossy(v).trim_end_matches('\0').to_owned());
        }
    }
    Err(KernelError {
        errno: Errno::from_raw(-code),
        message,
    })
}

/// A netlink socket with its sequence numbers.
pub struct Conn {
    sock: NetlinkSocket,
    seq: u32,
    buf: Vec<u8>,
}

impl Conn {
    pub fn open(family: Family) -> Result<Conn, Errno> {
        Ok(Conn {
            sock: NetlinkSocket::open(family)?,
            seq: 0,
            buf: vec![0; 64 * 1024],
        })
    }

    /// Sends one request and waits for its ack.
    pub fn request(&mut self, msg: &Message) -> Result<(), KernelError> {
        self.send_acked(msg, None)
    }

    /// Sends `msgs` in one datagram (an nf_tables batch is that), then `barrier` on its own
    /// with an ack: the kernel answers in order, so once the barrier is acked every error the
    /// batch produced has arrived (whether the kernel acks the other messages of a failed
    /// batch differs between versions; this does not depend on it). Returns the first error.
    pub fn batch(&mut self, msgs: &[Message], barrier: &Message) -> Result<(), KernelError> {
        let mut out = Vec::new();
        for m in msgs {
            self.seq = self.seq.wrapping_add(1);
            out.extend_from_slice(&m.finish(self.seq));
        }
        self.sock.send(&out)?;
        let mut first_err = None;
        let result = self.send_acked(barrier, Some(&mut first_err));
        match first_err {
            Some(e) => Err(e),
            None => result,
        }
    }

    /// Sends `msg` asking for an ack and waits for it; errors of earlier messages go to
    /// `others` when given.
    fn send_acked(
        &mut self,
        msg: &Message,
        others: Option<&mut Option<KernelError>>,
    ) -> Result<(), KernelError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut msg = msg.clone();
        let flags = msg.flags() | NLM_F_ACK;
        msg.buf[6..8].copy_from_slice(&flags.to_ne_bytes());
        self.sock.send(&msg.finish(seq))?;
        self.wait_for(seq, others)
    }

    /// Reads until the ack or error of `seq`; errors of earlier messages go to `others`.
    fn wait_for(
        &mut self,
        seq: u32,
        mut others: Option<&mut Option<KernelError>>,
    ) -> Result<(), KernelError> {
        loop {
            let n = self.sock.recv(&mut self.buf)?;
            for msg in messages(&self.buf[..n]) {
                if msg.kind != NLMSG_ERROR {
                    continue;
                }
                let result = parse_error(msg.flags, msg.payload);
                if msg.seq == seq {
                    return result;
                }
                if let (Err(e), Some(slot)) = (result, others.as_deref_mut()) {
                    slot.get_or_insert(e);
                }
            }
        }
    }

    /// Sends a dump request and returns the payload of every answer.
    pub fn dump(&mut self, msg: &Message) -> Result<Vec<Vec<u8>>, KernelError> {
        self.query(msg, NLM_F_DUMP)
    }

    /// Sends a get request (answered by one message, then the ack) and returns the answer.
    pub fn get(&mut self, msg: &Message) -> Result<Vec<u8>, KernelError> {
        let mut all = self.query(msg, NLM_F_ACK)?;
        all.pop().ok_or(KernelError {
            errno: Errno::ENODATA,
            message: None,
        })
    }

    /// The payloads of every answer to `msg` until NLMSG_DONE or its ack.
    fn query(&mut self, msg: &Message, flags: u16) -> Result<Vec<Vec<u8>>, KernelError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut m = msg.clone();
        let flags = m.flags() | flags;
        m.buf[6..8].copy_from_slice(&flags.to_ne_bytes());
        self.sock.send(&m.finish(seq))?;
        let mut out = Vec::new();
        loop {
            let n = self.sock.recv(&mut self.buf)?;
            for msg in messages(&self.buf[..n]) {
                if msg.seq != seq {
                    continue;
                }
                match msg.kind {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        parse_error(msg.flags, msg.payload)?;
                        return Ok(out);
                    }
                    _ => out.push(msg.payload.to_vec()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_nest_and_pad() {
        let mut m = Message::new(16, NLM_F_CREATE);
        m.raw(&[1, 2, 3]).nest(18).str(1, "veth").end().u32(4, 7);
        let buf = m.finish(9);
        assert_eq!(buf.len() % 4, 0);
        let msg = messages(&buf).next().unwrap();
        assert_eq!((msg.kind, msg.seq), (16, 9));
        assert_eq!(msg.flags, NLM_F_CREATE | NLM_F_REQUEST);
        let all: Vec<_> = attrs(&msg.payload[4..]).collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].0, 18);
        let inner: Vec<_> = attrs(all[0].1).collect();
        assert_eq!(inner, vec![(1, &b"veth\0"[..])]);
        assert_eq!(all[1], (4, &7u32.to_ne_bytes()[..]));
    }

    #[test]
    fn errors_carry_the_kernel_text() {
        let mut payload = (-libc::EEXIST).to_ne_bytes().to_vec();
        let mut inner = vec![0u8; HEADER];
        inner[0..4].copy_from_slice(&16u32.to_ne_bytes());
        payload.extend_from_slice(&inner);
        let mut tlv = Message::new(0, 0);
        tlv.str(NLMSGERR_ATTR_MSG, "already there");
        payload.extend_from_slice(&tlv.finish(0)[HEADER..]);
        let e = parse_error(NLM_F_ACK_TLVS | NLM_F_CAPPED, &payload).unwrap_err();
        assert_eq!(e.errno, Errno::EEXIST);
        assert_eq!(e.message.as_deref(), Some("already there"));
        assert_eq!(parse_error(0, &0i32.to_ne_bytes()), Ok(()));
    }
}
