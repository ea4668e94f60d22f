//! EVM: transactions (EIP-1559, legacy EIP-155), EIP-191 `personal_sign` and EIP-712 typed
//! data. Digests and encodings come from the alloy sub-crates; this module only decides what
//! is acceptable and checks every signature recovers to the wallet address.

mod eip191;
mod eip712;
mod tx;

pub use alloy_primitives::Address;
pub use eip191::PersonalMessage;
pub use eip712::TypedData;
pub use tx::{EvmTransaction, SignedEvmTransaction, TxSummary, TxType};

use alloy_primitives::{B256, Signature};
use k256_alloy::ecdsa::Signature as K256Signature;

use crate::{ChainSignature, Error, SigningDigest, payload::single};

/// Turns the ceremony's (r, s, recovery id) into an alloy signature in low-s form that
/// recovers to `signer` over `prehash`. A high s is flipped (with its parity) rather than
/// refused: it is a valid signature, and EIP-2 only forbids its encoding.
pub(crate) fn recoverable_signature(
    signatures: &[ChainSignature],
    prehash: &B256,
    signer: Address,
) -> Result<Signature, Error> {
    let ChainSignature::Ecdsa { r, s, recovery_id } = single(signatures, "ecdsa")? else {
        return Err(Error::bad_sig(None, "not an ECDSA signature"));
    };
    let parity = match recovery_id {
        0 => false,
        1 => true,
        // 2 and 3 mean r overflowed the group order: never produced for a real key, and not
        // representable in an Ethereum signature.
        other => {
            return Err(Error::bad_sig(None, format!("recovery id {other} out of range")));
        }
    };
    // Range-checks r and s (non-zero, below the group order) before alloy sees them.
    let checked = K256Signature::from_scalars(*r, *s).map_err(|e| Error::bad_sig(None, e))?;
    let sig = Signature::from_signature_and_parity(checked, parity).normalized_s();
    let recovered = sig.recover_address_from_prehash(prehash).map_err(|e| Error::bad_sig(None, e))?;
    if recovered != signer {
        return Err(Error::bad_sig(None, format!("recovers to {recovered}, not the wallet address {signer}")));
    }
    Ok(sig)
}

/// `r ‖ s ‖ v` with `v` = 27 + parity: what `personal_sign` and `eth_signTypedData_v4` return.
pub(crate) fn message_signature(
    signatures: &[ChainSignature],
    prehash: &B256,
    signer: Address,
) -> Result<[u8; 65], Error> {
    Ok(recoverable_signature(signatures, prehash, signer)?.as_bytes())
}

pub(crate) fn ecdsa_digest(prehash: &B256) -> Vec<SigningDigest> {
    vec![SigningDigest::Ecdsa { prehash: prehash.0 }]
}
