//! INFORMATIONAL exchanges (RFC 7296 section 1.4): liveness checks (dead peer detection)
//! and deletes, both ways.

use super::*;

impl IkeSa {
    /// Sends a liveness check (an empty INFORMATIONAL request): [`Event::Alive`] when it is
    /// answered, [`Event::Dead`] when every retransmission goes unanswered. Nothing while
    /// another request is in flight.
    pub fn check_liveness(&mut self, now_ns: u64) -> Output {
        self.request(Pending::Liveness, Vec::new(), now_ns)
    }

    /// Deletes the IKE SA (and with it the child): [`Event::IkeDeleted`] when the peer
    /// answers or gives up answering. While another request of ours is in flight (one
    /// exchange at a time) the delete waits for its answer, or its timeout, and goes then.
    pub fn delete(&mut self, now_ns: u64) -> Output {
        let out = self.request(
            Pending::Delete,
            vec![Payload::Delete {
                protocol: protocol::IKE,
                spi_size: 0,
                spis: Vec::new(),
            }],
            now_ns,
        );
        self.delete_queued = out.send.is_empty() && self.state == State::Established;
        out
    }

    /// Sends a delete that had to wait, once nothing is in flight.
    pub(super) fn flush_queued_delete(&mut self, now_ns: u64, out: &mut Output) {
        if self.delete_queued && self.pending.is_none() && self.state == State::Established {
            let mut o = self.delete(now_ns);
            out.send.append(&mut o.send);
            out.events.append(&mut o.events);
        }
    }

    /// Whether a delete waits for the request in flight.
    pub fn delete_queued(&self) -> bool {
        self.delete_queued
    }

    pub(super) fn on_informational_request(&mut self, datagram: &[u8]) -> Output {
        let Some(Ok((header, inner))) = self.sk_in.as_ref().map(|k| k.open(datagram)) else {
            return Output::default();
        };
        let mut events = Vec::new();
        let mut answer = Vec::new();
        for p in &inner {
            if let Payload::Delete {
                protocol: proto,
                spis,
                ..
            } = p
            {
                if *proto == protocol::IKE {
                    events.push(Event::IkeDeleted);
                } else if *proto == protocol::ESP {
                    // The peer names its inbound SPIs, which are our outbound ones.
                    let gone: Vec<(u32, u32)> = self
                        .children
                        .iter()
                        .copied()
                        .filter(|(_, out)| spis.iter().any(|s| s.as_slice() == out.to_be_bytes()))
                        .collect();
                    if !gone.is_empty() {
                        self.children.retain(|c| !gone.contains(c));
                        answer.push(Payload::Delete {
                            protocol: protocol::ESP,
                            spi_size: 4,
                            spis: gone.iter().map(|(i, _)| i.to_be_bytes().to_vec()).collect(),
                        });
                        events.extend(
                            gone.into_iter()
                                .map(|(spi_in, spi_out)| Event::ChildDeleted { spi_in, spi_out }),
                        );
                    }
                }
            }
        }
        let old_replaced = events.contains(&Event::IkeDeleted) && self.rekeyed_to.is_some();
        if events.contains(&Event::IkeDeleted) {
            answer.clear();
            if !old_replaced {
                self.state = State::Deleted;
            }
        }
        let h = self.header(exchange::INFORMATIONAL, header.message_id, true);
        let Some(response) = self.seal(h, &answer) else {
            return Output::default();
        };
        self.cached_response = Some((header.message_id, response.clone()));
        self.peer_next_id = self.peer_next_id.wrapping_add(1);
        if old_replaced {
            // The peer deleted the SA it rekeyed: answered with the old keys, we go on as
            // the new one.
            events.retain(|e| *e != Event::IkeDeleted);
            events.extend(self.become_rekeyed());
        }
        Output {
            send: vec![response],
            events,
        }
    }

    pub(super) fn on_informational_response(&mut self, datagram: &[u8]) -> Output {
        let Some(Ok(_)) = self.sk_in.as_ref().map(|k| k.open(datagram)) else {
            return Output::default();
        };
        let event = match self.pending.take() {
            Some((_, Pending::Delete)) => {
                self.state = State::Deleted;
                Event::IkeDeleted
            }
            Some((_, Pending::DeleteChild)) => return Output::default(),
            Some((_, Pending::DeleteOldIke)) => match self.become_rekeyed() {
                Some(e) => e,
                None => return Output::default(),
            },
            _ => Event::Alive,
        };
        Output {
            send: Vec::new(),
            events: vec![event],
        }
    }
}
