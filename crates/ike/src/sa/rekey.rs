//! CREATE_CHILD_SA (RFC 7296 sections 1.3 and 2.8): rekeying the child SA by either side
//! (simultaneous rekeys included) and rekeying the IKE SA itself.

use super::*;

impl IkeSa {
    /// Rekeys the IKE SA (CREATE_CHILD_SA with an IKE proposal of the algorithms in use, a
    /// new SPI, nonce and KE; RFC 7296 section 1.3.2). On the answer the old SA is deleted,
    /// and when that is answered this object is the new SA ([`Event::IkeRekeyed`]), with the
    /// same child SAs. A refusal leaves the SA as it was. Nothing while another request is
    /// in flight.
    pub fn rekey_ike(&mut self, rng: &dyn SecureRandom, now_ns: u64) -> Output {
        let Some(chosen) = self.chosen else {
            return Output::default();
        };
        if self.rekeyed_to.is_some() {
            return Output::default();
        }
        let (Some(spi_i), Some(nonce), Some(dh)) = (
            random_nonzero_u64(rng),
            random_bytes(rng, 32),
            DhPrivate::generate(chosen.group, rng),
        ) else {
            return Output::default();
        };
        let payloads = vec![
            Payload::Sa(vec![Proposal {
                number: 1,
                protocol: protocol::IKE,
                spi: spi_i.to_be_bytes().to_vec(),
                transforms: ike_transforms(&chosen),
            }]),
            Payload::Nonce(nonce.clone()),
            Payload::Ke {
                group: chosen.group.id(),
                data: dh.public().to_vec(),
            },
        ];
        self.request(
            Pending::RekeyIke {
                chosen,
                spi_i,
                nonce,
                dh,
            },
            payloads,
            now_ns,
        )
    }

    pub(super) fn on_ike_rekey_response(
        &mut self,
        inner: &[Payload],
        chosen: IkeProposal,
        spi_i: u64,
        nonce_i: Vec<u8>,
        dh: DhPrivate,
        now_ns: u64,
    ) -> Output {
        let find = |kind: u8| inner.iter().find(|p| p.kind() == kind);
        let (Some(old), Some(old_keys)) = (self.chosen, self.keys.as_ref()) else {
            return Output::default();
        };
        let (
            Some(Payload::Sa(proposals)),
            Some(Payload::Nonce(nonce_r)),
            Some(Payload::Ke { group, data }),
        ) = (
            find(payload_type::SA),
            find(payload_type::NONCE),
            find(payload_type::KE),
        )
        else {
            // Refused (a notify) or malformed: the IKE SA stays as it is.
            return Output::default();
        };
        let Some(spi_r) = proposals.iter().find_map(|p| {
            let spi: [u8; 8] = p.spi.as_slice().try_into().ok()?;
            (p.protocol == protocol::IKE && as_ike_proposal(p, &[chosen]).is_some())
                .then(|| u64::from_be_bytes(spi))
        }) else {
            return Output::default();
        };
        if *group != chosen.group.id() || spi_r == 0 || !(16..=256).contains(&nonce_r.len()) {
            return Output::default();
        }
        let Some(shared) = dh.agree(data) else {
            return Output::default();
        };
        let keys = crate::keys::rekeyed_ike_keys(
            old.prf,
            &old_keys.sk_d,
            chosen.prf,
            &nonce_i,
            nonce_r,
            &shared,
            spi_i,
            spi_r,
            chosen.aead.keymat_len(),
        );
        self.rekeyed_to = Some(NextIke {
            initiator: true,
            spi_i,
            spi_r,
            chosen,
            keys,
            nonce_i,
            nonce_r: nonce_r.clone(),
        });
        let delete = Payload::Delete {
            protocol: protocol::IKE,
            spi_size: 0,
            spis: Vec::new(),
        };
        self.request(Pending::DeleteOldIke, vec![delete], now_ns)
    }

    /// Rekeys the newest child SA (CREATE_CHILD_SA with REKEY_SA, no PFS): on the answer,
    /// [`Event::ChildRekeyed`], and the old child is deleted. `rng` draws the new SPI and
    /// nonce.
    pub fn rekey_child(&mut self, rng: &dyn SecureRandom, now_ns: u64) -> Output {
        let (Some(&old), Some(t)) = (self.children.last(), self.child_template.clone()) else {
            return Output::default();
        };
        let (Some(spi_in), Some(nonce)) = (random_spi(rng), random_bytes(rng, 32)) else {
            return Output::default();
        };
        let (ts_i, ts_r) = if self.initiator {
            (t.ts_local.clone(), t.ts_remote.clone())
        } else {
            (t.ts_remote.clone(), t.ts_local.clone())
        };
        let payloads = vec![
            Payload::Notify {
                protocol: protocol::ESP,
                spi: old.0.to_be_bytes().to_vec(),
                kind: notify::REKEY_SA,
                data: Vec::new(),
            },
            Payload::Sa(vec![Proposal {
                number: 1,
                protocol: protocol::ESP,
                spi: spi_in.to_be_bytes().to_vec(),
                transforms: esp_transforms(t.aead),
            }]),
            Payload::Nonce(nonce.clone()),
            Payload::TsI(ts_i),
            Payload::TsR(ts_r),
        ];
        self.request(Pending::RekeyChild { old, spi_in, nonce }, payloads, now_ns)
    }

    pub(super) fn on_create_child_response(&mut self, datagram: &[u8], now_ns: u64) -> Output {
        let Some(Ok((_, inner))) = self.sk_in.as_ref().map(|k| k.open(datagram)) else {
            return Output::default();
        };
        let pending = self.pending.take();
        if let Some((
            _,
            Pending::RekeyIke {
                chosen,
                spi_i,
                nonce,
                dh,
            },
        )) = pending
        {
            return self.on_ike_rekey_response(&inner, chosen, spi_i, nonce, dh, now_ns);
        }
        let Some((_, Pending::RekeyChild { old, spi_in, nonce })) = pending else {
            return Output::default();
        };
        let find = |kind: u8| inner.iter().find(|p| p.kind() == kind);
        let (Some(chosen), Some(keys), Some(t)) =
            (self.chosen, self.keys.as_ref(), self.child_template.clone())
        else {
            return Output::default();
        };
        let parsed = match (find(payload_type::SA), find(payload_type::NONCE)) {
            (Some(Payload::Sa(p)), Some(Payload::Nonce(nr)))
                if p.len() == 1 && find_notify(&inner).is_none() =>
            {
                as_esp_proposal(&p[0], &[t.aead]).map(|(aead, spi_out)| (aead, spi_out, nr.clone()))
            }
            _ => None,
        };
        let Some((aead, spi_out, nonce_r)) = parsed else {
            // Refused (NO_ADDITIONAL_SAS, TEMPORARY_FAILURE...): the old child stays.
            return Output::default();
        };
        // We started this exchange: our nonce is Ni and our outbound key comes first.
        let (i_to_r, r_to_i) = child_keys(
            chosen.prf,
            &keys.sk_d,
            None,
            &nonce,
            &nonce_r,
            aead.keymat_len(),
        );
        let new = ChildSa {
            aead,
            spi_in,
            spi_out,
            key_in: r_to_i,
            key_out: i_to_r,
            udp_encap: self.nat,
            ..t
        };
        self.children.push((spi_in, spi_out));
        // What goes: the old child, and in a simultaneous rekey (RFC 7296 section 2.8.1)
        // the redundant one, made with the lowest of the four nonces and deleted by whoever
        // started its exchange. What replaces what: ours replaces the old child, or the
        // peer's child where that one was installed first and ours survives.
        let mut gone = vec![old];
        let mut replaced = Some(old);
        if let Some(c) = self.collision.take().filter(|c| c.old == old) {
            if nonce.min(nonce_r.clone()) < c.nonces.0.clone().min(c.nonces.1) {
                gone.push((spi_in, spi_out));
                replaced = None;
            } else {
                replaced = Some(c.theirs);
            }
        }
        let mut out = self.request(
            Pending::DeleteChild,
            vec![Payload::Delete {
                protocol: protocol::ESP,
                spi_size: 4,
                spis: gone.iter().map(|c| c.0.to_be_bytes().to_vec()).collect(),
            }],
            now_ns,
        );
        self.children.retain(|c| !gone.contains(c));
        if let Some(old) = replaced {
            self.child_template = Some(new.clone());
            out.events.push(Event::ChildRekeyed { old, new });
        }
        out
    }

    /// The peer rekeys the IKE SA (CREATE_CHILD_SA with an IKE proposal, a KE and a nonce;
    /// RFC 7296 section 1.3.2): picks a proposal, makes the new SA's keys and keeps them
    /// until the peer deletes this SA. Returns the answer's payloads.
    pub(super) fn answer_ike_rekey(
        &mut self,
        proposals: Vec<Proposal>,
        ke: Option<Payload>,
        nonce_i: Vec<u8>,
    ) -> (Vec<Payload>, Vec<Event>) {
        let refuse = |kind: u16, data: Vec<u8>| (vec![notify(kind, data)], Vec::new());
        let (Some(old), Some(old_keys)) = (self.chosen, self.keys.as_ref()) else {
            return refuse(notify::NO_ADDITIONAL_SAS, Vec::new());
        };
        if self.rekeyed_to.is_some() || !(16..=256).contains(&nonce_i.len()) {
            return refuse(notify::NO_ADDITIONAL_SAS, Vec::new());
        }
        // Not while an exchange of ours is in flight on this SA: our own rekey of the IKE SA
        // (section 2.8.2's simultaneous rekeys: both sides refuse and try again later, so
        // no nonce comparison is needed to agree on which SA survives), a child's rekey or
        // delete (section 2.25.2), a liveness check or a delete. Switching to the new SA
        // would drop that request.
        if self.pending.is_some() || self.delete_queued {
            return refuse(notify::TEMPORARY_FAILURE, Vec::new());
        }
        let Some((number, chosen, peer_spi)) = proposals.iter().find_map(|p| {
            let spi: [u8; 8] = p.spi.as_slice().try_into().ok()?;
            let c = as_ike_proposal(p, &self.settings.ike)?;
            Some((p.number, c, u64::from_be_bytes(spi)))
        }) else {
            return refuse(notify::NO_PROPOSAL_CHOSEN, Vec::new());
        };
        let Some(Payload::Ke { group, data }) = ke else {
            return refuse(notify::INVALID_SYNTAX, Vec::new());
        };
        if group != chosen.group.id() {
            return refuse(
                notify::INVALID_KE_PAYLOAD,
                chosen.group.id().to_be_bytes().to_vec(),
            );
        }
        let rng = ring::rand::SystemRandom::new();
        let (Some(dh), Some(spi_r), Some(nonce_r)) = (
            DhPrivate::generate(chosen.group, &rng),
            random_nonzero_u64(&rng),
            random_bytes(&rng, 32),
        ) else {
            return refuse(notify::TEMPORARY_FAILURE, Vec::new());
        };
        if peer_spi == 0 {
            return refuse(notify::INVALID_SYNTAX, Vec::new());
        }
        let public = dh.public().to_vec();
        let Some(shared) = dh.agree(&data) else {
            return refuse(notify::INVALID_SYNTAX, Vec::new());
        };
        let keys = crate::keys::rekeyed_ike_keys(
            old.prf,
            &old_keys.sk_d,
            chosen.prf,
            &nonce_i,
            &nonce_r,
            &shared,
            peer_spi,
            spi_r,
            chosen.aead.keymat_len(),
        );
        self.rekeyed_to = Some(NextIke {
            initiator: false,
            spi_i: peer_spi,
            spi_r,
            chosen,
            keys,
            nonce_i,
            nonce_r: nonce_r.clone(),
        });
        (
            vec![
                Payload::Sa(vec![Proposal {
                    number,
                    protocol: protocol::IKE,
                    spi: spi_r.to_be_bytes().to_vec(),
                    transforms: ike_transforms(&chosen),
                }]),
                Payload::Nonce(nonce_r),
                Payload::Ke {
                    group: chosen.group.id(),
                    data: public,
                },
            ],
            Vec::new(),
        )
    }

    pub(super) fn on_create_child_request(&mut self, datagram: &[u8]) -> Output {
        let Some(Ok((header, inner))) = self.sk_in.as_ref().map(|k| k.open(datagram)) else {
            return Output::default();
        };
        let (Some(chosen), Some(keys), Some(t)) =
            (self.chosen, self.keys.as_ref(), self.child_template.clone())
        else {
            return Output::default();
        };
        let sk_d = keys.sk_d.clone();
        let find = |kind: u8| inner.iter().find(|p| p.kind() == kind);
        let rekeyed = inner.iter().find_map(|p| match p {
            Payload::Notify { kind, spi, .. } if *kind == notify::REKEY_SA && spi.len() == 4 => {
                let peer_in = u32::from_be_bytes([spi[0], spi[1], spi[2], spi[3]]);
                self.children
                    .iter()
                    .copied()
                    .find(|(_, out)| *out == peer_in)
            }
            _ => None,
        });
        let answer = |sa: &mut IkeSa, payloads: Vec<Payload>, events: Vec<Event>| {
            let h = sa.header(exchange::CREATE_CHILD_SA, header.message_id, true);
            let Some(response) = sa.seal(h, &payloads) else {
                return Output::default();
            };
            sa.cached_response = Some((header.message_id, response.clone()));
            sa.peer_next_id = sa.peer_next_id.wrapping_add(1);
            Output {
                send: vec![response],
                events,
            }
        };
        if let (None, Some(Payload::Sa(proposals)), Some(Payload::Nonce(nonce_i))) =
            (rekeyed, find(payload_type::SA), find(payload_type::NONCE))
        {
            if proposals.iter().any(|p| p.protocol == protocol::IKE) {
                let ke = find(payload_type::KE).cloned();
                let (payloads, events) =
                    self.answer_ike_rekey(proposals.clone(), ke, nonce_i.clone());
                return answer(self, payloads, events);
            }
        }
        let (Some(old), Some(Payload::Sa(proposals)), Some(Payload::Nonce(nonce_i)), None) = (
            rekeyed,
            find(payload_type::SA),
            find(payload_type::NONCE),
            find(payload_type::KE),
        ) else {
            // New child SAs beyond the first and PFS are not offered yet.
            return answer(
                self,
                vec![notify(notify::NO_ADDITIONAL_SAS, Vec::new())],
                Vec::new(),
            );
        };
        let Some((number, (aead, spi_out))) = proposals
            .iter()
            .find_map(|p| as_esp_proposal(p, &self.settings.esp).map(|c| (p.number, c)))
        else {
            return answer(
                self,
                vec![notify(notify::NO_PROPOSAL_CHOSEN, Vec::new())],
                Vec::new(),
            );
        };
        let mut nonce_r = vec![0u8; 32];
        let mut spi_bytes = [0u8; 4];
        let rng = ring::rand::SystemRandom::new();
        if rng.fill(&mut nonce_r).is_err() || rng.fill(&mut spi_bytes).is_err() {
            return Output::default();
        }
        let spi_in = u32::from_be_bytes(spi_bytes).max(256);
        // The peer started this exchange: its nonce is Ni and its outbound key comes first.
        let (i_to_r, r_to_i) = child_keys(
            chosen.prf,
            &sk_d,
            None,
            nonce_i,
            &nonce_r,
            aead.keymat_len(),
        );
        let new = ChildSa {
            aead,
            spi_in,
            spi_out,
            key_in: i_to_r,
            key_out: r_to_i,
            udp_encap: self.nat,
            ..t.clone()
        };
        let (ts_i, ts_r) = match (find(payload_type::TSI), find(payload_type::TSR)) {
            (Some(Payload::TsI(a)), Some(Payload::TsR(b))) => (a.clone(), b.clone()),
            _ => {
                return answer(
                    self,
                    vec![notify(notify::INVALID_SYNTAX, Vec::new())],
                    Vec::new(),
                )
            }
        };
        if matches!(&self.pending, Some((_, Pending::RekeyChild { old: ours, .. })) if *ours == old)
        {
            // Both sides are rekeying this child (RFC 7296 section 2.8.1): settled when the
            // answer to ours arrives.
            self.collision = Some(Collision {
                old,
                theirs: (spi_in, spi_out),
                nonces: (nonce_i.clone(), nonce_r.clone()),
            });
        }
        self.children.push((spi_in, spi_out));
        self.child_template = Some(new.clone());
        let payloads = vec![
            Payload::Sa(vec![Proposal {
                number,
                protocol: protocol::ESP,
                spi: spi_in.to_be_bytes().to_vec(),
                transforms: esp_transforms(aead),
            }]),
            Payload::Nonce(nonce_r),
            Payload::TsI(ts_i),
            Payload::TsR(ts_r),
        ];
        answer(self, payloads, vec![Event::ChildRekeyed { old, new }])
    }

    /// Becomes the IKE SA this one was rekeyed into.
    pub(super) fn become_rekeyed(&mut self) -> Option<Event> {
        let n = self.rekeyed_to.take()?;
        self.initiator = n.initiator;
        self.spi_i = n.spi_i;
        self.spi_r = n.spi_r;
        let (inbound, outbound) = if n.initiator {
            (&n.keys.sk_er, &n.keys.sk_ei)
        } else {
            (&n.keys.sk_ei, &n.keys.sk_er)
        };
        self.sk_in = SkKey::new(n.chosen.aead, inbound);
        self.sk_out = SkKey::new(n.chosen.aead, outbound);
        self.chosen = Some(n.chosen);
        self.keys = Some(n.keys);
        self.nonce_i = n.nonce_i;
        self.nonce_r = n.nonce_r;
        // A new SA counts its messages from zero (section 2.18) and has no request of ours
        // in flight.
        self.next_request_id = 0;
        self.peer_next_id = 0;
        self.cached_response = None;
        self.pending = None;
        self.tries = 0;
        self.iv_counter = 0;
        Some(Event::IkeRekeyed {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
        })
    }
}
