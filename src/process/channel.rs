//! The parent <-> init sync channel: one SOCK_SEQPACKET socketpair, one datagram
//! per message, optionally carrying one fd (SCM_RIGHTS). EOF means the peer died.
//!
//! Wire format: `[kind u8][value i32 LE][text …]`, at most 4 KiB.

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const MAX: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("sync channel: socketpair: {0}")]
    Socketpair(nix::Error),
    #[error("sync channel: send: {0}")]
    Send(nix::Error),
    #[error("sync channel: receive: {0}")]
    Recv(nix::Error),
    #[error("sync channel: malformed message of {0} bytes")]
    Malformed(usize),
}

/// One message between the parent and the container's init.
#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    /// Parent -> child: limits and id maps are in place; go on.
    Go,
    /// Intermediate -> parent: the pid of the process that will be the init.
    Pid(i32),
    /// Child -> parent: it unshared its user namespace; write the id maps, then `Go`.
    MapsPlease,
    /// Exec'd process -> parent: it joined the container's namespaces; put it (the
    /// current pid) into the container's cgroup, then `Go`.
    CgroupPlease,
    /// Init -> parent: its namespaces are in place: move `linux.netDevices` into
    /// its network namespace, then `Go`.
    NetDevices,
    /// Init -> parent: every mount is done, the pivot has not happened: run the
    /// prestart and createRuntime hooks, then answer with `State`.
    Mounted,
    /// Parent -> init: the state JSON for the createContainer and startContainer hooks.
    State(String),
    /// Init -> parent: the pty master follows as the attached fd.
    Console,
    /// Init -> parent: setup is complete; waiting on the exec FIFO (or exec'ing).
    Ready,
    /// Init -> parent: a step failed; the text names the field, the step and the OS error.
    Error(String),
}

impl Message {
    fn encode(&self) -> Vec<u8> {
        let (kind, value, text): (u8, i32, &str) = match self {
            Message::Go => (1, 0, ""),
            Message::Pid(p) => (2, *p, ""),
            Message::Console => (3, 0, ""),
            Message::Ready => (4, 0, ""),
            Message::Error(t) => (5, 0, t.as_str()),
            Message::MapsPlease => (6, 0, ""),
            Message::Mounted => (7, 0, ""),
            Message::State(t) => (8, 0, t.as_str()),
            Message::CgroupPlease => (9, 0, ""),
            Message::NetDevices => (10, 0, ""),
        };
        let mut buf = Vec::with_capacity(5 + text.len());
        buf.push(kind);
        buf.extend_from_slice(&value.to_le_bytes());
        let text = text.as_bytes();
        buf.extend_from_slice(&text[..text.len().min(MAX - 5)]);
        buf
    }

    fn decode(buf: &[u8]) -> Result<Self, ChannelError> {
        if buf.len() < 5 {
            return Err(ChannelError::Malformed(buf.len()));
        }
        let value = i32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]]);
        let text = || String::from_utf8_lossy(&buf[5..]).into_owned();
        Ok(match buf[0] {
            1 => Message::Go,
            2 => Message::Pid(value),
            3 => Message::Console,
            4 => Message::Ready,
            5 => Message::Error(text()),
            6 => Message::MapsPlease,
            7 => Message::Mounted,
            8 => Message::State(text()),
            9 => Message::CgroupPlease,
            10 => Message::NetDevices,
            _ => return Err(ChannelError::Malformed(buf.len())),
        })
    }
}

/// One end of the channel.
pub struct Channel {
    fd: OwnedFd,
}

/// Make a connected pair (parent end, child end), both close-on-exec.
pub fn pair() -> Result<(Channel, Channel), ChannelError> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(ChannelError::Socketpair)?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Send a message, with an optional fd attached.
    pub fn send_with_fd(&self, msg: &Message, fd: Option<RawFd>) -> Result<(), ChannelError> {
        let buf = msg.encode();
        let iov = [IoSlice::new(&buf)];
        let fds;
        let cmsgs: &[ControlMessage] = match fd {
            Some(f) => {
                fds = [f];
                &[ControlMessage::ScmRights(&fds)]
            }
            None => &[],
        };
        loop {
            match sendmsg::<()>(self.raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
                Ok(_) => return Ok(()),
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(ChannelError::Send(e)),
            }
        }
    }

    pub fn send(&self, msg: &Message) -> Result<(), ChannelError> {
        self.send_with_fd(msg, None)
    }

    /// Receive one message and its fd, if any. `Ok(None)` is EOF: the peer is gone.
    pub fn recv_with_fd(&self) -> Result<Option<(Message, Option<OwnedFd>)>, ChannelError> {
        let mut buf = [0u8; MAX];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let r = recvmsg::<()>(
                self.raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            );
            let msg = match r {
                Ok(m) => m,
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(ChannelError::Recv(e)),
            };
            let mut fd = None;
            for c in msg.cmsgs().map_err(ChannelError::Recv)? {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    for f in fds {
                        // SAFETY: the kernel just installed this fd for us; we own it.
                        let owned = unsafe { OwnedFd::from_raw_fd(f) };
                        fd.get_or_insert(owned);
                    }
                }
            }
            let n = msg.bytes;
            if n == 0 {
                return Ok(None);
            }
            return Ok(Some((Message::decode(&buf[..n])?, fd)));
        }
    }

    pub fn recv(&self) -> Result<Option<Message>, ChannelError> {
        Ok(self.recv_with_fd()?.map(|(m, _)| m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_messages_and_eof() {
        let (a, b) = pair().unwrap();
        for m in [
            Message::Go,
            Message::Pid(4242),
            Message::Ready,
            Message::CgroupPlease,
            Message::NetDevices,
            Message::Error("mounts[3] /data: mount: Operation not permitted".into()),
        ] {
            a.send(&m).unwrap();
            assert_eq!(b.recv().unwrap(), Some(m));
        }
        drop(a);
        assert_eq!(b.recv().unwrap(), None);
    }

    #[test]
    fn fd_travels_with_the_message() {
        let (a, b) = pair().unwrap();
        let f = std::fs::File::open("/proc/self/stat").unwrap();
        a.send_with_fd(&Message::Console, Some(f.as_raw_fd()))
            .unwrap();
        let (m, fd) = b.recv_with_fd().unwrap().unwrap();
        assert_eq!(m, Message::Console);
        assert!(fd.is_some());
    }
}
