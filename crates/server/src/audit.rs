//! The audit log's hash chain: entry `n` stores `hash(n) = SHA-256(domain ‖
//! postcard(seq, at, account, kind, detail, hash(n-1)))`, with `hash(0)` = 32 zero bytes.
//! Rewriting, dropping or reordering any entry breaks every later hash.

use serde::Serialize;
use sha2::{Digest, Sha256};

const DOMAIN: &[u8] = b"tssw/audit/v1\0";

/// One audit entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Position in the log, from 1, without gaps.
    pub seq: i64,
    /// Seconds since the Unix epoch.
    pub at: i64,
    /// The account it concerns, if any (config changes have none).
    pub account: Option<String>,
    /// What happened (`device.registered`, `wallet.created`, …).
    pub kind: String,
    /// Details (ids, never secrets).
    pub detail: String,
    /// The previous entry's hash.
    #[serde(with = "hex_bytes")]
    pub prev_hash: [u8; 32],
    /// This entry's hash.
    #[serde(with = "hex_bytes")]
    pub hash: [u8; 32],
}

impl AuditEntry {
    /// A new entry chained to `prev_hash`.
    pub fn new(
        seq: i64,
        at: i64,
        account: Option<String>,
        kind: String,
        detail: String,
        prev_hash: [u8; 32],
    ) -> AuditEntry {
        let mut e = AuditEntry { seq, at, account, kind, detail, prev_hash, hash: [0; 32] };
        e.hash = e.compute_hash();
        e
    }

    fn compute_hash(&self) -> [u8; 32] {
        #[derive(Serialize)]
        struct Hashed<'a>(i64, i64, &'a Option<String>, &'a str, &'a str, &'a [u8; 32]);
        let body = Hashed(self.seq, self.at, &self.account, &self.kind, &self.detail, &self.prev_hash);
        // Encoding plain integers, strings and bytes into a Vec cannot fail.
        let bytes = postcard::to_stdvec(&body).unwrap_or_default();
        Sha256::new().chain_update(DOMAIN).chain_update(bytes).finalize().into()
    }
}

/// Where the chain breaks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// A missing or out-of-order sequence number.
    #[error("entry {found} found where entry {expected} should be")]
    Gap {
        /// The sequence number that should be there.
        expected: i64,
        /// The one that is.
        found: i64,
    },
    /// An entry that does not point at the previous entry's hash.
    #[error("entry {0} does not chain to the previous entry")]
    Link(i64),
    /// An entry whose contents do not match its hash.
    #[error("entry {0} was modified")]
    Modified(i64),
}

/// Checks a whole log, in order, from entry 1.
pub fn verify_chain(entries: &[AuditEntry]) -> Result<(), ChainError> {
    let mut prev = [0u8; 32];
    for (i, e) in entries.iter().enumerate() {
        let expected = i64::try_from(i).map_or(i64::MAX, |i| i + 1);
        if e.seq != expected {
            return Err(ChainError::Gap { expected, found: e.seq });
        }
        if e.prev_hash != prev {
            return Err(ChainError::Link(e.seq));
        }
        if e.compute_hash() != e.hash {
            return Err(ChainError::Modified(e.seq));
        }
        prev = e.hash;
    }
    Ok(())
}

mod hex_bytes {
    pub(super) fn serialize<S: serde::Serializer>(b: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for seq in 1..=n {
            let prev = out.last().map_or([0; 32], |e| e.hash);
            out.push(AuditEntry::new(seq, 100 + seq, Some("a".into()), "k".into(), format!("d{seq}"), prev));
        }
        out
    }

    #[test]
    fn detects_every_kind_of_tampering() {
        assert_eq!(verify_chain(&chain(5)), Ok(()));
        let mut c = chain(5);
        c[2].detail = "rewritten".into();
        assert_eq!(verify_chain(&c), Err(ChainError::Modified(3)));
        let mut c = chain(5);
        c.remove(1);
        assert_eq!(verify_chain(&c), Err(ChainError::Gap { expected: 2, found: 3 }));
        let mut c = chain(5);
        c.swap(1, 2);
        assert!(verify_chain(&c).is_err());
        // Rewriting an entry and recomputing its hash still breaks the next link.
        let mut c = chain(5);
        c[1] = AuditEntry::new(2, 0, None, "forged".into(), String::new(), c[0].hash);
        assert_eq!(verify_chain(&c), Err(ChainError::Link(3)));
    }
}
