//! Live `/v1/log/error` and `/v1/log/audit` subscriptions.
//!
//! Each subscriber owns a bounded channel. Publishing never blocks the request that produced
//! the event: a subscriber whose channel is full misses that event, and a subscriber whose
//! receiving side was dropped (the client went away) is removed on the next publish. The list
//! of subscribers is an [`ArcSwap`], so publishing takes no lock.

use std::sync::Arc;

use arc_swap::ArcSwap;
use async_channel::{Receiver, Sender, TrySendError};

/// How many lines a slow subscriber may have pending before it misses events.
const SUBSCRIBER_BUFFER: usize = 1024;

/// The subscribers of one stream.
#[derive(Default)]
pub(crate) struct Subscribers {
    list: ArcSwap<Vec<Sender<Vec<u8>>>>,
}

impl Subscribers {
    /// Adds a subscriber and returns its receiving side.
    pub(crate) fn subscribe(&self) -> Receiver<Vec<u8>> {
        let (tx, rx) = async_channel::bounded(SUBSCRIBER_BUFFER);
        self.list.rcu(|list| {
            let mut list = Vec::clone(list);
            list.push(tx.clone());
            list
        });
        rx
    }

    /// `true` when nobody listens (lets callers skip formatting the line).
    pub(crate) fn is_empty(&self) -> bool {
        self.list.load().is_empty()
    }

    /// Number of current subscribers.
    pub(crate) fn len(&self) -> usize {
        self.list.load().len()
    }

    /// Sends `line` to every subscriber; returns how many received it.
    pub(crate) fn publish(&self, line: &[u8]) -> u64 {
        let list = self.list.load();
        let mut delivered = 0;
        let mut closed = false;
        for tx in list.iter() {
            match tx.try_send(line.to_vec()) {
                Ok(()) => delivered += 1,
                Err(TrySendError::Full(_)) => {}
                Err(TrySendError::Closed(_)) => closed = true,
            }
        }
        drop(list);
        if closed {
            self.list.rcu(|list| {
                list.iter()
                    .filter(|tx| !tx.is_closed())
                    .cloned()
                    .collect::<Vec<_>>()
            });
        }
        delivered
    }
}

/// Both log streams.
#[derive(Default)]
pub(crate) struct LogHub {
    /// `/v1/log/audit` subscribers.
    pub(crate) audit: Subscribers,
    /// `/v1/log/error` subscribers.
    pub(crate) error: Subscribers,
}

impl LogHub {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_reaches_live_subscribers_and_drops_closed_ones() {
        let subs = Subscribers::default();
        assert!(subs.is_empty());
        assert_eq!(subs.publish(b"nobody\n"), 0);
        let a = subs.subscribe();
        let b = subs.subscribe();
        assert_eq!(subs.publish(b"one\n"), 2);
        assert_eq!(a.try_recv().unwrap(), b"one\n");
        assert_eq!(b.try_recv().unwrap(), b"one\n");
        drop(b);
        assert_eq!(subs.publish(b"two\n"), 1);
        assert_eq!(subs.len(), 1);
        assert_eq!(a.try_recv().unwrap(), b"two\n");
    }

    #[test]
    fn full_subscriber_misses_events_without_blocking() {
        let subs = Subscribers::default();
        let a = subs.subscribe();
        for _ in 0..SUBSCRIBER_BUFFER {
            assert_eq!(subs.publish(b"x\n"), 1);
        }
        assert_eq!(subs.publish(b"overflow\n"), 0);
        assert_eq!(a.len(), SUBSCRIBER_BUFFER);
    }
}
