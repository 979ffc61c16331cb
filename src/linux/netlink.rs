//! A small rtnetlink client over a raw `NETLINK_ROUTE` socket, with only what
//! `linux.netDevices` needs: look links up, list a link's addresses, move a link
//! into another network namespace under a new name (one RTM_NEWLINK with
//! IFLA_NET_NS_FD and IFLA_IFNAME), set it up or down, add an address. Messages are
//! built and parsed here (rtnetlink(7), netlink(7)); the kernel's extended ack
//! text, when it sends one, ends up in the error.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("netlink socket: {0}")]
    Socket(std::io::Error),
    #[error("{errno}{}", .detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Kernel {
        errno: nix::Error,
        detail: Option<String>,
    },
    #[error("malformed netlink reply")]
    Malformed,
}

impl NetlinkError {
    /// The kernel's errno, if the kernel refused the request.
    pub fn errno(&self) -> Option<nix::Error> {
        match self {
            NetlinkError::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

// netlink(7) and rtnetlink(7) constants.
const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
const SOL_NETLINK: libc::c_int = 270;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_FLAGS: u16 = 8;
const IFF_UP: u32 = 0x1;
const IFA_F_PERMANENT: u32 = 0x80;
const RT_SCOPE_UNIVERSE: u8 = 0;
/// Address flags a user may set (the rest are the kernel's own state).
const IFA_SETTABLE: u32 = 0x02 | 0x10 | 0x100 | 0x200 | 0x400;

/// A network device as RTM_NEWLINK describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: i32,
    pub name: String,
    pub up: bool,
}

/// An address as RTM_NEWADDR describes it, kept whole so it can be added again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    family: u8,
    prefixlen: u8,
    scope: u8,
    flags: u32,
    /// IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST (the others are not carried over).
    attrs: Vec<(u16, Vec<u8>)>,
}

impl Address {
    /// What the spec keeps when a device moves: permanent, global scope.
    pub fn is_permanent_global(&self) -> bool {
        self.flags & IFA_F_PERMANENT != 0 && self.scope == RT_SCOPE_UNIVERSE
    }

    /// The address as text (`198.18.0.1/24`), for messages.
    pub fn describe(&self) -> String {
        let raw = self
            .attrs
            .iter()
            .find(|(t, _)| *t == 2)
            .or_else(|| self.attrs.iter().find(|(t, _)| *t == 1))
            .map(|(_, v)| v.as_slice())
            .unwrap_or_default();
        let ip = match raw.len() {
            4 => std::net::Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]).to_string(),
            16 => {
                let b: [u8; 16] = raw.try_into().expect("16 bytes");
                std::net::Ipv6Addr::from(b).to_string()
            }
            _ => "?".to_string(),
        };
        format!("{ip}/{}", self.prefixlen)
    }
}

/// A request under construction: header, fixed part, attributes.
struct Request {
    buf: Vec<u8>,
}

impl Request {
    fn new(kind: u16, flags: u16, fixed: &[u8]) -> Request {
        let mut buf = vec![0u8; NLMSG_HDRLEN];
        buf[4..6].copy_from_slice(&kind.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        buf.extend_from_slice(fixed);
        pad(&mut buf);
        Request { buf }
    }

    fn attr(mut self, kind: u16, data: &[u8]) -> Request {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        pad(&mut self.buf);
        self
    }

    fn name(self, kind: u16, name: &str) -> Request {
        let mut data = name.as_bytes().to_vec();
        data.push(0);
        self.attr(kind, &data)
    }

    fn finish(mut self, seq: u32) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf
    }
}

fn pad(buf: &mut Vec<u8>) {
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

/// `struct ifinfomsg`: family, type, index, flags, change.
fn ifinfomsg(index: i32, flags: u32, change: u32) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[4..8].copy_from_slice(&index.to_ne_bytes());
    m[8..12].copy_from_slice(&flags.to_ne_bytes());
    m[12..16].copy_from_slice(&change.to_ne_bytes());
    m
}

/// The (type, payload) attributes of a netlink attribute area.
fn attributes(mut area: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while area.len() >= 4 {
        let len = u16::from_ne_bytes([area[0], area[1]]) as usize;
        let kind = u16::from_ne_bytes([area[2], area[3]]) & 0x3fff;
        if len < 4 || len > area.len() {
            break;
        }
        out.push((kind, &area[4..len]));
        area = &area[((len + 3) & !3).min(area.len())..];
    }
    out
}

fn c_string(data: &[u8]) -> String {
    let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

fn parse_link(payload: &[u8]) -> Option<Link> {
    let fixed = payload.get(..16)?;
    let index = i32::from_ne_bytes(fixed[4..8].try_into().ok()?);
    let flags = u32::from_ne_bytes(fixed[8..12].try_into().ok()?);
    let name = attributes(&payload[16..])
        .into_iter()
        .find(|(t, _)| *t == IFLA_IFNAME)
        .map(|(_, v)| c_string(v))?;
    Some(Link {
        index,
        name,
        up: flags & IFF_UP != 0,
    })
}

/// An address and the index of its link.
fn parse_address(payload: &[u8]) -> Option<(u32, Address)> {
    let fixed = payload.get(..8)?;
    let index = u32::from_ne_bytes(fixed[4..8].try_into().ok()?);
    let mut addr = Address {
        family: fixed[0],
        prefixlen: fixed[1],
        flags: fixed[2] as u32,
        scope: fixed[3],
        attrs: Vec::new(),
    };
    for (kind, value) in attributes(&payload[8..]) {
        match kind {
            1 | 2 | 4 => addr.attrs.push((kind, value.to_vec())),
            IFA_FLAGS if value.len() == 4 => {
                addr.flags = u32::from_ne_bytes(value.try_into().ok()?);
            }
            _ => {}
        }
    }
    Some((index, addr))
}

/// The errno and extended-ack text of an NLMSG_ERROR payload (errno 0 is an ack).
fn parse_error(flags: u16, payload: &[u8]) -> Result<(), NetlinkError> {
    let code = i32::from_ne_bytes(
        payload
            .get(..4)
            .ok_or(NetlinkError::Malformed)?
            .try_into()
            .map_err(|_| NetlinkError::Malformed)?,
    );
    if code == 0 {
        return Ok(());
    }
    let detail = (flags & NLM_F_ACK_TLVS != 0)
        .then(|| {
            let orig_len = match payload.get(4..8) {
                Some(b) if flags & NLM_F_CAPPED == 0 => {
                    u32::from_ne_bytes(b.try_into().ok()?) as usize
                }
                _ => NLMSG_HDRLEN,
            };
            let tlvs = payload.get(4 + ((orig_len + 3) & !3)..)?;
            attributes(tlvs)
                .into_iter()
                .find(|(t, _)| *t == NLMSGERR_ATTR_MSG)
                .map(|(_, v)| c_string(v))
        })
        .flatten();
    Err(NetlinkError::Kernel {
        errno: nix::Error::from_raw(-code),
        detail,
    })
}

/// A NETLINK_ROUTE socket in the network namespace it was opened in.
pub struct Socket {
    fd: OwnedFd,
    seq: std::cell::Cell<u32>,
}

impl Socket {
    /// Open a socket in the calling thread's network namespace.
    pub fn open() -> Result<Socket, NetlinkError> {
        // SAFETY: socket(2) with constant arguments; the fd is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(NetlinkError::Socket(std::io::Error::last_os_error()));
        }
        // SAFETY: fd is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        for opt in [NETLINK_EXT_ACK, NETLINK_CAP_ACK] {
            let one: libc::c_int = 1;
            // SAFETY: setsockopt with a pointer to a live c_int and its size. Kernels
            // without extended acks refuse it; errors then lack the kernel's text.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    SOL_NETLINK,
                    opt,
                    (&one as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
        }
        Ok(Socket {
            fd,
            seq: std::cell::Cell::new(1),
        })
    }

    /// The link named `name`, or None when there is no such link here.
    pub fn link(&self, name: &str) -> Result<Option<Link>, NetlinkError> {
        let req = Request::new(RTM_GETLINK, NLM_F_ACK, &ifinfomsg(0, 0, 0)).name(IFLA_IFNAME, name);
        match self.transact(req, false) {
            Ok(replies) => Ok(replies.iter().find_map(|(_, p)| parse_link(p))),
            Err(e) if e.errno() == Some(nix::Error::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every link here.
    pub fn links(&self) -> Result<Vec<Link>, NetlinkError> {
        let req = Request::new(RTM_GETLINK, NLM_F_DUMP, &ifinfomsg(0, 0, 0));
        let replies = self.transact(req, true)?;
        Ok(replies.iter().filter_map(|(_, p)| parse_link(p)).collect())
    }

    /// The addresses of link `index`.
    pub fn addresses(&self, index: i32) -> Result<Vec<Address>, NetlinkError> {
        let req = Request::new(RTM_GETADDR, NLM_F_DUMP, &[0u8; 8]);
        let replies = self.transact(req, true)?;
        Ok(replies
            .iter()
            .filter_map(|(_, p)| parse_address(p))
            .filter(|(i, _)| *i as i32 == index)
            .map(|(_, a)| a)
            .collect())
    }

    /// Move link `index` into the network namespace of `netns` under `name`.
    pub fn move_link(&self, index: i32, netns: RawFd, name: &str) -> Result<(), NetlinkError> {
        let req = Request::new(RTM_NEWLINK, NLM_F_ACK, &ifinfomsg(index, 0, 0))
            .attr(IFLA_NET_NS_FD, &(netns as u32).to_ne_bytes())
            .name(IFLA_IFNAME, name);
        self.transact(req, false).map(drop)
    }

    /// Set link `index` up or down.
    pub fn set_up(&self, index: i32, up: bool) -> Result<(), NetlinkError> {
        let flags = if up { IFF_UP } else { 0 };
        let req = Request::new(RTM_NEWLINK, NLM_F_ACK, &ifinfomsg(index, flags, IFF_UP));
        self.transact(req, false).map(drop)
    }

    /// Add `addr` to link `index`.
    pub fn add_address(&self, index: i32, addr: &Address) -> Result<(), NetlinkError> {
        let flags = addr.flags & IFA_SETTABLE;
        let mut fixed = [0u8; 8];
        fixed[0] = addr.family;
        fixed[1] = addr.prefixlen;
        fixed[2] = (flags & 0xff) as u8;
        fixed[3] = addr.scope;
        fixed[4..8].copy_from_slice(&(index as u32).to_ne_bytes());
        let mut req = Request::new(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &fixed);
        for (kind, value) in &addr.attrs {
            req = req.attr(*kind, value);
        }
        let req = req.attr(IFA_FLAGS, &flags.to_ne_bytes());
        self.transact(req, false).map(drop)
    }

    /// Send one request and collect the (type, payload) replies that belong to it,
    /// up to the ack (or NLMSG_DONE for a dump).
    fn transact(&self, req: Request, dump: bool) -> Result<Vec<(u16, Vec<u8>)>, NetlinkError> {
        let seq = self.seq.get();
        self.seq.set(seq.wrapping_add(1));
        self.send(&req.finish(seq))?;
        let mut replies = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = self.recv(&mut buf)?;
            let mut off = 0;
            while off + NLMSG_HDRLEN <= n {
                let h = &buf[off..n];
                let len = u32::from_ne_bytes(h[0..4].try_into().expect("4 bytes")) as usize;
                if len < NLMSG_HDRLEN || len > h.len() {
                    return Err(NetlinkError::Malformed);
                }
                let kind = u16::from_ne_bytes([h[4], h[5]]);
                let flags = u16::from_ne_bytes([h[6], h[7]]);
                let msg_seq = u32::from_ne_bytes(h[8..12].try_into().expect("4 bytes"));
                let payload = &h[NLMSG_HDRLEN..len];
                off += (len + 3) & !3;
                if msg_seq != seq {
                    continue;
                }
                match kind {
                    NLMSG_ERROR => return parse_error(flags, payload).map(|()| replies),
                    NLMSG_DONE if dump => return Ok(replies),
                    _ => replies.push((kind, payload.to_vec())),
                }
            }
        }
    }

    fn send(&self, msg: &[u8]) -> Result<(), NetlinkError> {
        // SAFETY: sending from a live buffer of `msg.len()` bytes; the destination is
        // the kernel (the socket's default peer).
        let rc = unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if rc < 0 {
            return Err(NetlinkError::Socket(std::io::Error::last_os_error()));
        }
        Ok(())
    }

    fn recv(&self, buf: &mut [u8]) -> Result<usize, NetlinkError> {
        loop {
            // SAFETY: receiving into a live, writable buffer of `buf.len()` bytes.
            let rc =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if rc >= 0 {
                return Ok(rc as usize);
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(NetlinkError::Socket(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_framed_and_padded() {
        let msg = Request::new(RTM_GETLINK, NLM_F_ACK, &ifinfomsg(7, 0, 0))
            .name(IFLA_IFNAME, "hv0")
            .finish(42);
        // header 16 + ifinfomsg 16 + attr (4 + "hv0\0") = 40
        assert_eq!(msg.len(), 40);
        assert_eq!(u32::from_ne_bytes(msg[0..4].try_into().unwrap()), 40);
        assert_eq!(u16::from_ne_bytes([msg[4], msg[5]]), RTM_GETLINK);
        assert_eq!(
            u16::from_ne_bytes([msg[6], msg[7]]),
            NLM_F_ACK | NLM_F_REQUEST
        );
        assert_eq!(u32::from_ne_bytes(msg[8..12].try_into().unwrap()), 42);
        assert_eq!(i32::from_ne_bytes(msg[20..24].try_into().unwrap()), 7);
        assert_eq!(&msg[32..40], &[8, 0, 3, 0, b'h', b'v', b'0', 0]);
    }

    #[test]
    fn the_loopback_device_is_found_and_a_missing_one_is_none() {
        let s = Socket::open().unwrap();
        let lo = s.link("lo").unwrap().expect("every namespace has lo");
        assert_eq!(lo.name, "lo");
        assert!(lo.index > 0);
        assert!(s.links().unwrap().iter().any(|l| l.name == "lo"));
        assert_eq!(s.link("husk-no-such").unwrap(), None);
    }

    #[test]
    fn kernel_errors_carry_the_errno() {
        let s = Socket::open().unwrap();
        // No link has index 0x7fffffff: the kernel answers ENODEV.
        let e = s.set_up(i32::MAX, true).unwrap_err();
        assert_eq!(e.errno(), Some(nix::Error::ENODEV));
        assert!(e.to_string().starts_with("ENODEV"), "{e}");
    }

    #[test]
    fn error_payloads_with_an_extended_ack_keep_the_kernels_text() {
        let mut payload = (-22i32).to_ne_bytes().to_vec();
        payload.extend_from_slice(&[0u8; NLMSG_HDRLEN]); // the capped request header
        let text = b"bad thing\0";
        payload.extend_from_slice(&((4 + text.len()) as u16).to_ne_bytes());
        payload.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        payload.extend_from_slice(text);
        let e = parse_error(NLM_F_ACK_TLVS | NLM_F_CAPPED, &payload).unwrap_err();
        assert_eq!(e.to_string(), "EINVAL: Invalid argument (bad thing)");
        assert!(parse_error(0, &0i32.to_ne_bytes()).is_ok());
    }

    #[test]
    fn addresses_keep_what_moves_with_the_device() {
        let mut payload = vec![2, 24, 0x80, 0, 5, 0, 0, 0]; // AF_INET /24 permanent, link 5
        payload.extend_from_slice(&[8, 0, 2, 0, 198, 18, 0, 1]); // IFA_LOCAL
        let (index, a) = parse_address(&payload).unwrap();
        assert_eq!(index, 5);
        assert!(a.is_permanent_global());
        assert_eq!(a.describe(), "198.18.0.1/24");
    }
}
