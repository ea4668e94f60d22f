//! The one interface every chain payload implements, and an enum over all of them for callers
//! (the enclave) that dispatch on a payload received over the wire.

use crate::{Error, bitcoin, evm, solana};

/// What the threshold ceremony must sign for one signature. Mirrors the protocol crate's
/// `SignRequest` so the enclave maps one onto the other without interpretation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SigningDigest {
    /// A 32-byte prehash for ECDSA secp256k1 (keccak-256 of the EVM signing payload).
    Ecdsa {
        /// The digest.
        prehash: [u8; 32],
    },
    /// The full message for Ed25519 (RFC 8032 hashes the message itself, so there is no
    /// prehash: the signer must see these exact bytes).
    Ed25519 {
        /// The message bytes.
        message: Vec<u8>,
    },
    /// A BIP-341 sighash for a BIP-340 signature with the Taproot output key Q.
    Bip340 {
        /// The sighash.
        sighash: [u8; 32],
    },
}

/// A signature produced by the threshold ceremony, as plain bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainSignature {
    /// ECDSA secp256k1; `recovery_id` is the parity of R's y coordinate (0 or 1).
    Ecdsa {
        /// Scalar r, big-endian.
        r: [u8; 32],
        /// Scalar s, big-endian (high s is normalised on assembly).
        s: [u8; 32],
        /// y-parity of R.
        recovery_id: u8,
    },
    /// Ed25519 (R ‖ S).
    Ed25519([u8; 64]),
    /// BIP-340 Schnorr (R.x ‖ s).
    Bip340([u8; 64]),
}

impl ChainSignature {
    pub(crate) fn scheme(&self) -> &'static str {
        match self {
            Self::Ecdsa { .. } => "ecdsa",
            Self::Ed25519(_) => "ed25519",
            Self::Bip340(_) => "bip340",
        }
    }
}

/// A chain payload that can tell what to sign and attach the signatures afterwards.
pub trait SigningPayload {
    /// The signed result.
    type Output;

    /// What to sign: one entry per signature, in the order `assemble` expects them.
    fn digests(&self) -> Vec<SigningDigest>;

    /// Checks each signature against the payload and key (a bad signature is an error here,
    /// not a rejected broadcast later) and returns the signed result.
    fn assemble(&self, signatures: &[ChainSignature]) -> Result<Self::Output, Error>;
}

/// Any payload this crate understands.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Payload {
    /// An EVM transaction (EIP-1559 or legacy EIP-155).
    EvmTransaction(evm::EvmTransaction),
    /// An EIP-191 `personal_sign` message.
    EvmPersonalMessage(evm::PersonalMessage),
    /// EIP-712 typed data.
    EvmTypedData(evm::TypedData),
    /// A Solana transaction (legacy or v0 message).
    SolanaTransaction(solana::SolanaTransaction),
    /// A Solana off-chain message.
    SolanaOffchainMessage(solana::OffchainMessage),
    /// A PSBT spending Taproot key-path inputs of this wallet.
    BitcoinPsbt(bitcoin::TaprootPsbt),
}

/// The signed result of any [`Payload`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signed {
    /// A signed EVM transaction.
    EvmTransaction(evm::SignedEvmTransaction),
    /// A 65-byte `r ‖ s ‖ v` message signature (`v` = 27 + parity).
    EvmMessageSignature([u8; 65]),
    /// A signed Solana transaction.
    SolanaTransaction(solana::SignedSolanaTransaction),
    /// A 64-byte Ed25519 off-chain message signature.
    SolanaMessageSignature([u8; 64]),
    /// A finalized Bitcoin transaction.
    BitcoinTransaction(bitcoin::FinalizedTransaction),
}

impl SigningPayload for Payload {
    type Output = Signed;

    fn digests(&self) -> Vec<SigningDigest> {
        match self {
            Self::EvmTransaction(p) => p.digests(),
            Self::EvmPersonalMessage(p) => p.digests(),
            Self::EvmTypedData(p) => p.digests(),
            Self::SolanaTransaction(p) => p.digests(),
            Self::SolanaOffchainMessage(p) => p.digests(),
            Self::BitcoinPsbt(p) => p.digests(),
        }
    }

    fn assemble(&self, signatures: &[ChainSignature]) -> Result<Signed, Error> {
        Ok(match self {
            Self::EvmTransaction(p) => Signed::EvmTransaction(p.assemble(signatures)?),
            Self::EvmPersonalMessage(p) => Signed::EvmMessageSignature(p.assemble(signatures)?),
            Self::EvmTypedData(p) => Signed::EvmMessageSignature(p.assemble(signatures)?),
            Self::SolanaTransaction(p) => Signed::SolanaTransaction(p.assemble(signatures)?),
            Self::SolanaOffchainMessage(p) => Signed::SolanaMessageSignature(p.assemble(signatures)?),
            Self::BitcoinPsbt(p) => Signed::BitcoinTransaction(p.assemble(signatures)?),
        })
    }
}

/// Exactly one signature of the expected scheme; shared by the single-signature payloads.
pub(crate) fn single<'a>(signatures: &'a [ChainSignature], scheme: &'static str) -> Result<&'a ChainSignature, Error> {
    match signatures {
        [sig] if sig.scheme() == scheme => Ok(sig),
        _ => Err(Error::SignatureCount {
            scheme,
            expected: 1,
            got: signatures.iter().filter(|s| s.scheme() == scheme).count(),
        }),
    }
}
