//! The driver's circuits: a UDP socket to the guards, and sending a
//! mailbox request through the account's circuit (building or rebuilding
//! it as [`crate::circuit`] says). Moves bytes and waits; the circuit logic
//! decides what a cell means. When a circuit cannot carry a request, the
//! caller sends it through v1 layers instead.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use nightjar_crypto::OsRandom;
use nightjar_registry::NodeEntry;
use nightjar_types::AccountKey;
use nightjar_wire::{Request, Response};
use tokio::net::UdpSocket;

use super::{Client, pick};
use crate::circuit::{
    CIRCUIT_BUILD_TIMEOUT_MS, CIRCUIT_RETRY_AFTER_MS, CircuitEvent, CircuitRefusal, ClientCircuit,
    cell_circuit,
};
use crate::{clock, logic};

/// What the client's circuits did (for tests and benchmarks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CircuitUse {
    /// Circuits built (*created* received).
    pub built: u64,
    /// Circuits that failed to build.
    pub build_failures: u64,
    /// Requests answered through a circuit.
    pub answered: u64,
    /// Circuits dropped because they broke or an answer did not come.
    pub broken: u64,
    /// Circuits replaced because they were too old for a new request.
    pub aged_out: u64,
    /// Mailbox requests that went through v1 layers after all.
    pub fallbacks: u64,
    /// Times an account's circuits were set aside for
    /// [`CIRCUIT_RETRY_AFTER_MS`] after failing.
    pub paused: u64,
}

/// Why a request did not get an answer through a circuit.
enum Miss {
    /// Try again on a new circuit.
    Rebuild,
    /// Send it through v1 layers.
    Fallback,
}

impl Client {
    /// Whether mailbox requests go through per-account circuits (on by
    /// default); off sends everything through one-shot v1 layers.
    pub fn set_circuits(&mut self, enabled: bool) {
        self.circuits_enabled = enabled;
    }

    /// What the circuits did so far.
    pub fn circuit_use(&self) -> CircuitUse {
        self.circuit_use
    }

    /// The circuits kept now: the account each carries requests for, its
    /// path (guard first, exit last) and whether it is ready.
    pub fn circuits(&self) -> Vec<(AccountKey, Vec<NodeEntry>, bool)> {
        self.circuits
            .values()
            .map(|c| (*c.account(), c.hops().to_vec(), c.is_ready()))
            .collect()
    }

    async fn cell_socket(&mut self) -> Option<&UdpSocket> {
        if self.cell_socket.is_none() {
            let ip = match self.bind_ip {
                IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                ip => ip,
            };
            match UdpSocket::bind(SocketAddr::new(ip, 0)).await {
                Ok(s) => self.cell_socket = Some(s),
                Err(e) => {
                    tracing::debug!(error = %e, "cannot bind the circuit socket");
                    return None;
                }
            }
        }
        self.cell_socket.as_ref()
    }

    /// `req`, a request for `account`'s mailbox, through the account's
    /// circuit to `dest`; `None` when it must go through v1 layers instead
    /// (no path, no circuit after one rebuild, a refusal, an answer too
    /// large for circuits, or the account's circuits failed less than
    /// [`CIRCUIT_RETRY_AFTER_MS`] ago).
    pub(super) async fn call_circuit(
        &mut self,
        dest: &NodeEntry,
        account: AccountKey,
        req: &Request,
        work: Duration,
    ) -> Option<Response> {
        let now = clock::unix_now_ms();
        self.circuit_pauses.retain(|_, until| *until > now);
        if self.circuit_pauses.contains_key(&account) {
            self.circuit_use.fallbacks += 1;
            return None;
        }
        let frame = req.to_frame();
        for attempt in 0..2 {
            if !self.ensure_circuit(dest, account).await {
                self.pause_circuits(account);
                break;
            }
            match self.ask_circuit(account, &frame, work).await {
                Ok(resp) => {
                    self.circuit_use.answered += 1;
                    return Some(resp);
                }
                Err(Miss::Fallback) => break,
                Err(Miss::Rebuild) => {
                    self.circuit_use.broken += 1;
                    self.drop_circuit(&account).await;
                    if attempt == 1 {
                        self.pause_circuits(account);
                    }
                }
            }
        }
        self.circuit_use.fallbacks += 1;
        None
    }

    /// `account`'s mailbox requests go through v1 layers for
    /// [`CIRCUIT_RETRY_AFTER_MS`]: a circuit that cannot be built or fails
    /// again cannot say which hop is gone, v1 layers can (and change paths).
    fn pause_circuits(&mut self, account: AccountKey) {
        self.circuit_use.paused += 1;
        self.circuit_pauses
            .insert(account, clock::unix_now_ms() + CIRCUIT_RETRY_AFTER_MS);
    }

    async fn drop_circuit(&mut self, account: &AccountKey) {
        if let Some(mut old) = self.circuits.remove(account) {
            let destroy = old.close();
            let to = old.guard().addr;
            if let Some(socket) = self.cell_socket().await {
                let _ = socket.send_to(&destroy, to).await;
            }
        }
    }

    /// A ready circuit for `account` ending at `dest`, building one if
    /// needed; false if none could be built.
    async fn ensure_circuit(&mut self, dest: &NodeEntry, account: AccountKey) -> bool {
        let now = clock::unix_now_ms();
        if let Some(c) = self.circuits.get(&account) {
            match c.check(&account, now) {
                Ok(()) if c.exit() == dest => return true,
                Err(CircuitRefusal::TooOld) => self.circuit_use.aged_out += 1,
                _ => {}
            }
            self.drop_circuit(&account).await;
        }
        let mut rng = pick;
        if self.paths.ensure_guards(&self.nodes, &mut rng)
            && let Err(e) = self.save_guards()
        {
            tracing::debug!(error = %e, "cannot save the guards");
        }
        let path = match self.paths.path_for(&self.nodes, dest, now, &mut rng) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(error = %e, "no path for a circuit");
                return false;
            }
        };
        let mut hops: Vec<NodeEntry> = path.hops.to_vec();
        hops.push(dest.clone());
        let (circuit, create) = match ClientCircuit::build(&mut OsRandom, now, account, &hops) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "cannot build a circuit");
                return false;
            }
        };
        let guard = circuit.guard().addr;
        let id = circuit.id();
        self.circuits.insert(account, circuit);
        let Some(socket) = self.cell_socket().await else {
            self.circuits.remove(&account);
            return false;
        };
        if let Err(e) = socket.send_to(&create, guard).await {
            tracing::debug!(error = %e, "cannot send a create cell");
        }
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(CIRCUIT_BUILD_TIMEOUT_MS);
        loop {
            match self.next_event(deadline).await {
                Some((cid, CircuitEvent::Created)) if cid == id => {
                    self.circuit_use.built += 1;
                    return true;
                }
                Some((cid, CircuitEvent::Broken(why))) if cid == id => {
                    tracing::debug!(why, "circuit failed while building");
                    break;
                }
                Some(_) => continue,
                None => break,
            }
        }
        self.circuit_use.build_failures += 1;
        self.drop_circuit(&account).await;
        false
    }

    async fn ask_circuit(
        &mut self,
        account: AccountKey,
        frame: &[u8],
        work: Duration,
    ) -> Result<Response, Miss> {
        let now = clock::unix_now_ms();
        let circuit = self.circuits.get_mut(&account).ok_or(Miss::Rebuild)?;
        let (request_id, cells) = match circuit.request(&account, frame, now) {
            Ok(r) => r,
            Err(CircuitRefusal::TooLarge(_)) | Err(CircuitRefusal::OtherAccount) => {
                return Err(Miss::Fallback);
            }
            Err(_) => return Err(Miss::Rebuild),
        };
        let (id, guard) = (circuit.id(), circuit.guard().addr);
        let socket = self.cell_socket().await.ok_or(Miss::Fallback)?;
        let sent_at = clock::unix_now_ms();
        for cell in &cells {
            if let Err(e) = socket.send_to(cell, guard).await {
                tracing::debug!(error = %e, "cannot send a cell");
                return Err(Miss::Rebuild);
            }
        }
        let deadline = tokio::time::Instant::now() + crate::call::guard_timeout(3, work);
        loop {
            match self.next_event(deadline).await {
                Some((
                    cid,
                    CircuitEvent::Answer {
                        request_id: r,
                        frame,
                    },
                )) if cid == id && r == request_id => {
                    let received_at = clock::unix_now_ms();
                    let resp = Response::from_frame(&frame).map_err(|_| Miss::Rebuild)?;
                    self.clock
                        .add(logic::clock_offset(sent_at, received_at, resp.node_time_ms));
                    return Ok(resp);
                }
                Some((
                    cid,
                    CircuitEvent::Refused {
                        request_id: r,
                        code,
                    },
                )) if cid == id && r == request_id => {
                    tracing::debug!(code, "the exit refused a request on the circuit");
                    return Err(if code == 3 {
                        Miss::Rebuild
                    } else {
                        Miss::Fallback
                    });
                }
                Some((cid, CircuitEvent::Broken(why))) if cid == id => {
                    tracing::debug!(why, "circuit broke");
                    return Err(Miss::Rebuild);
                }
                Some(_) => continue,
                None => {
                    if let Some(c) = self.circuits.get_mut(&account) {
                        c.abandon(request_id);
                    }
                    return Err(Miss::Rebuild);
                }
            }
        }
    }

    /// The next event of any circuit, until `deadline`.
    async fn next_event(
        &mut self,
        deadline: tokio::time::Instant,
    ) -> Option<(nightjar_crypto::circuit::CircuitId, CircuitEvent)> {
        let mut buf = vec![0u8; 2048];
        loop {
            let socket = self.cell_socket.as_ref()?;
            let (len, from) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf))
                .await
                .ok()?
                .ok()?;
            let datagram = buf.get(..len)?;
            let Some(id) = cell_circuit(datagram) else {
                continue;
            };
            let Some(circuit) = self
                .circuits
                .values_mut()
                .find(|c| c.id() == id && c.guard().addr == from)
            else {
                continue;
            };
            if let Some(event) = circuit.handle_cell(datagram) {
                return Some((id, event));
            }
        }
    }

    /// Closes every circuit (a `destroy` to each guard).
    pub(super) async fn close_circuits(&mut self) {
        let accounts: Vec<AccountKey> = self.circuits.keys().copied().collect();
        for account in accounts {
            self.drop_circuit(&account).await;
        }
    }
}
