//! Which enclaves a device trusts, as written in its configuration (the CLI's TOML file,
//! the web wallet's `config.json`): enclave measurements, and the dev backend's
//! attestation key only when a dev enclave (not a hardware TEE) is to be accepted.

use serde::{Deserialize, Serialize};
use tssw_api::attest::{AWS_NITRO_ROOT_G1, DevTrust, NitroTrust, PcrPolicy, TrustPolicy};

/// Which enclaves this device trusts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    /// Accepted enclave measurements, hex: 64 digits for a dev enclave (SHA-256 of its
    /// binary), 96 for a Nitro enclave image (PCR0).
    #[serde(default)]
    pub measurements: Vec<String>,
    /// The dev backend's attestation key, hex: set only to accept a dev enclave, which is
    /// not a hardware TEE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev_attestation_key: Option<String>,
}

impl TrustConfig {
    /// The trust policy, checked: dev measurements only with the dev key, Nitro PCR0s under
    /// the AWS Nitro root.
    pub fn policy(&self) -> Result<TrustPolicy, String> {
        let hex32 = |text: &str, what: &str| -> Result<[u8; 32], String> {
            let mut out = [0u8; 32];
            hex::decode_to_slice(text.trim(), &mut out)
                .map_err(|_| format!("trust.{what} must be 64 hex digits, got {text:?}"))?;
            Ok(out)
        };
        let (mut dev, mut nitro) = (Vec::new(), Vec::new());
        for m in &self.measurements {
            let mut pcr0 = [0u8; 48];
            if hex::decode_to_slice(m.trim(), &mut pcr0).is_ok() {
                nitro.push(PcrPolicy::pcr0(pcr0));
            } else {
                dev.push(hex32(m, "measurements").map_err(|e| format!("{e} (or 96 for a Nitro PCR0)"))?);
            }
        }
        if dev.is_empty() && nitro.is_empty() {
            return Err("trust.measurements is empty: add the enclave measurements this device accepts".into());
        }
        let dev = match &self.dev_attestation_key {
            Some(k) => Some(DevTrust { key: hex32(k, "dev_attestation_key")?, measurements: dev }),
            None if !dev.is_empty() => {
                return Err(
                    "trust.measurements has dev-enclave (64-digit) entries but no trust.dev_attestation_key".into()
                );
            }
            None => None,
        };
        let nitro = (!nitro.is_empty()).then(|| NitroTrust { root: AWS_NITRO_ROOT_G1.to_vec(), images: nitro });
        Ok(TrustPolicy { dev, nitro })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn policies_and_refusals() {
        let no_key = TrustConfig { measurements: vec!["ab".repeat(32)], dev_attestation_key: None };
        assert!(no_key.policy().unwrap_err().contains("dev_attestation_key"));
        let dev = TrustConfig { measurements: vec!["ab".repeat(32)], dev_attestation_key: Some("cd".repeat(32)) };
        assert_eq!(dev.policy().unwrap(), TrustPolicy::dev([0xcd; 32], vec![[0xab; 32]]));
        let nitro = TrustConfig { measurements: vec!["ef".repeat(48)], dev_attestation_key: None };
        assert_eq!(nitro.policy().unwrap(), TrustPolicy::nitro(vec![PcrPolicy::pcr0([0xef; 48])]));
        let bad = TrustConfig { measurements: vec!["zz".into()], dev_attestation_key: None };
        assert!(bad.policy().unwrap_err().contains("64 hex digits"));
        assert!(TrustConfig::default().policy().unwrap_err().contains("empty"));
    }
}
