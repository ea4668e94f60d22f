// Builds the chain inputs the browser test signs when the caller does not supply them:
// a Solana legacy system transfer from the Ed25519 wallet, and a Taproot key-path PSBT that
// spends a (made-up) output paying the BIP-340 wallet. Only encodings, no network: the
// Rust test that runs browser.mjs can pass real ones (SOLANA_TX_B64 / PSBT_B64 / INPUTS_CMD)
// and verify the signed artifacts independently.

import { randomBytes } from 'node:crypto';

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

export function base58Decode(s) {
  let n = 0n;
  for (const c of s) {
    const i = B58.indexOf(c);
    if (i < 0) throw new Error(`bad base58 character ${c}`);
    n = n * 58n + BigInt(i);
  }
  const bytes = [];
  while (n > 0n) {
    bytes.unshift(Number(n & 0xffn));
    n >>= 8n;
  }
  for (const c of s) {
    if (c !== '1') break;
    bytes.unshift(0);
  }
  return Uint8Array.from(bytes);
}

const u32le = (n) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
const u64le = (n) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b; };

// Solana "compact-u16" length prefix.
function shortvec(n) {
  const out = [];
  for (;;) {
    let b = n & 0x7f;
    n >>= 7;
    if (n) b |= 0x80;
    out.push(b);
    if (!n) return Buffer.from(out);
  }
}

// Unsigned wire transaction (one empty signature slot) moving `lamports` from `from`.
export function solanaTransfer(fromBase58, lamports = 1_000_000) {
  const from = Buffer.from(base58Decode(fromBase58));
  if (from.length !== 32) throw new Error('Solana address is not 32 bytes');
  const to = randomBytes(32);
  const systemProgram = Buffer.alloc(32);
  const blockhash = randomBytes(32);
  const data = Buffer.concat([u32le(2), u64le(lamports)]); // SystemInstruction::Transfer
  const message = Buffer.concat([
    Buffer.from([1, 0, 1]), // 1 required signer, 0 readonly signed, 1 readonly unsigned
    shortvec(3), from, to, systemProgram,
    blockhash,
    shortvec(1), Buffer.from([2]), shortvec(2), Buffer.from([0, 1]), shortvec(data.length), data,
  ]);
  return Buffer.concat([shortvec(1), Buffer.alloc(64), message]).toString('base64');
}

// --- bech32m (BIP-350) decode, enough for a segwit v1 address.
const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';

function polymod(values) {
  const G = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= G[i];
  }
  return chk >>> 0;
}

export function taprootOutputKey(address) {
  const a = address.toLowerCase();
  const pos = a.lastIndexOf('1');
  const hrp = a.slice(0, pos);
  const data = [...a.slice(pos + 1)].map((c) => {
    const v = CHARSET.indexOf(c);
    if (v < 0) throw new Error('bad bech32 character');
    return v;
  });
  const expanded = [...hrp].map((c) => c.charCodeAt(0) >> 5).concat([0], [...hrp].map((c) => c.charCodeAt(0) & 31));
  if (polymod(expanded.concat(data)) !== 0x2bc830a3) throw new Error('bad bech32m checksum');
  const words = data.slice(0, -6);
  if (words[0] !== 1) throw new Error('not a segwit v1 address');
  let acc = 0;
  let bits = 0;
  const out = [];
  for (const w of words.slice(1)) {
    acc = (acc << 5) | w;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  if (out.length !== 32) throw new Error('Taproot program is not 32 bytes');
  return Buffer.from(out);
}

const varint = (n) => (n < 0xfd ? Buffer.from([n]) : Buffer.concat([Buffer.from([0xfd]), Buffer.from([n & 0xff, n >> 8])]));
const kv = (key, value) => Buffer.concat([varint(key.length), key, varint(value.length), value]);

// PSBT v0 with `inputs` inputs (each a witness_utxo paying our Taproot key; the wallet signs
// them in one batch ceremony) and one output back to it.
export function taprootPsbt(address, amount = 100_000, fee = 1_000, inputs = 2) {
  const key = taprootOutputKey(address);
  const script = Buffer.concat([Buffer.from([0x51, 0x20]), key]);
  const txid = randomBytes(32);
  const ins = [];
  for (let vout = 0; vout < inputs; vout++) ins.push(txid, u32le(vout), varint(0), u32le(0xfffffffd));
  const unsignedTx = Buffer.concat([
    u32le(2),
    varint(inputs), ...ins,
    varint(1), u64le(inputs * amount - fee), varint(script.length), script,
    u32le(0),
  ]);
  const witnessUtxo = Buffer.concat([u64le(amount), varint(script.length), script]);
  // One map per input (its spent output), then the output's empty map.
  const maps = [];
  for (let i = 0; i < inputs; i++) maps.push(kv(Buffer.from([0x01]), witnessUtxo), Buffer.from([0x00]));
  return Buffer.concat([
    Buffer.from('70736274ff', 'hex'),
    kv(Buffer.from([0x00]), unsignedTx), Buffer.from([0x00]),
    ...maps,
    Buffer.from([0x00]),
  ]).toString('base64');
}
