//! MinIO's server-side-encryption formats (see `spec/sse.md`).

pub mod dare;
pub mod etag;
pub mod stream;
