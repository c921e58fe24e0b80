#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use crate::dh::{DhPublic, DhSecret};
use crate::identity::{Identity, PublicKey, Seed};
use crate::random::SeededRandom;
use bech32::{Bech32, Bech32m, Hrp};

fn account() -> PublicKey {
    Identity::from_seed(Seed::from_bytes([0x42; 32])).public_key()
}

fn rng(byte: u8) -> SeededRandom {
    SeededRandom::from_seed([byte; 32])
}

fn secret(byte: u8) -> LinkSecret {
    LinkSecret::from_bytes([byte; 32])
}

/// The joiner's state, the request, the linker's state, the hello and both SASes.
struct Run {
    joiner: JoinerState,
    request: Vec<u8>,
    linker: LinkerState,
    hello: Vec<u8>,
    linker_sas: Sas,
}

fn run(code: &LinkSecret, seed: u8) -> Run {
    let (joiner, request) = seal_request_with(&mut rng(seed), code, b"device info").unwrap();
    let (e_j, _) = open_request(code, &request).unwrap();
    let (linker, hello, linker_sas) =
        answer_hello_with(&mut rng(seed.wrapping_add(100)), code, &e_j).unwrap();
    Run {
        joiner,
        request,
        linker,
        hello,
        linker_sas,
    }
}

fn decrypt_failed(what: &'static str) -> LinkError {
    LinkError::DecryptFailed { what }
}

#[test]
fn a_whole_link_round_trips_between_joiner_and_linker() {
    // X shows a code; J enters its text.
    let code = LinkCode::generate_with(&mut rng(1), account()).unwrap();
    let entered = LinkCode::parse(&code.to_text()).unwrap();
    assert_eq!(entered, code);

    let (joiner, request) =
        seal_request_with(&mut rng(2), &entered.secret, b"name: laptop").unwrap();
    assert_eq!(request.len(), REQUEST_OVERHEAD + 12);
    assert_eq!(request[0], REQUEST_VERSION);

    let (e_j, payload) = open_request(&code.secret, &request).unwrap();
    assert_eq!(&e_j, joiner.public());
    assert_eq!(&payload[..], b"name: laptop");

    let (linker, hello, x_sas) = answer_hello_with(&mut rng(3), &code.secret, &e_j).unwrap();
    assert_eq!(hello.len(), HELLO_LEN);
    assert_eq!(hello[0], HELLO_KIND);
    assert_eq!(&hello[1..33], linker.linker_public().as_bytes());

    let (session, j_sas) = joiner.open_hello(&entered.secret, &hello).unwrap();
    assert_eq!(j_sas, x_sas, "both devices show the same SAS");
    assert_eq!(session.sas(), linker.sas());
    assert_eq!(session.linker_public(), linker.linker_public());
    assert_eq!(session.joiner_public(), linker.joiner_public());
    assert!(j_sas.value() < SAS_MODULUS);

    let chunks: [&[u8]; 4] = [
        b"seed and device list",
        b"",
        &[7u8; MAX_ANSWER_PAYLOAD],
        b"end",
    ];
    for (i, chunk) in chunks.iter().enumerate() {
        let index = u32::try_from(i).unwrap() * 1000;
        let record = linker.seal_answer(index, chunk).unwrap();
        assert_eq!(record.len(), ANSWER_OVERHEAD + chunk.len());
        assert_eq!(record[0], ANSWER_KIND);
        assert_eq!(&record[33..37], &index.to_be_bytes());
        let (got_index, got) = session.open_answer(&record).unwrap();
        assert_eq!(got_index, index);
        assert_eq!(&got[..], *chunk);
    }
    let last = linker.seal_answer(u32::MAX, b"x").unwrap();
    assert_eq!(session.open_answer(&last).unwrap().0, u32::MAX);
}

#[test]
fn another_code_secret_fails_at_the_request_and_at_the_hello() {
    let (right, wrong) = (secret(1), secret(2));
    let r = run(&right, 10);
    assert_eq!(
        open_request(&wrong, &r.request).unwrap_err(),
        decrypt_failed("link request")
    );
    // J holds another code than X: X's hello does not check out.
    assert_eq!(
        r.joiner.open_hello(&wrong, &r.hello).unwrap_err(),
        decrypt_failed("link hello")
    );
    // X answers J's key with another code: refused too.
    let (_, hello, _) = answer_hello_with(&mut rng(11), &wrong, r.joiner.public()).unwrap();
    assert_eq!(
        r.joiner.open_hello(&right, &hello).unwrap_err(),
        decrypt_failed("link hello")
    );
    assert!(r.joiner.open_hello(&right, &r.hello).is_ok());
}

#[test]
fn a_hello_for_another_request_is_refused() {
    let code = secret(3);
    let first = run(&code, 20);
    let second = run(&code, 21);
    assert_ne!(first.joiner.public(), second.joiner.public());
    assert_eq!(
        first.joiner.open_hello(&code, &second.hello).unwrap_err(),
        decrypt_failed("link hello")
    );
    // A failed hello leaves the state as it was: the right one still opens.
    let (_, sas) = first.joiner.open_hello(&code, &first.hello).unwrap();
    assert_eq!(sas, first.linker_sas);
}

#[test]
fn an_answer_from_another_session_is_refused() {
    let code = secret(4);
    let first = run(&code, 30);
    let (session, _) = first.joiner.open_hello(&code, &first.hello).unwrap();

    // Another E_X for the same joiner: the record is another session's.
    let (other_x, _, _) = answer_hello_with(&mut rng(31), &code, first.joiner.public()).unwrap();
    assert_ne!(other_x.linker_public(), first.linker.linker_public());
    let record = other_x.seal_answer(0, b"not yours").unwrap();
    assert_eq!(
        session.open_answer(&record).unwrap_err(),
        LinkError::OtherSession
    );

    // The same E_X (the same e_X drawn) answering another joiner: the
    // record names this session's E_X but was sealed for another E_J.
    let second = run(&code, 32);
    let (same_x, _, _) = answer_hello_with(&mut rng(130), &code, second.joiner.public()).unwrap();
    assert_eq!(same_x.linker_public(), first.linker.linker_public());
    let record = same_x.seal_answer(0, b"not yours either").unwrap();
    assert_eq!(
        session.open_answer(&record).unwrap_err(),
        decrypt_failed("link answer")
    );
}

#[test]
fn a_record_moved_to_another_index_does_not_open() {
    let code = secret(5);
    let r = run(&code, 40);
    let (session, _) = r.joiner.open_hello(&code, &r.hello).unwrap();
    let mut record = r.linker.seal_answer(1, b"chunk one").unwrap();
    record[33..37].copy_from_slice(&2u32.to_be_bytes());
    assert_eq!(
        session.open_answer(&record).unwrap_err(),
        decrypt_failed("link answer")
    );
}

#[test]
fn every_flipped_bit_is_refused_in_requests_hellos_and_answers() {
    let code = secret(6);
    let r = run(&code, 50);
    let (session, _) = r.joiner.open_hello(&code, &r.hello).unwrap();
    let answer = r.linker.seal_answer(3, b"history").unwrap();
    for i in 0..r.request.len() * 8 {
        let mut bad = r.request.clone();
        bad[i / 8] ^= 1 << (i % 8);
        let err = open_request(&code, &bad).unwrap_err();
        if i < 8 {
            assert!(matches!(err, LinkError::UnexpectedKind { .. }), "{err:?}");
        } else {
            assert_eq!(err, decrypt_failed("link request"), "bit {i}");
        }
    }
    for i in 0..r.hello.len() * 8 {
        let mut bad = r.hello.clone();
        bad[i / 8] ^= 1 << (i % 8);
        let err = r.joiner.open_hello(&code, &bad).unwrap_err();
        if i < 8 {
            assert!(matches!(err, LinkError::UnexpectedKind { .. }), "{err:?}");
        } else {
            assert_eq!(err, decrypt_failed("link hello"), "bit {i}");
        }
    }
    for i in 0..answer.len() * 8 {
        let mut bad = answer.clone();
        bad[i / 8] ^= 1 << (i % 8);
        let err = session.open_answer(&bad).unwrap_err();
        let expected = match i / 8 {
            0 => {
                assert!(matches!(err, LinkError::UnexpectedKind { .. }), "{err:?}");
                continue;
            }
            1..=32 => LinkError::OtherSession,
            _ => decrypt_failed("link answer"),
        };
        assert_eq!(err, expected, "bit {i}");
    }
}

#[test]
fn the_sas_is_the_same_on_both_sides_and_differs_for_another_e_x() {
    let code = secret(7);
    let r = run(&code, 60);
    let (_, j_sas) = r.joiner.open_hello(&code, &r.hello).unwrap();
    assert_eq!(j_sas, r.linker_sas);
    assert_eq!(j_sas.to_string(), r.linker_sas.to_string());
    let (other, other_hello, other_sas) =
        answer_hello_with(&mut rng(61), &code, r.joiner.public()).unwrap();
    assert_ne!(other.linker_public(), r.linker.linker_public());
    assert_ne!(other_sas, r.linker_sas);
    let (_, j_other) = r.joiner.open_hello(&code, &other_hello).unwrap();
    assert_eq!(j_other, other_sas);
}

#[test]
fn the_sas_shows_six_digits_with_a_space_in_the_middle() {
    assert_eq!(Sas(42_917).to_string(), "042 917");
    assert_eq!(Sas(0).to_string(), "000 000");
    assert_eq!(Sas(999_999).to_string(), "999 999");
    assert_eq!(Sas(1_000).to_string(), "001 000");
    assert_eq!(Sas(7).value(), 7);
}

#[test]
fn small_order_keys_are_refused_on_both_sides() {
    let code = secret(8);
    let mut one = [0u8; 32];
    one[0] = 1;
    for point in [[0u8; 32], one] {
        assert_eq!(
            answer_hello_with(&mut rng(70), &code, &DhPublic::from_bytes(point)).unwrap_err(),
            LinkError::LowOrderPoint
        );
        let (joiner, _) = seal_request_with(&mut rng(71), &code, b"").unwrap();
        let mut hello = vec![HELLO_KIND];
        hello.extend_from_slice(&point);
        hello.extend_from_slice(&[0u8; 16]);
        assert_eq!(
            joiner.open_hello(&code, &hello).unwrap_err(),
            LinkError::LowOrderPoint
        );
    }
}

#[test]
fn sizes_are_checked_before_anything_else() {
    let code = secret(9);
    let max = vec![1u8; MAX_REQUEST_PAYLOAD];
    let (joiner, request) = seal_request_with(&mut rng(80), &code, &max).unwrap();
    assert_eq!(request.len(), MAX_REQUEST_LEN);
    assert_eq!(&open_request(&code, &request).unwrap().1[..], &max[..]);
    assert_eq!(
        seal_request_with(&mut rng(80), &code, &[0u8; MAX_REQUEST_PAYLOAD + 1]).unwrap_err(),
        LinkError::PayloadTooLarge {
            what: "link request",
            len: MAX_REQUEST_PAYLOAD + 1,
            max: MAX_REQUEST_PAYLOAD
        }
    );
    let mut long = request.clone();
    long.push(0);
    assert_eq!(
        open_request(&code, &long).unwrap_err(),
        LinkError::TooLarge {
            what: "link request",
            len: MAX_REQUEST_LEN + 1,
            max: MAX_REQUEST_LEN
        }
    );
    // Too large wins over a wrong first byte.
    long[0] = 9;
    assert!(matches!(
        open_request(&code, &long),
        Err(LinkError::TooLarge { .. })
    ));
    for len in [0, 1, 33, REQUEST_OVERHEAD - 1] {
        assert_eq!(
            open_request(&code, &request[..len]).unwrap_err(),
            LinkError::Truncated {
                what: "link request",
                len
            }
        );
    }
    assert_eq!(
        open_request(&code, &[0x02]).unwrap_err(),
        LinkError::UnexpectedKind {
            what: "link request",
            expected: 1,
            got: 2
        }
    );
    // The empty payload: exactly the overhead.
    let (_, empty) = seal_request_with(&mut rng(81), &code, b"").unwrap();
    assert_eq!(empty.len(), REQUEST_OVERHEAD);
    assert!(open_request(&code, &empty).unwrap().1.is_empty());

    let (linker, hello, _) = answer_hello_with(&mut rng(82), &code, joiner.public()).unwrap();
    let mut long_hello = hello.clone();
    long_hello.push(0);
    assert_eq!(
        joiner.open_hello(&code, &long_hello).unwrap_err(),
        LinkError::TooLarge {
            what: "link hello",
            len: HELLO_LEN + 1,
            max: HELLO_LEN
        }
    );
    for len in [0, 1, HELLO_LEN - 1] {
        assert_eq!(
            joiner.open_hello(&code, &hello[..len]).unwrap_err(),
            LinkError::Truncated {
                what: "link hello",
                len
            }
        );
    }
    let (session, _) = joiner.open_hello(&code, &hello).unwrap();
    let answer = linker
        .seal_answer(0, &vec![2u8; MAX_ANSWER_PAYLOAD])
        .unwrap();
    assert_eq!(answer.len(), MAX_ANSWER_LEN);
    assert!(session.open_answer(&answer).is_ok());
    assert_eq!(
        linker
            .seal_answer(0, &vec![2u8; MAX_ANSWER_PAYLOAD + 1])
            .unwrap_err(),
        LinkError::PayloadTooLarge {
            what: "link answer",
            len: MAX_ANSWER_PAYLOAD + 1,
            max: MAX_ANSWER_PAYLOAD
        }
    );
    let mut long_answer = answer.clone();
    long_answer.push(0);
    assert!(matches!(
        session.open_answer(&long_answer),
        Err(LinkError::TooLarge { .. })
    ));
    let short = linker.seal_answer(1, b"").unwrap();
    assert_eq!(short.len(), ANSWER_OVERHEAD);
    for len in [0, 1, 33, 37, ANSWER_OVERHEAD - 1] {
        assert_eq!(
            session.open_answer(&short[..len]).unwrap_err(),
            LinkError::Truncated {
                what: "link answer",
                len
            }
        );
    }
}

#[test]
fn hellos_and_answers_are_told_apart_by_their_first_byte() {
    let code = secret(10);
    let r = run(&code, 90);
    let (session, _) = r.joiner.open_hello(&code, &r.hello).unwrap();
    let answer = r.linker.seal_answer(0, b"").unwrap();
    assert_eq!(
        r.joiner
            .open_hello(&code, &answer[..HELLO_LEN])
            .unwrap_err(),
        LinkError::UnexpectedKind {
            what: "link hello",
            expected: HELLO_KIND,
            got: ANSWER_KIND
        }
    );
    let mut padded_hello = r.hello.clone();
    padded_hello.extend_from_slice(&[0u8; 4]);
    assert_eq!(
        session.open_answer(&padded_hello).unwrap_err(),
        LinkError::UnexpectedKind {
            what: "link answer",
            expected: ANSWER_KIND,
            got: HELLO_KIND
        }
    );
}

#[test]
fn answers_are_deterministic_per_session_and_index() {
    let code = secret(11);
    let r = run(&code, 95);
    assert_eq!(
        r.linker.seal_answer(5, b"same").unwrap(),
        r.linker.seal_answer(5, b"same").unwrap()
    );
    assert_ne!(
        r.linker.seal_answer(5, b"same").unwrap(),
        r.linker.seal_answer(6, b"same").unwrap()
    );
}

// --- link codes ----------------------------------------------------------------

fn encode(hrp: &str, data: &[u8]) -> String {
    bech32::encode::<Bech32m>(Hrp::parse(hrp).unwrap(), data).unwrap()
}

fn code_data(version: u8, account: &[u8; 32], l: &[u8; 32]) -> Vec<u8> {
    let mut data = vec![version];
    data.extend_from_slice(account);
    data.extend_from_slice(l);
    data
}

#[test]
fn a_code_is_117_lowercase_characters_and_parses_back() {
    let code = LinkCode {
        account: account(),
        secret: secret(0x5c),
    };
    let text = code.to_text();
    assert_eq!(text.len(), LINK_CODE_LEN);
    assert!(text.starts_with("njlink1"));
    assert_eq!(*text, text.to_lowercase());
    assert_eq!(
        *text,
        encode("njlink", &code_data(1, account().as_bytes(), &[0x5c; 32]))
    );
    assert_eq!(LinkCode::parse(&text).unwrap(), code);
    assert_eq!(text.parse::<LinkCode>().unwrap(), code);
    let upper = code.to_text_upper();
    assert_eq!(*upper, text.to_uppercase());
    assert_eq!(LinkCode::parse(&upper).unwrap(), code);
}

#[test]
fn parsing_ignores_whitespace_anywhere() {
    let code = LinkCode {
        account: account(),
        secret: secret(0x11),
    };
    let text = code.to_text();
    let wrapped = format!("  {}\n{}\t{} \r\n", &text[..40], &text[40..80], &text[80..]);
    assert_eq!(LinkCode::parse(&wrapped).unwrap(), code);
}

#[test]
fn malformed_codes_give_precise_errors() {
    let code = LinkCode {
        account: account(),
        secret: secret(0x33),
    };
    let text = code.to_text().to_string();

    // Mixed case, characters outside bech32, no separator, empty.
    let mixed = format!("NJLINK1{}", &text[7..]);
    for bad in [mixed.as_str(), "njlink1bbbbbb", "hello", ""] {
        let got = LinkCode::parse(bad).unwrap_err();
        assert!(
            matches!(got, LinkError::CodeMalformed | LinkError::CodeLength { .. }),
            "{bad:?}: {got:?}"
        );
    }
    assert_eq!(
        LinkCode::parse(&mixed).unwrap_err(),
        LinkError::CodeMalformed
    );
    assert_eq!(
        LinkCode::parse("hello").unwrap_err(),
        LinkError::CodeMalformed
    );

    // An Account ID is not a link code.
    let account_id = account().account_id().to_string();
    assert_eq!(
        LinkCode::parse(&account_id).unwrap_err(),
        LinkError::CodeWrongPrefix("nj".into())
    );

    // One character changed: the checksum catches it.
    let mut chars: Vec<char> = text.chars().collect();
    chars[50] = if chars[50] == 'q' { 'p' } else { 'q' };
    let changed: String = chars.into_iter().collect();
    assert_eq!(
        LinkCode::parse(&changed).unwrap_err(),
        LinkError::CodeChecksum
    );

    // bech32 (not bech32m) checksum over the right data.
    let data = code_data(1, account().as_bytes(), &[0x33; 32]);
    let old = bech32::encode::<Bech32>(Hrp::parse("njlink").unwrap(), &data).unwrap();
    assert_eq!(LinkCode::parse(&old).unwrap_err(), LinkError::CodeChecksum);

    // Too short, too long (each a valid bech32m string).
    assert_eq!(
        LinkCode::parse(&text[..116]).unwrap_err(),
        LinkError::CodeLength { chars: 116 }
    );
    let short = encode("njlink", &data[..64]);
    assert_eq!(
        LinkCode::parse(&short).unwrap_err(),
        LinkError::CodeLength { chars: short.len() }
    );
    let mut longer = data.clone();
    longer.push(0);
    let long = encode("njlink", &longer);
    assert_eq!(
        LinkCode::parse(&long).unwrap_err(),
        LinkError::CodeLength { chars: long.len() }
    );

    // Another version.
    let v2 = encode("njlink", &code_data(2, account().as_bytes(), &[0x33; 32]));
    assert_eq!(v2.len(), LINK_CODE_LEN);
    assert_eq!(
        LinkCode::parse(&v2).unwrap_err(),
        LinkError::CodeUnknownVersion(2)
    );

    // An account key that is not a valid Ed25519 key (a small-order point).
    let bad_account = encode("njlink", &code_data(1, &[0u8; 32], &[0x33; 32]));
    assert_eq!(
        LinkCode::parse(&bad_account).unwrap_err(),
        LinkError::CodeInvalidAccount
    );
}

#[test]
fn secrets_never_show_in_debug() {
    let code = LinkCode {
        account: account(),
        secret: secret(0xab),
    };
    let debug = format!("{code:?}");
    assert!(!debug.contains("abab"), "{debug}");
    assert!(!debug.contains(&code.to_text()[10..30]), "{debug}");
    assert!(debug.contains("LinkSecret([redacted])"), "{debug}");
    assert_eq!(format!("{:?}", secret(1)), "LinkSecret([redacted])");

    let (joiner, _) = seal_request_with(&mut rng(100), &code.secret, b"").unwrap();
    let (linker, hello, _) =
        answer_hello_with(&mut rng(101), &code.secret, joiner.public()).unwrap();
    let (session, _) = joiner.open_hello(&code.secret, &hello).unwrap();
    for debug in [
        format!("{joiner:?}"),
        format!("{linker:?}"),
        format!("{session:?}"),
    ] {
        assert!(!debug.contains("abab"), "{debug}");
        assert!(debug.contains("[redacted]"), "{debug}");
    }
    // e_J's bytes are not in the joiner's Debug.
    let mut draw = rng(100);
    let e_j = DhSecret::generate_with(&mut draw).unwrap();
    let hex: String = e_j.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert!(!format!("{joiner:?}").contains(&hex[..16]));
}

#[test]
fn link_secrets_compare_by_value() {
    assert_eq!(secret(1), secret(1));
    assert_ne!(secret(1), secret(2));
    let mut bytes = [1u8; 32];
    bytes[31] = 0;
    assert_ne!(secret(1), LinkSecret::from_bytes(bytes));
}
