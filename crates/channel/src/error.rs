//! One error type for the crate, grouped by who is at fault (rustls R4): bytes that do not
//! parse, frames that are not for this session (harmless, dropped), an authenticated peer
//! that broke the protocol (fatal, blame it), and setup checks that failed.
//!
//! A relay can forge any unauthenticated byte, so a frame that fails authentication
//! ([`ChannelError::Decrypt`], [`ChannelError::MessageId`]) blames nobody: only a failure
//! *inside* an authenticated frame names a culprit ([`ChannelError::PeerMisbehaved`]).

use tssw_protocol::PartyIndex;

/// Everything the channel can fail with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    // --- Could not decode: the sender is unknown until the bytes parse and authenticate. ---
    /// The encoding is larger than its bound (checked before parsing).
    #[error("{what} of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// The bytes do not parse.
    #[error("cannot decode {0}")]
    Decode(&'static str),
    /// A format version this build does not read; there is no fallback to an older one.
    #[error("unsupported {what} version {version}")]
    UnsupportedVersion {
        /// What carried the version.
        what: &'static str,
        /// The version found.
        version: u8,
    },

    // --- Not for this session: drop the frame, the session is unchanged. ---
    /// The frame belongs to another ceremony (an old one replayed, or misrouted).
    #[error("frame belongs to another ceremony")]
    WrongCeremony,
    /// The frame is addressed to another party.
    #[error("frame addressed to party {to}, not to us")]
    Misrouted {
        /// The addressee named in the header.
        to: u16,
    },
    /// The header names a sender that is not a counterparty in the setup (or is us).
    #[error("frame claims sender {from}, who is not a counterparty in this ceremony")]
    UnknownSender {
        /// The claimed sender.
        from: u16,
    },
    /// The header's message id is not the one its routing fields give: forged in transit.
    #[error("frame's message id does not match its header")]
    MessageId,
    /// Authenticated decryption failed: the frame was altered in transit or was not sealed
    /// by the claimed sender for us. Blames nobody (the relay can do this).
    #[error("frame claiming to be from party {from} does not authenticate")]
    Decrypt {
        /// The claimed sender.
        from: PartyIndex,
    },
    /// The session is closed (its ceremony finished or failed): nothing more is accepted.
    #[error("session closed: frame for a finished ceremony")]
    Closed,

    // --- An authenticated peer broke the protocol: fatal for the ceremony. ---
    /// An authenticated frame whose content is wrong: its inner message disagrees with the
    /// header, does not decode, carries a bad broadcast signature, or the same message id
    /// came with different content (equivocation).
    #[error("party {party} misbehaved: {reason}")]
    PeerMisbehaved {
        /// The culprit.
        party: PartyIndex,
        /// Which check failed (for logs; do not branch on it).
        reason: &'static str,
    },

    // --- Setup verification. ---
    /// A signature over the setup or over a party's contribution does not verify.
    #[error("bad signature on {0}")]
    BadSignature(&'static str),
    /// The setup expired (`now >= expires_at`).
    #[error("setup expired at {expires_at} (now {now})")]
    Expired {
        /// Expiry in unix seconds.
        expires_at: u64,
        /// The time the caller passed.
        now: u64,
    },
    /// The setup is well formed and signed, but is not what the caller expected, or is
    /// internally inconsistent (e.g. its id is not the hash of its contributions).
    #[error("setup mismatch: {0}")]
    SetupMismatch(&'static str),

    // --- The caller's own input. ---
    /// A local misuse: sealing a message of another ceremony or sender, or a second,
    /// different message under an id already used (which would reuse an AEAD nonce).
    #[error("invalid use: {0}")]
    Misuse(&'static str),
}

impl ChannelError {
    /// Whether the error must abort the ceremony. Non-fatal errors reject one frame: an
    /// untrusted relay can produce them at will, so they must not let it kill a ceremony
    /// that would otherwise complete (it can still stall it by dropping frames).
    pub fn is_fatal(&self) -> bool {
        matches!(self, ChannelError::PeerMisbehaved { .. } | ChannelError::Misuse(_))
    }

    /// The party this error blames, if an authenticated frame proves it. Exhaustive on
    /// purpose: a new variant has to decide.
    pub fn culprit(&self) -> Option<PartyIndex> {
        match self {
            ChannelError::PeerMisbehaved { party, .. } => Some(*party),
            ChannelError::TooLarge { .. }
            | ChannelError::Decode(_)
            | ChannelError::UnsupportedVersion { .. }
            | ChannelError::WrongCeremony
            | ChannelError::Misrouted { .. }
            | ChannelError::UnknownSender { .. }
            | ChannelError::MessageId
            | ChannelError::Decrypt { .. }
            | ChannelError::Closed
            | ChannelError::BadSignature(_)
            | ChannelError::Expired { .. }
            | ChannelError::SetupMismatch(_)
            | ChannelError::Misuse(_) => None,
        }
    }
}
