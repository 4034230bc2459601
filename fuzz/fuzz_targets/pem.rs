//! Certificates and private keys as they arrive from config files (PEM, optionally encrypted)
//! and from TLS handshakes (a client's DER chain): no input may panic.
//!
//! Every input is tried both ways, so plain PEM and DER files serve as seeds:
//! * as a PEM file: parsed as a certificate file, as a private-key file without a password
//!   and, when it mentions `ENCRYPTED`, with the test vectors' password `correct_password`,
//!   and as `kes identity` inspects it; every certificate found is inspected field by field;
//! * as a client's certificate chain: split into DER certificates at each `\0\0\0\0` (one
//!   certificate when there is none) and its identity taken, as after a TLS handshake.

#![no_main]

use kes_policy::{Certificate, PemItem, client_identity, first_pem_item, parse_certificates};
use libfuzzer_sys::fuzz_target;

fn inspect(cert: &Certificate) {
    let _ = cert.identity();
    let _ = cert.is_ca();
    let _ = cert.dns_names();
    let _ = cert.ip_addresses();
    let _ = cert.check_server_san();
    let _ = cert.common_name();
    let _ = cert.not_after();
    let _ = cert.not_before();
    // A certificate survives its own PEM round trip.
    let again = Certificate::from_pem(&cert.to_pem()).expect("own PEM parses");
    assert_eq!(again.identity(), cert.identity());
}

fuzz_target!(|data: &[u8]| {
    let encrypted = data.windows(9).any(|w| w == b"ENCRYPTED");
    let passwords: &[&[u8]] = if encrypted {
        &[b"", b"correct_password"]
    } else {
        &[b""]
    };
    if let Ok(certs) = parse_certificates(data) {
        certs.iter().for_each(inspect);
    }
    for password in passwords {
        if let Ok(key) = kes_policy::parse_private_key(data, password) {
            let _ = key.identity();
            let _ = key.public_key_spki_der();
        }
        if let Ok(PemItem::Certificate(cert)) = first_pem_item(data, password) {
            inspect(&cert);
        }
    }

    let mut chain = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.windows(4).position(|w| w == [0, 0, 0, 0]) {
        chain.push(&rest[..i]);
        rest = &rest[i + 4..];
    }
    chain.push(rest);
    let _ = client_identity(&chain);
    for der in chain {
        if let Ok(cert) = Certificate::from_der(der) {
            inspect(&cert);
        }
    }
});
