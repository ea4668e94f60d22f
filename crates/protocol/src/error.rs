//! One error type for the crate, grouped by who is at fault (as rustls does): the bytes
//! could not be decoded, the message was not for this ceremony, a peer misbehaved, or the
//! caller asked for something invalid. Peer errors name the culprit where the math allows.

use crate::PartyIndex;

/// Everything a ceremony can fail with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- Could not decode (the sender is unknown until the bytes parse). ---
    /// The encoded message or share is larger than its bound.
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
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// A format version this build does not read.
    #[error("unsupported {what} format version {version}")]
    UnsupportedVersion {
        /// What carried the version.
        what: &'static str,
        /// The version found.
        version: u8,
    },

    // --- Not for this ceremony: rejected without changing its state. ---
    /// The message belongs to another ceremony or scheme.
    #[error("message belongs to another ceremony")]
    WrongCeremony,
    /// The message is addressed to another party.
    #[error("message addressed to party {to}, not to us")]
    Misrouted {
        /// The addressee named in the message.
        to: PartyIndex,
    },
    /// An identical copy of a message already received; dropping it is safe.
    #[error("duplicate of round {round} message from party {from}")]
    Duplicate {
        /// The sender.
        from: PartyIndex,
        /// The round.
        round: u8,
    },
    /// The ceremony already finished or failed; nothing more is accepted.
    #[error("ceremony already finished")]
    Finished,

    // --- A peer broke the protocol: fatal, the ceremony stays aborted. ---
    /// A message from a party that is not in this ceremony (or from ourselves).
    #[error("message from party {from}, who is not a counterparty in this ceremony")]
    UnknownSender {
        /// The claimed sender.
        from: PartyIndex,
    },
    /// A round number this ceremony never reaches, or one already closed.
    #[error("party {from} sent a message for round {round}, which is not open")]
    WrongRound {
        /// The sender.
        from: PartyIndex,
        /// The round it named.
        round: u8,
    },
    /// A message this round does not take from that sender (e.g. a broadcast where a
    /// direct message was due).
    #[error("party {from} sent an unexpected message in round {round}")]
    Unexpected {
        /// The sender.
        from: PartyIndex,
        /// The round.
        round: u8,
    },
    /// Two different messages for the same round, sender and kind.
    #[error("party {from} sent two different messages for round {round}")]
    Equivocation {
        /// The sender.
        from: PartyIndex,
        /// The round.
        round: u8,
    },
    /// The payload does not decode as this round's message.
    #[error("party {from} sent a malformed round {round} payload")]
    MalformedPayload {
        /// The sender.
        from: PartyIndex,
        /// The round.
        round: u8,
    },
    /// A contribution failed verification against public commitments (a wrong share in
    /// DKG or reshare, a bad proof, a bad signature share).
    #[error("invalid contribution from party {culprit}: {reason}")]
    InvalidContribution {
        /// The party whose contribution failed.
        culprit: PartyIndex,
        /// Which check failed.
        reason: String,
    },
    /// The protocol failed and the math does not say who cheated.
    #[error("ceremony aborted: {0}")]
    Aborted(String),
    /// The parties' final transcripts differ: somebody sent different broadcasts to
    /// different parties, or holds different inputs. The listed parties disagree with us.
    #[error("parties {parties:?} finished with a different transcript")]
    TranscriptMismatch {
        /// The parties whose confirmation differs from ours.
        parties: Vec<PartyIndex>,
    },
    /// `dkls23` detected an OT consistency failure: signing with this counterparty for this
    /// key leaks key material. Never sign with it again for this key (refresh or reshare it out).
    #[error("party {culprit} must be banned for this key: {reason}")]
    BanCounterparty {
        /// The party to ban.
        culprit: PartyIndex,
        /// The reason from `dkls23`.
        reason: String,
    },

    // --- The caller's input. ---
    /// Parameters that cannot start a ceremony.
    #[error("invalid parameters: {0}")]
    InvalidParameters(String),
}

impl Error {
    /// Whether the error aborts the ceremony. Non-fatal errors reject one message and leave
    /// the ceremony as it was (a relay may duplicate or misdeliver; that is not an attack
    /// on the ceremony).
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            Error::WrongCeremony
                | Error::Misrouted { .. }
                | Error::Duplicate { .. }
                | Error::TooLarge { .. }
                | Error::Malformed(_)
                | Error::UnsupportedVersion { .. }
        )
    }

    /// The parties this error blames. Written as an exhaustive match so that every new
    /// variant has to decide.
    pub fn culprits(&self) -> Vec<PartyIndex> {
        match self {
            Error::UnknownSender { from }
            | Error::WrongRound { from, .. }
            | Error::Unexpected { from, .. }
            | Error::Equivocation { from, .. }
            | Error::MalformedPayload { from, .. } => vec![*from],
            Error::InvalidContribution { culprit, .. } | Error::BanCounterparty { culprit, .. } => {
                vec![*culprit]
            }
            Error::TooLarge { .. }
            | Error::Malformed(_)
            | Error::UnsupportedVersion { .. }
            | Error::WrongCeremony
            | Error::Misrouted { .. }
            | Error::Duplicate { .. }
            | Error::Finished
            | Error::Aborted(_)
            | Error::TranscriptMismatch { .. }
            | Error::InvalidParameters(_) => Vec::new(),
        }
    }
}
