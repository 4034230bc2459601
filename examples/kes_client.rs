//! Talks to a KES server with `kes-client`: creates a key, generates a data key and decrypts
//! its ciphertext again, then lists the keys.
//!
//! Start a dev server first (`kes-server --dev` prints an API key), then:
//!
//! ```text
//! KES_SERVER=127.0.0.1:7373 KES_API_KEY=kes:v1:... \
//!     cargo run -p kes-examples --example kes_client -- --insecure
//! ```
//!
//! `--insecure` accepts the dev server's self-signed certificate; without it the server must
//! present a certificate from a trusted CA (system roots, `SSL_CERT_FILE`, or `KES_CA_FILE`).
//! The data key itself is never printed, only its length.

#![allow(clippy::print_stdout)]

use kes_client::{ApiKey, Client, Sentinel};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = std::env::var("KES_SERVER").unwrap_or_else(|_| "127.0.0.1:7373".into());
    let api_key: ApiKey = std::env::var("KES_API_KEY")
        .map_err(|_| "set KES_API_KEY to the API key printed by `kes-server --dev`")?
        .parse()?;
    let insecure = std::env::args().any(|a| a == "--insecure");

    let mut builder = Client::builder()
        .endpoints(server.split(','))
        .api_key(api_key)
        .danger_accept_invalid_certificates(insecure);
    if let Ok(ca) = std::env::var("KES_CA_FILE") {
        builder = builder.ca_file(ca);
    }
    let client = builder.build()?;

    let version = client.version().await?;
    println!("server version: {}", version.version);

    match client.create_key("example-key").await {
        Ok(()) => println!("created key 'example-key'"),
        Err(e) if e.is(Sentinel::KeyExists) => println!("key 'example-key' exists already"),
        Err(e) => return Err(e.into()),
    }

    // A data encryption key bound to a context (associated data).
    let context = b"my-bucket/my-object";
    let dek = client.generate_key("example-key", context).await?;
    println!(
        "data key: {} bytes, ciphertext: {} bytes",
        dek.plaintext.len(),
        dek.ciphertext.len()
    );

    let plaintext = client
        .decrypt("example-key", &dek.ciphertext, context)
        .await?;
    assert_eq!(plaintext, dek.plaintext);
    println!("decrypted the ciphertext: same data key");

    match client
        .decrypt("example-key", &dek.ciphertext, b"other")
        .await
    {
        Err(e) if e.is(Sentinel::Decrypt) => println!("wrong context: {e}"),
        other => return Err(format!("expected a decryption failure, got {other:?}").into()),
    }

    let keys = client.keys("*").collect().await?;
    println!("keys: {keys:?}");
    Ok(())
}
