//! Overlapping IO with crypto: a read-ahead thread in front of a reader and a write-behind
//! thread behind a writer, passing 1 MiB buffers over bounded channels (and recycling them,
//! so a 1 GiB transfer does not fault in 1 GiB of fresh pages).
//!
//! A put of a regular file skips the read-ahead thread ([`Input::direct`]): the file is
//! read straight into the write-behind buffer, where DARE seals each package in place, so
//! the plaintext is copied once and two threads share the two cores. A get does the same
//! when it writes a file, and keeps the thread when its output costs nothing (`/dev/null`,
//! a pipe): there the copy out of the read-ahead buffer costs less than reading the page
//! cache on the decrypting thread ([`Reading`]; measured in `docs/benchmarks.md`).

use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Where the stored data of a get is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reading {
    /// On a read-ahead thread ([`Input::read_ahead`]): best when writing the output costs
    /// nothing (a device such as `/dev/null`, a pipe), so a third thread has a core to run on.
    Ahead,
    /// On the decrypting thread ([`Input::direct`]): best when a write-behind thread writes
    /// a file, so two threads share the two cores and nothing is copied twice.
    Inline,
}

/// Buffer size of both directions.
pub(crate) const CHUNK: usize = 1 << 20;
/// Buffers in flight per direction.
const DEPTH: usize = 4;

/// The input of a put (or a get's ciphertext): read on a background thread, `CHUNK` bytes at
/// a time ([`Input::read_ahead`]), or straight into the caller's buffers on the calling thread
/// ([`Input::direct`]).
pub(crate) struct Input {
    source: Source,
    current: Vec<u8>,
    pos: usize,
    done: bool,
}

enum Source {
    /// Filled buffers from the reader thread, and the way back for used ones.
    Thread {
        rx: Receiver<io::Result<Vec<u8>>>,
        free: SyncSender<Vec<u8>>,
    },
    /// Read on the calling thread; `current` only ever holds a byte peeked by `has_more`.
    Direct(Box<dyn Read + Send>),
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
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

impl Input {
    /// Starts the reader thread.
    pub(crate) fn read_ahead<R: Read + Send + 'static>(mut inner: R) -> io::Result<Self> {
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
            source: Source::Thread { rx, free: free_tx },
            current: Vec::new(),
            pos: 0,
            done: false,
        })
    }

    /// Reads `inner` on the calling thread, straight into the buffers the caller reads into
    /// (no extra copy).
    pub(crate) fn direct<R: Read + Send + 'static>(inner: R) -> Self {
        Self {
            source: Source::Direct(Box::new(inner)),
            current: Vec::new(),
            pos: 0,
            done: false,
        }
    }
}

impl Input {
    /// Makes sure the current buffer has unread bytes; `false` at the end of the input.
    fn refill(&mut self) -> io::Result<bool> {
        while self.pos >= self.current.len() {
            if self.done {
                return Ok(false);
            }
            let used = std::mem::take(&mut self.current);
            self.pos = 0;
            let (rx, free) = match &mut self.source {
                Source::Thread { rx, free } => (rx, free),
                Source::Direct(inner) => {
                    // Peek one byte.
                    let mut one = vec![0u8; 1];
                    let n = fill(inner.as_mut(), &mut one).inspect_err(|_| self.done = true)?;
                    if n == 0 {
                        self.done = true;
                        return Ok(false);
                    }
                    self.current = one;
                    return Ok(true);
                }
            };
            if used.capacity() > 0 {
                let _ = free.try_send(used);
            }
            match rx.recv() {
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

impl Read for Input {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if let Source::Direct(inner) = &mut self.source
            && self.pos >= self.current.len()
        {
            if self.done {
                return Ok(0);
            }
            return inner.read(out).inspect_err(|e| {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.done = true;
                }
            });
        }
        if !self.refill()? {
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

    /// Both kinds of reader over the same input.
    fn both(data: &[u8]) -> [Input; 2] {
        [
            Input::read_ahead(io::Cursor::new(data.to_vec())).unwrap(),
            Input::direct(io::Cursor::new(data.to_vec())),
        ]
    }

    #[test]
    fn read_ahead_yields_everything_in_order() {
        for len in [0usize, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17] {
            let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            for (kind, mut r) in both(&data).into_iter().enumerate() {
                let mut got = Vec::new();
                let mut small = [0u8; 7777];
                loop {
                    // `has_more` between reads must not lose or repeat a byte.
                    let more = r.has_more().unwrap();
                    let n = r.read(&mut small).unwrap();
                    assert_eq!(more, n > 0, "len {len}, kind {kind}");
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&small[..n]);
                }
                assert_eq!(got, data, "len {len}, kind {kind}");
                assert_eq!(r.read(&mut small).unwrap(), 0);
                assert!(!r.has_more().unwrap());
            }
        }
    }

    #[test]
    fn direct_reads_land_in_the_callers_buffer_in_one_call() {
        let data = vec![7u8; 3 * CHUNK];
        let mut r = Input::direct(io::Cursor::new(data));
        let mut big = vec![0u8; 2 * CHUNK];
        assert_eq!(r.read(&mut big).unwrap(), 2 * CHUNK);
        assert!(r.has_more().unwrap());
        // The peeked byte comes first, alone; then direct reads again.
        assert_eq!(r.read(&mut big).unwrap(), 1);
        assert_eq!(r.read(&mut big).unwrap(), CHUNK - 1);
        assert_eq!(r.read(&mut big).unwrap(), 0);
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
        for mut r in [Input::read_ahead(Failing).unwrap(), Input::direct(Failing)] {
            assert!(r.read(&mut [0u8; 10]).is_err());
            assert_eq!(r.read(&mut [0u8; 10]).unwrap(), 0);
        }
        assert!(Input::direct(Failing).has_more().is_err());
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
        for mut r in both(&data) {
            assert!(r.has_more().unwrap());
            let mut w = WriteBehind::new(Vec::new()).unwrap();
            let mut seen = 0;
            let n = w.pump(&mut r, |k| seen += k).unwrap();
            assert_eq!((n, seen), (data.len() as u64, data.len()));
            assert!(!r.has_more().unwrap());
            assert_eq!(w.finish().unwrap(), data);
        }
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
