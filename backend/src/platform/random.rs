//! Randomness from the OS, for tokens, ids and jitter.

/// `bytes` of randomness, hex-encoded.
pub fn token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("OS randomness");
    hex::encode(buf)
}
