//! Overlapping IO with crypto: a read-ahead thread in front of a reader and a write-behind
//! thread behind a writer, passing 1 MiB buffers over bounded channels (and recycling them,
//! so a 1 GiB transfer does not fault in 1 GiB of fresh pages). The calling thread only
//! encrypts or decrypts.

use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Buffer size of both directions.
pub(crate) const CHUNK: usize = 1 << 20;
/// Buffers in flight per direction.
const DEPTH: usize = 4;

/// Reads `inner` on a background thread, `CHUNK` bytes at a time.
pub(crate) struct ReadAhead {
    rx: Receiver<io::Result<Vec<u8>>>,
    free: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    done: bool,
}

impl std::fmt::Debug for ReadAhead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadAhead")
            .field("pos", &self.pos)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// Fills `buf` from `r` until it is full or `r` is at its end; returns the bytes read.
fn fill(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let Some(rest) = buf.get_mut(n..) else { break };
        match r.read(rest) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl ReadAhead {
    /// Starts the reader thread.
    pub(crate) fn new<R: Read + Send + 'static>(mut inner: R) -> io::Result<Self> {
        let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(DEPTH);
        let (free_tx, free_rx) = sync_channel::<Vec<u8>>(DEPTH + 2);
        std::thread::Builder::new()
            .name("sse-demo-read".into())
            .spawn(move || {
                loop {
                    let mut buf: Vec<u8> = free_rx.try_recv().unwrap_or_default();
                    buf.resize(CHUNK, 0);
                    match fill(&mut inner, &mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            buf.truncate(n);
                            let last = n < CHUNK;
                            if tx.send(Ok(buf)).is_err() || last {
                                break;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            break;
                        }
                    }
                }
            })?;
        Ok(Self {
            rx,
            free: free_tx,
            current: Vec::new(),
            pos: 0,
            done: false,
        })
    }
}

impl ReadAhead {
    /// Makes sure the current buffer has unread bytes; `false` at the end of the input.
    fn refill(&mut self) -> io::Result<bool> {
        while self.pos >= self.current.len() {
            if self.done {
                return Ok(false);
            }
            let used = std::mem::take(&mut self.current);
            if used.capacity() > 0 {
                let _ = self.free.try_send(used);
            }
            self.pos = 0;
            match self.rx.recv() {
                Ok(Ok(buf)) => self.current = buf,
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Whether more input follows (waits for it).
    pub(crate) fn has_more(&mut self) -> io::Result<bool> {
        self.refill()
    }
}

impl Read for ReadAhead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() || !self.refill()? {
            return Ok(0);
        }
        let available = self.current.get(self.pos..).unwrap_or_default();
        let n = available.len().min(out.len());
        out.get_mut(..n)
            .unwrap_or_default()
            .copy_from_slice(available.get(..n).unwrap_or_default());
        self.pos += n;
        Ok(n)
    }
}

/// Writes to `W` on a background thread; [`WriteBehind::finish`] returns it (or the first
/// write error).
pub(crate) struct WriteBehind<W: Write + Send + 'static> {
    tx: Option<SyncSender<Vec<u8>>>,
    free: Receiver<Vec<u8>>,
    /// Always `CHUNK` bytes long; `filled` of them are data.
    buf: Vec<u8>,
    filled: usize,
    handle: Option<JoinHandle<io::Result<W>>>,
}

impl<W: Write + Send + 'static> std::fmt::Debug for WriteBehind<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBehind")
            .field("buffered", &self.filled)
            .finish_non_exhaustive()
    }
}

impl<W: Write + Send + 'static> WriteBehind<W> {
    /// Starts the writer thread.
    pub(crate) fn new(mut inner: W) -> io::Result<Self> {
        let (tx, rx) = sync_channel::<Vec<u8>>(DEPTH);
        let (free_tx, free_rx) = sync_channel::<Vec<u8>>(DEPTH + 2);
        let handle = std::thread::Builder::new()
            .name("sse-demo-write".into())
            .spawn(move || {
                for buf in rx {
                    inner.write_all(&buf)?;
                    let _ = free_tx.try_send(buf);
                }
                inner.flush()?;
                Ok(inner)
            })?;
        Ok(Self {
            tx: Some(tx),
            free: free_rx,
            buf: vec![0u8; CHUNK],
            filled: 0,
            handle: Some(handle),
        })
    }

    /// The writer thread's result once it has stopped.
    fn join(&mut self) -> io::Result<W> {
        self.tx = None;
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the writer thread failed")),
            None => Err(io::Error::other("the writer was already finished")),
        }
    }

    /// Hands the filled part of the buffer to the thread and takes a fresh buffer.
    fn send(&mut self) -> io::Result<()> {
        if self.filled == 0 {
            return Ok(());
        }
        let mut next = self.free.try_recv().unwrap_or_default();
        next.resize(CHUNK, 0);
        let mut full = std::mem::replace(&mut self.buf, next);
        full.truncate(self.filled);
        self.filled = 0;
        let sent = match &self.tx {
            Some(tx) => tx.send(full).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            // The thread stopped: report its error.
            Err(self
                .join()
                .err()
                .unwrap_or_else(|| io::Error::other("the writer thread stopped")))
        }
    }

    /// Reads `r` to its end straight into the outgoing buffers (no intermediate copy);
    /// `on_data` sees the size of every read. Returns the number of bytes.
    pub(crate) fn pump(
        &mut self,
        r: &mut dyn Read,
        mut on_data: impl FnMut(usize),
    ) -> io::Result<u64> {
        let mut total = 0u64;
        loop {
            if self.filled >= CHUNK {
                self.send()?;
            }
            let Some(space) = self.buf.get_mut(self.filled..) else {
                return Err(io::Error::other("write buffer out of range"));
            };
            let n = match r.read(space) {
                Ok(0) => return Ok(total),
                Ok(n) => n.min(space.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.filled += n;
            total += n as u64;
            on_data(n);
        }
    }

    /// Writes what is buffered, waits for the thread and returns the writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.send()?;
        self.join()
    }
}

impl<W: Write + Send + 'static> Write for WriteBehind<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.filled >= CHUNK {
            self.send()?;
        }
        let space = self.buf.get_mut(self.filled..).unwrap_or_default();
        let n = space.len().min(data.len());
        space
            .get_mut(..n)
            .unwrap_or_default()
            .copy_from_slice(data.get(..n).unwrap_or_default());
        self.filled += n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Data reaches the inner writer in order; `finish` waits for all of it.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_ahead_yields_everything_in_order() {
        for len in [0usize, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17] {
            let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let mut r = ReadAhead::new(io::Cursor::new(data.clone())).unwrap();
            let mut got = Vec::new();
            let mut small = [0u8; 7777];
            loop {
                let n = r.read(&mut small).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&small[..n]);
            }
            assert_eq!(got, data, "len {len}");
            assert_eq!(r.read(&mut small).unwrap(), 0);
        }
    }

    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("boom"))
        }
    }
    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("boom"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn errors_pass_through() {
        let mut r = ReadAhead::new(Failing).unwrap();
        assert!(r.read(&mut [0u8; 10]).is_err());
        assert_eq!(r.read(&mut [0u8; 10]).unwrap(), 0);
        let mut w = WriteBehind::new(Failing).unwrap();
        let mut failed = false;
        for _ in 0..(DEPTH + 4) {
            if w.write_all(&vec![1u8; CHUNK]).is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed || w.finish().is_err());
    }

    #[test]
    fn pump_and_has_more() {
        let data: Vec<u8> = (0..2 * CHUNK + 3).map(|i| (i % 249) as u8).collect();
        let mut r = ReadAhead::new(io::Cursor::new(data.clone())).unwrap();
        assert!(r.has_more().unwrap());
        let mut w = WriteBehind::new(Vec::new()).unwrap();
        let mut seen = 0;
        let n = w.pump(&mut r, |k| seen += k).unwrap();
        assert_eq!((n, seen), (data.len() as u64, data.len()));
        assert!(!r.has_more().unwrap());
        assert_eq!(w.finish().unwrap(), data);
    }

    #[test]
    fn write_behind_writes_everything_in_order() {
        let data: Vec<u8> = (0..3 * CHUNK + 5).map(|i| (i % 251) as u8).collect();
        let mut w = WriteBehind::new(Vec::new()).unwrap();
        for c in data.chunks(100_000) {
            w.write_all(c).unwrap();
        }
        assert_eq!(w.finish().unwrap(), data);
    }
}
