//! `tssw digest KIND`: prints exactly what a payload would have signed, without signing —
//! computed by the enclave's own code path (`ChainPayload::sign_request` and the chains
//! crate), so users and auditors can check it with other tools.

use std::io::Read;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, ValueEnum};
use serde::Serialize;
use tssw_chains::bitcoin::Network;
use tssw_client::digest::{Digest, describe_input, request_bytes};
use tssw_client::input::{InputKind, InputOptions, MAX_INPUT_BYTES};
use tssw_protocol::{PublicKey, Scheme, WalletKey};

/// What the input is.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Kind {
    /// An `eth_sendTransaction` request (JSON): the transaction object, its params array or the whole request.
    EvmTx,
    /// `eth_signTypedData_v4` typed data (JSON).
    Eip712,
    /// Text or 0x-hex: EIP-191 for an ECDSA wallet, a Solana off-chain message for Ed25519.
    Message,
    /// A Solana transaction or bare message: base64, base58 or raw bytes.
    SolanaTx,
    /// A PSBT: base64 or raw bytes; one digest per input of this wallet.
    Psbt,
}

impl From<Kind> for InputKind {
    fn from(kind: Kind) -> InputKind {
        match kind {
            Kind::EvmTx => InputKind::EvmTx,
            Kind::Eip712 => InputKind::Eip712,
            Kind::Message => InputKind::Message,
            Kind::SolanaTx => InputKind::SolanaTx,
            Kind::Psbt => InputKind::Psbt,
        }
    }
}

#[derive(Args)]
pub(crate) struct DigestArgs {
    /// What the input is.
    #[arg(value_enum)]
    kind: Kind,
    /// Read the input from this file instead of standard input.
    #[arg(long, short)]
    file: Option<PathBuf>,
    /// The wallet's public key, hex: 33-byte compressed secp256k1 (ECDSA), 32-byte Ed25519,
    /// or the 32-byte x-only taproot output key Q (BIP-340).
    #[arg(long)]
    public_key: String,
    /// The wallet's scheme (ecdsa, ed25519, bip340). Default: what the kind needs; for a
    /// message, ECDSA for a 33-byte key and Ed25519 for a 32-byte one.
    #[arg(long)]
    scheme: Option<String>,
    /// BIP-340: the taproot internal key P, hex (PSBTs need it).
    #[arg(long)]
    internal_key: Option<String>,
    /// ECDSA: the BIP-32 chain code, hex (needed with --path).
    #[arg(long)]
    chain_code: Option<String>,
    /// ECDSA: the signing account's non-hardened BIP-32 path, e.g. m/44/60/0/0/0.
    #[arg(long)]
    path: Option<String>,
    /// EVM transactions: the chain id when the request carries none.
    #[arg(long)]
    chain_id: Option<u64>,
    /// Bitcoin: the network of the wallet's address (bitcoin, testnet, signet, regtest).
    #[arg(long, default_value = "bitcoin")]
    network: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Output<'a> {
    kind: &'static str,
    scheme: &'static str,
    digests: Vec<Entry<'a>>,
}

#[derive(Serialize)]
struct Entry<'a> {
    #[serde(flatten)]
    digest: &'a Digest,
    /// Exactly what the ceremony signs, hex: the ECDSA prehash, the Ed25519 message, the
    /// BIP-340 sighash.
    signs: String,
}

/// Runs the command; the error says what failed and what to pass.
pub(crate) fn run(args: &DigestArgs) -> Result<(), String> {
    let kind = InputKind::from(args.kind);
    let key = wallet_key(args, kind)?;
    let network = Network::from_str(&args.network).map_err(|e| format!("--network {}: {e}", args.network))?;
    let options = InputOptions { chain_id: args.chain_id, derivation_path: args.path.clone(), network };
    let bytes = read_input(args.file.as_deref())?;
    let input = tssw_client::parse(kind, &bytes, &key, &options).map_err(|e| e.to_string())?;
    let digests = describe_input(&input).map_err(|e| e.to_string())?;
    let output = Output {
        kind: kind.name(),
        scheme: key.scheme().name(),
        digests: digests
            .iter()
            .zip(input.requests())
            .map(|(digest, request)| Entry { digest, signs: hex::encode(request_bytes(request)) })
            .collect(),
    };
    if args.json {
        let text = serde_json::to_string_pretty(&output).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print_human(&output, &key, network);
    }
    Ok(())
}

fn wallet_key(args: &DigestArgs, kind: InputKind) -> Result<WalletKey, String> {
    let public = hex_arg("--public-key", &args.public_key)?;
    let scheme = match (&args.scheme, kind) {
        (Some(s), _) => Scheme::from_str(s).map_err(|_| format!("--scheme {s}: expected ecdsa, ed25519 or bip340"))?,
        (None, InputKind::Message) if public.len() == 33 => Scheme::Ecdsa,
        (None, InputKind::Message) => Scheme::Ed25519,
        (None, kind) => kind.schemes().first().copied().unwrap_or(Scheme::Ecdsa),
    };
    let public_key = PublicKey::from_bytes(scheme, &public).map_err(|_| {
        format!(
            "--public-key is not a valid {scheme} public key (expected {})",
            match scheme {
                Scheme::Ecdsa => "33-byte compressed secp256k1, hex",
                Scheme::Ed25519 => "32-byte Ed25519, hex",
                Scheme::Bip340 => "32-byte x-only taproot output key, hex",
            }
        )
    })?;
    let fixed = |name: &str, value: &Option<String>| -> Result<Option<[u8; 32]>, String> {
        value
            .as_deref()
            .map(|v| hex_arg(name, v)?.try_into().map_err(|_| format!("{name} must be 32 bytes of hex")))
            .transpose()
    };
    WalletKey::new(public_key, fixed("--chain-code", &args.chain_code)?, fixed("--internal-key", &args.internal_key)?)
        .map_err(|e| e.to_string())
}

fn hex_arg(name: &str, value: &str) -> Result<Vec<u8>, String> {
    hex::decode(value.trim().trim_start_matches("0x")).map_err(|e| format!("{name}: not hex ({e})"))
}

/// The input from `file`, or standard input, bounded by [`MAX_INPUT_BYTES`].
pub(crate) fn read_input(file: Option<&std::path::Path>) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let limit = MAX_INPUT_BYTES as u64 + 1;
    let read = match file {
        Some(path) => std::fs::File::open(path)
            .and_then(|f| f.take(limit).read_to_end(&mut bytes))
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        None => std::io::stdin().take(limit).read_to_end(&mut bytes).map_err(|e| format!("cannot read stdin: {e}"))?,
    };
    if read > MAX_INPUT_BYTES {
        return Err(format!("input exceeds the {MAX_INPUT_BYTES}-byte limit"));
    }
    Ok(bytes)
}

/// The first PSBT input listed (the outputs are printed once, under it).
fn first_input(entry: &Entry<'_>) -> Option<usize> {
    match entry.digest {
        Digest::BitcoinInput { input, .. } => Some(*input),
        _ => None,
    }
}

fn print_human(output: &Output<'_>, key: &WalletKey, network: Network) {
    if let (Some(Entry { digest: Digest::BitcoinInput { .. }, .. }), Some(p)) =
        (output.digests.first(), key.taproot_internal_key())
    {
        let address = tssw_chains::address::taproot_address(&p, key.public_key().as_bytes(), network)
            .unwrap_or_else(|e| format!("<{e}>"));
        println!("PSBT: {} input(s) of {address} to sign (BIP-340, key path)", output.digests.len());
    }
    for entry in &output.digests {
        match entry.digest {
            Digest::EvmTransaction {
                signer,
                tx_type,
                chain_id,
                signing_hash,
                to,
                value_wei,
                nonce,
                gas_limit,
                max_fee_per_gas_wei,
                max_priority_fee_per_gas_wei,
                data,
            } => {
                println!("EVM transaction ({tx_type}, chain id {chain_id}) from {signer}");
                println!("  to                {}", to.as_deref().unwrap_or("(contract creation)"));
                println!("  value             {value_wei} wei");
                println!("  nonce, gas limit  {nonce}, {gas_limit}");
                match max_priority_fee_per_gas_wei {
                    Some(tip) => println!("  max fee, tip      {max_fee_per_gas_wei}, {tip} wei/gas"),
                    None => println!("  gas price         {max_fee_per_gas_wei} wei/gas"),
                }
                println!("  data              {data}");
                println!("  signing hash      {signing_hash}");
            }
            Digest::Eip191 { signer, message, text, digest } => {
                println!("EIP-191 personal_sign message from {signer}");
                match text {
                    Some(t) => println!("  message           {t:?}"),
                    None => println!("  message (hex)     {message}"),
                }
                println!("  digest            {digest}");
            }
            Digest::Eip712 { signer, primary_type, domain_separator, struct_hash, digest } => {
                println!("EIP-712 typed data ({primary_type}) from {signer}");
                println!("  domain separator  {domain_separator}");
                println!(
                    "  struct hash       {}",
                    struct_hash.as_deref().unwrap_or("(none: primary type EIP712Domain)")
                );
                println!("  digest            {digest}");
            }
            Digest::SolanaTransaction {
                signer,
                signer_index,
                version,
                message_base64,
                transfers,
                instructions,
                ..
            } => {
                println!("Solana {version} message, signer #{signer_index} {signer}, {instructions} instruction(s)");
                for t in transfers {
                    println!("  transfer          {} lamports {} -> {}", t.lamports, t.from, t.to);
                }
                println!("  Ed25519 signs the message bytes themselves (base64):");
                println!("  {message_base64}");
            }
            Digest::SolanaOffchainMessage { signer, signed_hex } => {
                println!("Solana off-chain message from {signer}");
                println!("  signed bytes (hex) {signed_hex}");
            }
            Digest::BitcoinInput { input, sighash_type, sighash, outputs, fee_sat } => {
                println!("  input {input} ({sighash_type})  sighash {sighash}");
                if *input == output.digests.iter().find_map(first_input).unwrap_or(*input) {
                    for o in outputs {
                        println!("  pays              {} sat to {}", o.value_sat, o.to);
                    }
                    match fee_sat {
                        Some(fee) => println!("  fee               {fee} sat"),
                        None => println!("  fee               (outputs exceed the inputs)"),
                    }
                }
            }
            Digest::Raw { digest } => println!("raw digest {digest}"),
        }
    }
}
