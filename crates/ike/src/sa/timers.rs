//! Time: retransmitting requests with exponential backoff, giving up (the connection
//! timeout peers fail over on), and when the next timer is due.

use super::*;

impl IkeSa {
    /// Timers: retransmission of our request in flight (IKE_SA_INIT and IKE_AUTH as
    /// initiator, INFORMATIONAL once up) and the final timeout: [`Event::Timeout`] while
    /// connecting, [`Event::Dead`] for an established peer.
    pub fn tick(&mut self, now_ns: u64) -> Output {
        let mut queued = Output::default();
        self.flush_queued_delete(now_ns, &mut queued);
        if !queued.send.is_empty() {
            return queued;
        }
        if self.delete_queued && self.pending.is_none() {
            // Still held back by the peer's rekey: nothing of ours to retransmit; tried again
            // a retransmission interval from now.
            self.sent_at_ns = now_ns;
            return queued;
        }
        let Some(at) = self.next_timer() else {
            return Output::default();
        };
        if now_ns < at {
            return Output::default();
        }
        if self.tries >= self.retry_limit() {
            return match self.pending.take() {
                Some((_, Pending::Delete)) => {
                    self.state = State::Deleted;
                    Output {
                        send: Vec::new(),
                        events: vec![Event::IkeDeleted],
                    }
                }
                // The new IKE SA was agreed before this delete of the old one: a peer that
                // took the delete and switched no longer answers on the old SA, so an answer
                // lost on the way makes our retransmissions go unanswered. Go on as the new
                // SA; if the peer is gone, its liveness checks will say so.
                Some((_, Pending::DeleteOldIke)) => Output {
                    send: Vec::new(),
                    events: self.become_rekeyed().into_iter().collect(),
                },
                Some((
                    _,
                    Pending::Liveness
                    | Pending::RekeyChild { .. }
                    | Pending::DeleteChild
                    | Pending::RekeyIke { .. },
                )) => self.fail(Event::Dead),
                None => self.fail(Event::Timeout),
            };
        }
        self.tries += 1;
        self.sent_at_ns = now_ns;
        Output {
            send: vec![self.last_sent.clone()],
            events: Vec::new(),
        }
    }

    pub(super) fn liveness_pending(&self) -> bool {
        matches!(self.pending, Some((_, Pending::Liveness)))
    }

    pub(super) fn retry_limit(&self) -> u32 {
        match self.settings.liveness_retry_ns {
            Some(_) if self.liveness_pending() => self.settings.liveness_tries,
            _ => self.settings.retransmit_tries,
        }
    }

    /// When [`IkeSa::tick`] next has something to do.
    pub fn next_timer(&self) -> Option<u64> {
        if self.delete_queued && self.pending.is_none() && self.state == State::Established {
            // A delete held back by the peer's rekey of this SA: tried again now and then.
            return Some(self.sent_at_ns.saturating_add(self.settings.retransmit_ns));
        }
        let waiting = (self.initiator && matches!(self.state, State::InitSent | State::AuthSent))
            || (self.state == State::Established && self.pending.is_some());
        if let (true, Some(spacing)) = (self.liveness_pending(), self.settings.liveness_retry_ns) {
            return Some(self.sent_at_ns.saturating_add(spacing));
        }
        waiting.then(|| {
            self.sent_at_ns.saturating_add(
                self.settings
                    .retransmit_ns
                    .saturating_mul(1u64 << self.tries.min(20)),
            )
        })
    }

    pub(super) fn request(&mut self, kind: Pending, payloads: Vec<Payload>, now_ns: u64) -> Output {
        if self.state != State::Established || self.pending.is_some() {
            return Output::default();
        }
        // Once the IKE SA is rekeyed, the old one starts no new exchange (RFC 7296 section
        // 2.8): ours waits until this object is the new SA. Our own rekey's delete of the
        // old SA is the one request that belongs there.
        if self.rekeyed_to.is_some() && !matches!(kind, Pending::DeleteOldIke) {
            return Output::default();
        }
        let id = self.next_request_id;
        let exchange = if matches!(kind, Pending::RekeyChild { .. } | Pending::RekeyIke { .. }) {
            exchange::CREATE_CHILD_SA
        } else {
            exchange::INFORMATIONAL
        };
        let h = self.header(exchange, id, false);
        let Some(request) = self.seal(h, &payloads) else {
            return Output::default();
        };
        self.next_request_id = self.next_request_id.wrapping_add(1);
        self.pending = Some((id, kind));
        self.last_sent = request.clone();
        self.sent_at_ns = now_ns;
        self.tries = 0;
        Output {
            send: vec![request],
            events: Vec::new(),
        }
    }
}
