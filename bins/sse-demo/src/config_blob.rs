//! `config encrypt|decrypt`: MinIO's encrypted IAM/config format (spec `sse.md` §11.1),
//! `0x01 ‖ LE32(len) ‖ {"keyid","kmskey","algorithm","nonce"} ‖ sio-go stream`, with the DEK
//! from the configured KMS and the context `{".minio.sys": ".minio.sys/<path>"}`.

use anyhow::{Result, anyhow, bail};
use kes_crypto::sse::Context;
use kes_crypto::sse::stream::{self, Algorithm, ConfigBlobHeader};

use crate::kms::{Kms, KmsError};

/// MinIO's system bucket, the key of every config context.
const MINIO_SYS: &str = ".minio.sys";

/// The contexts to try for `--context TEXT`: a JSON object is used as is; otherwise TEXT is
/// the item's path, giving `{".minio.sys": ".minio.sys/<path>"}` and, when decrypting,
/// MinIO's fallback `{".minio.sys": "<path>"}`. Without `--context`: `{}`.
pub(crate) fn contexts(text: Option<&str>) -> Result<Vec<Context>> {
    let Some(text) = text else {
        return Ok(vec![Context::new()]);
    };
    if text.trim_start().starts_with('{') {
        let ctx = Context::from_json(text.as_bytes())
            .map_err(|_| anyhow!("--context: not a JSON object of strings"))?;
        return Ok(vec![ctx]);
    }
    let path = text.trim_start_matches('/');
    let mut first = Context::new();
    first.insert(MINIO_SYS, format!("{MINIO_SYS}/{path}"));
    let mut second = Context::new();
    second.insert(MINIO_SYS, path);
    Ok(vec![first, second])
}

/// Encrypts `plaintext` into a MinIO config blob with the KMS default key.
pub(crate) fn encrypt(kms: &dyn Kms, context: &Context, plaintext: &[u8]) -> Result<Vec<u8>> {
    let dek = kms.generate_key("", context)?;
    let algorithm = Algorithm::platform_default();
    let nonce = kes_crypto::rng::array::<8>().map_err(|e| anyhow!("{e}"))?;
    let header = ConfigBlobHeader {
        key_id: dek.key_id().to_owned(),
        version: None,
        kms_key: dek.ciphertext().to_vec(),
        algorithm,
        nonce: nonce.to_vec(),
    };
    stream::seal_config_blob(dek.plaintext().expose_secret(), &header, plaintext)
        .map_err(|e| anyhow!("cannot encrypt: {e}"))
}

/// Decrypts a MinIO config blob, trying the contexts in order (MinIO's read fallback).
pub(crate) fn decrypt(
    kms: &dyn Kms,
    contexts: &[Context],
    blob: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    let (header, _) = ConfigBlobHeader::parse(blob)
        .map_err(|e| anyhow!("the input is not a MinIO encrypted config blob: {e}"))?;
    let mut last: Option<KmsError> = None;
    for ctx in contexts {
        match kms.decrypt(&header.key_id, &header.kms_key, ctx) {
            Ok(dek) => {
                return stream::open_config_blob(dek.expose_secret(), blob)
                    .map_err(|_| anyhow!("the config data is not authentic (tampered)"));
            }
            Err(e @ KmsError::NotAuthentic(_)) => last = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    match last {
        Some(e) => bail!("{e} (is --context the item's path, as MinIO stored it?)"),
        None => bail!("no context to try"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::StaticKms;
    use kes_crypto::sse::StaticKey;

    #[test]
    fn round_trip_and_fallback_context() {
        let kms = StaticKms::new(StaticKey::new("k", [4; 32]));
        let ctxs = contexts(Some("config/config.json")).unwrap();
        assert_eq!(
            ctxs[0].to_json(),
            br#"{".minio.sys":".minio.sys/config/config.json"}"#
        );
        let blob = encrypt(&kms, &ctxs[1], b"hello").unwrap();
        assert_eq!(blob[0], 1);
        assert_eq!(&*decrypt(&kms, &ctxs, &blob).unwrap(), b"hello");
        let err = decrypt(&kms, &contexts(None).unwrap(), &blob).unwrap_err();
        assert!(err.to_string().contains("not authentic"), "{err}");
        let mut bad = blob.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(decrypt(&kms, &ctxs, &bad).is_err());
        assert!(decrypt(&kms, &ctxs, b"plain text").is_err());
        assert_eq!(
            contexts(Some(r#"{"a":"b"}"#)).unwrap()[0].to_json(),
            br#"{"a":"b"}"#
        );
        assert!(contexts(Some("{bad")).is_err());
    }
}
