//! IKE_SA_INIT and IKE_AUTH (RFC 7296 sections 1.2 and 2.15): starting an SA as initiator,
//! answering one as responder (cookies included), and the first child SA they set up.

use super::*;

impl IkeSa {
    /// Starts an IKE SA as initiator: the IKE_SA_INIT request to send.
    pub fn initiate(
        settings: Settings,
        rng: &dyn SecureRandom,
        now_ns: u64,
    ) -> Option<(IkeSa, Output)> {
        let first = *settings.ike.first()?;
        let dh = DhPrivate::generate(first.group, rng)?;
        let spi_i = random_nonzero_u64(rng)?;
        let nonce_i = random_bytes(rng, 32)?;
        let proposals = settings
            .ike
            .iter()
            .enumerate()
            .map(|(i, p)| Proposal {
                number: (i + 1) as u8,
                protocol: protocol::IKE,
                spi: Vec::new(),
                transforms: ike_transforms(p),
            })
            .collect();
        let request = Message {
            header: Header {
                spi_i,
                spi_r: 0,
                next_payload: 0,
                exchange: exchange::IKE_SA_INIT,
                flags: flags::INITIATOR,
                message_id: 0,
            },
            payloads: vec![
                Payload::Sa(proposals),
                Payload::Ke {
                    group: first.group.id(),
                    data: dh.public().to_vec(),
                },
                Payload::Nonce(nonce_i.clone()),
            ]
            .into_iter()
            .chain(nat_notifies(
                spi_i,
                0,
                settings.local,
                settings.remote,
                settings.force_encap,
            ))
            .collect(),
        }
        .emit();
        let sa = IkeSa {
            next_request_id: 2,
            peer_next_id: 0,
            pending: None,
            children: Vec::new(),
            child_template: None,
            cookie_rounds: 0,
            collision: None,
            rekeyed_to: None,
            delete_queued: false,
            nat: false,
            initiator: true,
            state: State::InitSent,
            settings,
            spi_i,
            spi_r: 0,
            chosen: None,
            nonce_i,
            nonce_r: Vec::new(),
            dh: Some(dh),
            keys: None,
            sk_in: None,
            sk_out: None,
            init_request: request.clone(),
            init_response: Vec::new(),
            child_spi_in: random_spi(rng)?,
            last_sent: request.clone(),
            sent_at_ns: now_ns,
            tries: 0,
            iv_counter: 0,
            cached_response: None,
        };
        Some((
            sa,
            Output {
                send: vec![request],
                events: Vec::new(),
            },
        ))
    }

    /// Answers an IKE_SA_INIT request as responder. `Err` carries what to send back (a
    /// refusal, or nothing for a datagram that is not a valid request).
    pub fn respond(
        settings: Settings,
        rng: &dyn SecureRandom,
        datagram: &[u8],
        now_ns: u64,
    ) -> Result<(IkeSa, Output), Output> {
        let refuse = |h: &Header, kind: u16, data: Vec<u8>| Output {
            send: vec![Message {
                header: Header {
                    spi_r: 0,
                    flags: flags::RESPONSE,
                    ..*h
                },
                payloads: vec![notify(kind, data)],
            }
            .emit()],
            events: vec![if kind == notify::NO_PROPOSAL_CHOSEN {
                Event::NoProposal
            } else {
                Event::Refused(kind)
            }],
        };
        let Ok(m) = Message::parse(datagram) else {
            return Err(Output::default());
        };
        let h = m.header;
        if h.exchange != exchange::IKE_SA_INIT
            || h.flags & flags::RESPONSE != 0
            || h.flags & flags::INITIATOR == 0
            || h.message_id != 0
            || h.spi_r != 0
            || h.spi_i == 0
        {
            return Err(Output::default());
        }
        let (
            Some(Payload::Sa(proposals)),
            Some(Payload::Ke { group, data }),
            Some(Payload::Nonce(nonce_i)),
        ) = (
            m.find(payload_type::SA),
            m.find(payload_type::KE),
            m.find(payload_type::NONCE),
        )
        else {
            return Err(refuse(&h, notify::INVALID_SYNTAX, Vec::new()));
        };
        if !(16..=256).contains(&nonce_i.len()) {
            return Err(refuse(&h, notify::INVALID_SYNTAX, Vec::new()));
        }
        let Some((number, chosen)) = proposals
            .iter()
            .find_map(|p| as_ike_proposal(p, &settings.ike).map(|c| (p.number, c)))
        else {
            return Err(refuse(&h, notify::NO_PROPOSAL_CHOSEN, Vec::new()));
        };
        if *group != chosen.group.id() {
            return Err(refuse(
                &h,
                notify::INVALID_KE_PAYLOAD,
                chosen.group.id().to_be_bytes().to_vec(),
            ));
        }
        let fail = || Err(Output::default());
        let Some(dh) = DhPrivate::generate(chosen.group, rng) else {
            return fail();
        };
        let public = dh.public().to_vec();
        let Some(shared) = dh.agree(data) else {
            return Err(refuse(&h, notify::INVALID_SYNTAX, Vec::new()));
        };
        let (Some(spi_r), Some(nonce_r), Some(child_spi_in)) = (
            random_nonzero_u64(rng),
            random_bytes(rng, 32),
            random_spi(rng),
        ) else {
            return fail();
        };
        let peer_nat = nat_between(&m.payloads, h.spi_i, 0, settings.local, settings.remote);
        let mut payloads = vec![
            Payload::Sa(vec![Proposal {
                number,
                protocol: protocol::IKE,
                spi: Vec::new(),
                transforms: ike_transforms(&chosen),
            }]),
            Payload::Ke {
                group: chosen.group.id(),
                data: public,
            },
            Payload::Nonce(nonce_r.clone()),
        ];
        if peer_nat.is_some() {
            // The hashes of a response are over SPIi and SPIr as sent (section 2.23).
            payloads.extend(nat_notifies(
                h.spi_i,
                spi_r,
                settings.local,
                settings.remote,
                settings.force_encap,
            ));
        }
        let nat = peer_nat.unwrap_or(false) || (peer_nat.is_some() && settings.force_encap);
        let response = Message {
            header: Header {
                spi_r,
                flags: flags::RESPONSE,
                ..h
            },
            payloads,
        }
        .emit();
        let keys = ike_keys(
            chosen.prf,
            nonce_i,
            &nonce_r,
            &shared,
            h.spi_i,
            spi_r,
            chosen.aead.keymat_len(),
        );
        let sa = IkeSa {
            next_request_id: 0,
            peer_next_id: 2,
            pending: None,
            children: Vec::new(),
            child_template: None,
            cookie_rounds: 0,
            collision: None,
            rekeyed_to: None,
            delete_queued: false,
            nat,
            initiator: false,
            state: State::InitAnswered,
            sk_in: SkKey::new(chosen.aead, &keys.sk_ei),
            sk_out: SkKey::new(chosen.aead, &keys.sk_er),
            keys: Some(keys),
            settings,
            spi_i: h.spi_i,
            spi_r,
            chosen: Some(chosen),
            nonce_i: nonce_i.clone(),
            nonce_r,
            dh: None,
            init_request: datagram.to_vec(),
            init_response: response.clone(),
            child_spi_in,
            last_sent: response.clone(),
            sent_at_ns: now_ns,
            tries: 0,
            iv_counter: 0,
            cached_response: Some((0, response.clone())),
        };
        Ok((
            sa,
            Output {
                send: vec![response],
                events: Vec::new(),
            },
        ))
    }

    pub(super) fn on_init_response(&mut self, datagram: &[u8], now_ns: u64) -> Output {
        let Ok(m) = Message::parse(datagram) else {
            return Output::default();
        };
        if let Some(cookie) = m.payloads.iter().find_map(|p| match p {
            Payload::Notify { kind, data, .. } if *kind == notify::COOKIE => Some(data.clone()),
            _ => None,
        }) {
            return self.retry_with_cookie(cookie, now_ns);
        }
        if let Some(kind) = find_notify(&m.payloads) {
            return self.fail(if kind == notify::NO_PROPOSAL_CHOSEN {
                Event::NoProposal
            } else {
                Event::Refused(kind)
            });
        }
        let (
            Some(Payload::Sa(proposals)),
            Some(Payload::Ke { group, data }),
            Some(Payload::Nonce(nonce_r)),
        ) = (
            m.find(payload_type::SA),
            m.find(payload_type::KE),
            m.find(payload_type::NONCE),
        )
        else {
            return Output::default();
        };
        let Some(chosen) = (proposals.len() == 1)
            .then(|| as_ike_proposal(&proposals[0], &self.settings.ike))
            .flatten()
        else {
            return self.fail(Event::NoProposal);
        };
        let Some(dh) = self.dh.take() else {
            return Output::default();
        };
        if dh.group().id() != *group || chosen.group != dh.group() || m.header.spi_r == 0 {
            return self.fail(Event::Refused(notify::INVALID_KE_PAYLOAD));
        }
        let Some(shared) = dh.agree(data) else {
            return self.fail(Event::Refused(notify::INVALID_SYNTAX));
        };
        self.spi_r = m.header.spi_r;
        self.nat = match nat_between(
            &m.payloads,
            self.spi_i,
            self.spi_r,
            self.settings.local,
            self.settings.remote,
        ) {
            Some(nat) => nat || self.settings.force_encap,
            None => false,
        };
        self.nonce_r = nonce_r.clone();
        self.init_response = datagram.to_vec();
        let keys = ike_keys(
            chosen.prf,
            &self.nonce_i,
            &self.nonce_r,
            &shared,
            self.spi_i,
            self.spi_r,
            chosen.aead.keymat_len(),
        );
        self.sk_out = SkKey::new(chosen.aead, &keys.sk_ei);
        self.sk_in = SkKey::new(chosen.aead, &keys.sk_er);
        self.chosen = Some(chosen);
        let id = Payload::IdI {
            kind: ID_IPV4_ADDR,
            data: self.settings.local_id.octets().to_vec(),
        };
        let auth = psk_auth(
            chosen.prf,
            &self.settings.psk.local,
            &self.init_request,
            &self.nonce_r,
            &keys.sk_pi,
            &id_body(ID_IPV4_ADDR, &self.settings.local_id.octets()),
        );
        self.keys = Some(keys);
        let spi = self.child_spi_in.to_be_bytes().to_vec();
        let esp = self
            .settings
            .esp
            .iter()
            .enumerate()
            .map(|(i, a)| Proposal {
                number: (i + 1) as u8,
                protocol: protocol::ESP,
                spi: spi.clone(),
                transforms: esp_transforms(*a),
            })
            .collect();
        let inner = vec![
            id,
            Payload::Auth {
                method: AUTH_SHARED_KEY,
                data: auth,
            },
            Payload::Sa(esp),
            Payload::TsI(self.settings.local_ts.clone()),
            Payload::TsR(self.settings.remote_ts.clone()),
        ];
        let header = self.header(exchange::IKE_AUTH, 1, false);
        let Some(request) = self.seal(header, &inner) else {
            return self.fail(Event::Refused(notify::INVALID_SYNTAX));
        };
        self.state = State::AuthSent;
        self.last_sent = request.clone();
        self.sent_at_ns = now_ns;
        self.tries = 0;
        Output {
            send: vec![request],
            events: Vec::new(),
        }
    }

    pub(super) fn on_auth_response(&mut self, datagram: &[u8]) -> Output {
        let Some(Ok((_, inner))) = self.sk_in.as_ref().map(|k| k.open(datagram)) else {
            return Output::default();
        };
        if let Some(kind) = find_notify(&inner) {
            return self.fail(match kind {
                notify::AUTHENTICATION_FAILED => {
                    Event::AuthFailed("the peer refused our authentication".into())
                }
                notify::NO_PROPOSAL_CHOSEN => Event::NoProposal,
                k => Event::Refused(k),
            });
        }
        let (Some(chosen), Some(keys)) = (self.chosen, self.keys.as_ref()) else {
            return Output::default();
        };
        let find = |kind: u8| inner.iter().find(|p| p.kind() == kind);
        let (Some(Payload::IdR { kind, data }), Some(Payload::Auth { data: auth, .. })) =
            (find(payload_type::IDR), find(payload_type::AUTH))
        else {
            return self.fail(Event::Refused(notify::INVALID_SYNTAX));
        };
        let expected = psk_auth(
            chosen.prf,
            &self.settings.psk.remote,
            &self.init_response,
            &self.nonce_i,
            &keys.sk_pr,
            &id_body(*kind, data),
        );
        if !verify_auth(&expected, auth) {
            return self.fail(Event::AuthFailed(
                "the responder's AUTH does not verify with our pre-shared key".into(),
            ));
        }
        let child = match (
            find(payload_type::SA),
            find(payload_type::TSI),
            find(payload_type::TSR),
        ) {
            (Some(Payload::Sa(p)), Some(Payload::TsI(tsi)), Some(Payload::TsR(tsr)))
                if p.len() == 1 =>
            {
                let Some((aead, spi_out)) = as_esp_proposal(&p[0], &self.settings.esp) else {
                    return self.fail(Event::NoProposal);
                };
                let (i_to_r, r_to_i) = child_keys(
                    chosen.prf,
                    &keys.sk_d,
                    None,
                    &self.nonce_i,
                    &self.nonce_r,
                    aead.keymat_len(),
                );
                ChildSa {
                    aead,
                    spi_in: self.child_spi_in,
                    spi_out,
                    key_in: r_to_i,
                    key_out: i_to_r,
                    ts_local: tsi.clone(),
                    ts_remote: tsr.clone(),
                    udp_encap: self.nat,
                }
            }
            _ => return self.fail(Event::Refused(notify::INVALID_SYNTAX)),
        };
        self.state = State::Established;
        self.children.push((child.spi_in, child.spi_out));
        self.child_template = Some(child.clone());
        Output {
            send: Vec::new(),
            events: vec![Event::ChildUp(child)],
        }
    }

    pub(super) fn on_auth_request(&mut self, datagram: &[u8]) -> Output {
        let Some(Ok((header, inner))) = self.sk_in.as_ref().map(|k| k.open(datagram)) else {
            return Output::default();
        };
        let (Some(chosen), Some(keys)) = (self.chosen, self.keys.as_ref()) else {
            return Output::default();
        };
        let (sk_pi, sk_pr, sk_d) = (keys.sk_pi.clone(), keys.sk_pr.clone(), keys.sk_d.clone());
        let find = |kind: u8| inner.iter().find(|p| p.kind() == kind);
        let respond = |sa: &mut IkeSa, payloads: Vec<Payload>, event: Event, state: State| {
            let h = sa.header(exchange::IKE_AUTH, header.message_id, true);
            let Some(response) = sa.seal(h, &payloads) else {
                return Output::default();
            };
            sa.cached_response = Some((header.message_id, response.clone()));
            sa.state = state;
            Output {
                send: vec![response],
                events: vec![event],
            }
        };
        let (Some(Payload::IdI { kind, data }), Some(Payload::Auth { data: auth, .. })) =
            (find(payload_type::IDI), find(payload_type::AUTH))
        else {
            return respond(
                self,
                vec![notify(notify::INVALID_SYNTAX, Vec::new())],
                Event::Refused(notify::INVALID_SYNTAX),
                State::Failed,
            );
        };
        let expected = psk_auth(
            chosen.prf,
            &self.settings.psk.remote,
            &self.init_request,
            &self.nonce_r,
            &sk_pi,
            &id_body(*kind, data),
        );
        if !verify_auth(&expected, auth) {
            return respond(
                self,
                vec![notify(notify::AUTHENTICATION_FAILED, Vec::new())],
                Event::AuthFailed(
                    "the initiator's AUTH does not verify with our pre-shared key".into(),
                ),
                State::Failed,
            );
        }
        let (Some(Payload::Sa(proposals)), Some(Payload::TsI(tsi)), Some(Payload::TsR(tsr))) = (
            find(payload_type::SA),
            find(payload_type::TSI),
            find(payload_type::TSR),
        ) else {
            return respond(
                self,
                vec![notify(notify::INVALID_SYNTAX, Vec::new())],
                Event::Refused(notify::INVALID_SYNTAX),
                State::Failed,
            );
        };
        let Some((number, (aead, spi_out))) = proposals
            .iter()
            .find_map(|p| as_esp_proposal(p, &self.settings.esp).map(|c| (p.number, c)))
        else {
            return respond(
                self,
                vec![notify(notify::NO_PROPOSAL_CHOSEN, Vec::new())],
                Event::NoProposal,
                State::Failed,
            );
        };
        let ts_i = narrow(tsi, &self.settings.remote_ts);
        let ts_r = narrow(tsr, &self.settings.local_ts);
        if ts_i.is_empty() || ts_r.is_empty() {
            return respond(
                self,
                vec![notify(notify::TS_UNACCEPTABLE, Vec::new())],
                Event::Refused(notify::TS_UNACCEPTABLE),
                State::Failed,
            );
        }
        let id = self.settings.local_id.octets();
        let our_auth = psk_auth(
            chosen.prf,
            &self.settings.psk.local,
            &self.init_response,
            &self.nonce_i,
            &sk_pr,
            &id_body(ID_IPV4_ADDR, &id),
        );
        let (i_to_r, r_to_i) = child_keys(
            chosen.prf,
            &sk_d,
            None,
            &self.nonce_i,
            &self.nonce_r,
            aead.keymat_len(),
        );
        let child = ChildSa {
            aead,
            spi_in: self.child_spi_in,
            spi_out,
            key_in: i_to_r,
            key_out: r_to_i,
            ts_local: ts_r.clone(),
            ts_remote: ts_i.clone(),
            udp_encap: self.nat,
        };
        let payloads = vec![
            Payload::IdR {
                kind: ID_IPV4_ADDR,
                data: id.to_vec(),
            },
            Payload::Auth {
                method: AUTH_SHARED_KEY,
                data: our_auth,
            },
            Payload::Sa(vec![Proposal {
                number,
                protocol: protocol::ESP,
                spi: self.child_spi_in.to_be_bytes().to_vec(),
                transforms: esp_transforms(aead),
            }]),
            Payload::TsI(ts_i),
            Payload::TsR(ts_r),
        ];
        self.children.push((child.spi_in, child.spi_out));
        self.child_template = Some(child.clone());
        respond(self, payloads, Event::ChildUp(child), State::Established)
    }

    /// The responder asked for a cookie (RFC 7296 section 2.6): the same IKE_SA_INIT again
    /// with the cookie as its first payload. A responder that keeps asking is refused after
    /// [`MAX_COOKIE_ROUNDS`].
    pub(super) fn retry_with_cookie(&mut self, cookie: Vec<u8>, now_ns: u64) -> Output {
        self.cookie_rounds += 1;
        if cookie.is_empty() || cookie.len() > 64 || self.cookie_rounds > MAX_COOKIE_ROUNDS {
            return self.fail(Event::Refused(notify::INVALID_SYNTAX));
        }
        let Ok(mut m) = Message::parse(&self.init_request) else {
            return Output::default();
        };
        m.payloads
            .retain(|p| !matches!(p, Payload::Notify { kind, .. } if *kind == notify::COOKIE));
        m.payloads.insert(0, notify(notify::COOKIE, cookie));
        let request = m.emit();
        self.init_request = request.clone();
        self.last_sent = request.clone();
        self.sent_at_ns = now_ns;
        self.tries = 0;
        Output {
            send: vec![request],
            events: Vec::new(),
        }
    }
}
