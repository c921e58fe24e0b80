//! `link_records`: the decoders of device linking (`nightjar_crypto::link`):
//! the link code a user types or pastes, the joining device's request (read
//! by the existing device from the account's swarm), and the hello and
//! answer records (read by the joining device from the account's published
//! records).

use std::sync::OnceLock;

use nightjar_crypto::SeededRandom;
use nightjar_crypto::identity::{Identity, Seed};
use nightjar_crypto::link::{self, JoinerSession, JoinerState, LinkCode, LinkSecret, LinkerState};

use crate::mask::masked;

/// The seed of the account the reference link joins.
pub const LINK_ACCOUNT_SEED: [u8; 32] = [0x6c; 32];

/// The reference link code's secret `L`.
pub const LINK_CODE_SECRET: [u8; 32] = [0x4c; 32];

/// The payloads of the reference answer records 0 and 1.
pub const LINK_ANSWER_PAYLOADS: [&[u8]; 2] = [b"fuzz: account seed and device list", b""];

/// The reference link: both sides of one session and its records.
pub struct LinkFixture {
    /// The link code (account of [`LINK_ACCOUNT_SEED`], `L` = [`LINK_CODE_SECRET`]).
    pub code: LinkCode,
    /// The joining device before the hello.
    pub joiner: JoinerState,
    /// Its request.
    pub request: Vec<u8>,
    /// The existing device's session.
    pub linker: LinkerState,
    /// Its hello, which `joiner` accepts.
    pub hello: Vec<u8>,
    /// The joining device's session after the hello.
    pub session: JoinerSession,
    /// Answer records 0 and 1 ([`LINK_ANSWER_PAYLOADS`]).
    pub answers: Vec<Vec<u8>>,
}

fn build() -> Result<LinkFixture, link::LinkError> {
    let account = Identity::from_seed(Seed::from_bytes(LINK_ACCOUNT_SEED)).public_key();
    let code = LinkCode {
        account,
        secret: LinkSecret::from_bytes(LINK_CODE_SECRET),
    };
    let mut rng = SeededRandom::from_seed([0x1c; 32]);
    let (joiner, request) =
        link::seal_request_with(&mut rng, &code.secret, b"fuzz: joining device")?;
    let (linker, hello, _) = link::answer_hello_with(&mut rng, &code.secret, joiner.public())?;
    let (session, _) = joiner.open_hello(&code.secret, &hello)?;
    let answers = LINK_ANSWER_PAYLOADS
        .iter()
        .zip(0u32..)
        .map(|(payload, i)| linker.seal_answer(i, payload))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LinkFixture {
        code,
        joiner,
        request,
        linker,
        hello,
        session,
        answers,
    })
}

/// The reference link, built once (deterministically).
pub fn link_fixture() -> &'static LinkFixture {
    static FIXTURE: OnceLock<LinkFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| match build() {
        Ok(f) => f,
        Err(e) => panic!("cannot build the link fixture: {e}"),
    })
}

/// Fuzzes `LinkCode::parse`, `open_request`, `JoinerState::open_hello` and
/// `JoinerSession::open_answer`.
///
/// Checks, for each input:
/// 1. Raw: none of them panics. A code that parses (lossy UTF-8) prints to
///    a text that parses back to it. An accepted request is 49 bytes plus
///    its payload; an accepted hello is the reference hello (nobody else
///    knows `L` and `S`); an accepted answer is re-sealed byte for byte by
///    the reference linker from its index and payload.
/// 2. Structured: the reference request, hello and answers XORed with the
///    input open only when the mask is all zero; a refused hello leaves the
///    joiner able to open the reference hello.
pub fn link_records(data: &[u8]) {
    let f = link_fixture();
    let l = &f.code.secret;

    let text = String::from_utf8_lossy(data);
    if let Ok(code) = LinkCode::parse(&text) {
        let printed = code.to_text();
        match LinkCode::parse(&printed) {
            Ok(again) => assert_eq!(again, code, "a link code changed across its text"),
            Err(e) => panic!("a printed link code does not parse: {e}"),
        }
    }

    if let Ok((_, payload)) = link::open_request(l, data) {
        assert_eq!(
            data.len(),
            link::REQUEST_OVERHEAD + payload.len(),
            "a request's length is not its payload's plus the overhead"
        );
    }
    if f.joiner.open_hello(l, data).is_ok() {
        assert_eq!(
            data,
            &f.hello[..],
            "a hello other than the reference opened"
        );
    }
    if let Ok((index, payload)) = f.session.open_answer(data) {
        match f.linker.seal_answer(index, &payload) {
            Ok(again) => assert_eq!(again, data, "an answer did not re-seal to itself"),
            Err(e) => panic!("an opened answer's payload does not seal: {e}"),
        }
    }

    let (request, altered) = masked(&f.request, data);
    match link::open_request(l, &request) {
        Ok(_) if altered => panic!("an altered request opened"),
        Ok((e_j, payload)) => {
            assert_eq!(&e_j, f.joiner.public());
            assert_eq!(&payload[..], b"fuzz: joining device");
        }
        Err(e) if !altered => panic!("the reference request failed to open: {e}"),
        Err(_) => {}
    }
    let (hello, altered) = masked(&f.hello, data);
    match f.joiner.open_hello(l, &hello) {
        Ok(_) if altered => panic!("an altered hello opened"),
        Ok((_, sas)) => assert_eq!(sas, f.linker.sas(), "the SAS differs between the sides"),
        Err(e) if !altered => panic!("the reference hello failed: {e}"),
        Err(_) => assert!(
            f.joiner.open_hello(l, &f.hello).is_ok(),
            "a refused hello spoiled the joiner"
        ),
    }
    for (reference, (payload, i)) in f
        .answers
        .iter()
        .zip(LINK_ANSWER_PAYLOADS.iter().zip(0u32..))
    {
        let (answer, altered) = masked(reference, data);
        match f.session.open_answer(&answer) {
            Ok(_) if altered => panic!("an altered answer opened"),
            Ok((index, opened)) => {
                assert_eq!(index, i);
                assert_eq!(&opened[..], *payload);
            }
            Err(e) if !altered => panic!("a reference answer failed to open: {e}"),
            Err(_) => {}
        }
    }
}
