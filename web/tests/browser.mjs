// End-to-end browser test of the web wallet: the demo dApp (one origin) embedding the wallet
// iframe (another origin) in Debian's Chromium, driven with playwright-core.
//
//   DAPP_URL=http://127.0.0.1:7801/ node web/tests/browser.mjs > result.json
//
// Environment:
//   DAPP_URL          the demo dApp (default http://127.0.0.1:7801/)
//   WALLET_URL        the wallet page (default: the dApp's /config.json walletUrl); only used
//                     for its origin (storage clearing)
//   OUT_DIR           screenshots and result.json (default web/test-out)
//   CHROMIUM          browser binary (default /usr/bin/chromium)
//   EVM_TX_JSON       transaction request for eth_signTransaction (default: an EIP-1559 tx on 31337)
//   TYPED_DATA_JSON   eth_signTypedData_v4 JSON (default: the EIP-712 Mail example)
//   SOLANA_TX_B64     unsigned Solana transaction/message naming the Ed25519 wallet as signer
//   PSBT_B64          PSBT with an input paying the BIP-340 wallet; PSBT_NETWORK (default regtest)
//   INPUTS_CMD        alternative to the two above, which depend on the addresses the test
//                     creates: a shell command given {"addresses": {...}} on stdin, printing
//                     {"solana_tx_b64": "...", "psbt_b64": "..."} (either may be omitted)
//   LATENCY_N         signatures per scheme for the latency measurement (default 20)
//   LATENCY_ONLY=1    only create the wallets and measure the latency (`tssw bench --web-dir`)
//   PERSONAL_MESSAGE  the personal_sign message (default below)
// Without SOLANA_TX_B64 / PSBT_B64 / INPUTS_CMD the test builds them (tests/inputs.mjs).
//
// Prints one JSON object on stdout (also written to OUT_DIR/result.json); logs go to stderr;
// the exit status is non-zero if any step or any attack check fails.

import { chromium } from 'playwright-core';
import { execSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { solanaTransfer, taprootPsbt } from './inputs.mjs';
import { SAMPLE_TYPED_DATA } from '../dapp/samples.js';

const here = dirname(fileURLToPath(import.meta.url));
const DAPP_URL = process.env.DAPP_URL || 'http://127.0.0.1:7801/';
const OUT_DIR = resolve(process.env.OUT_DIR || join(here, '..', 'test-out'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PASSCODE = `pass-${randomBytes(6).toString('hex')}`;
const LATENCY_N = Number(process.env.LATENCY_N || 20);
const LATENCY_ONLY = process.env.LATENCY_ONLY === '1';
const PERSONAL_MESSAGE = process.env.PERSONAL_MESSAGE || 'Hello from the tss-wallet browser test';
const SCHEMES = ['ecdsa', 'ed25519', 'bip340'];

const log = (...a) => console.error('[browser-test]', ...a);
mkdirSync(OUT_DIR, { recursive: true });

const DEFAULT_TX = {
  to: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  value: '0x2386f26fc10000',
  nonce: '0x0',
  gas: '0x5208',
  maxFeePerGas: '0x77359400',
  maxPriorityFeePerGas: '0x3b9aca00',
  chainId: '0x7a69',
};
const EVM_TX = process.env.EVM_TX_JSON ? JSON.parse(process.env.EVM_TX_JSON) : DEFAULT_TX;
const TYPED_DATA = process.env.TYPED_DATA_JSON || JSON.stringify(SAMPLE_TYPED_DATA);
const PSBT_NETWORK = process.env.PSBT_NETWORK || 'regtest';

const failures = [];
const screenshots = [];
function check(cond, what) {
  if (!cond) {
    failures.push(what);
    log('FAIL', what);
  }
  return cond;
}

function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return null;
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return Math.round(s[i] * 10) / 10;
}

async function shot(page, name) {
  const file = join(OUT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  screenshots.push(file);
}

// Calls tsswDemo[name](...args) in the page; resolves {ok, value} or {ok:false, error}.
const demo = (page, name, ...args) => page.evaluate(([n, a]) => window.tsswDemo.attempt(n, ...a), [name, args]);

// Runs a wallet action that needs the user's approval: waits for the frame's dialog, optionally
// types the passcode and takes a screenshot, then clicks Approve (or Reject) in the frame.
async function withApproval(page, action, { shotName, passcode, reject = false, frame = 'iframe[title="tss-wallet"]' } = {}) {
  const pending = action();
  const settled = pending.then((v) => ({ done: true, v }));
  const dialog = page.frameLocator(frame).locator('#confirm');
  const shown = dialog.waitFor({ state: 'visible', timeout: 120000 }).then(() => ({ done: false }));
  const first = await Promise.race([settled, shown]);
  if (first.done) return first.v; // failed (or finished) before any dialog: the caller checks
  const f = page.frameLocator(frame);
  if (passcode !== undefined) await f.locator('#passcode').fill(passcode);
  if (shotName) await shot(page, shotName);
  await f.locator(reject ? '#reject' : '#approve').click({ timeout: 30000 });
  return pending;
}

async function login(page, user) {
  const r = await demo(page, 'login', user);
  if (!r.ok) throw new Error(`login failed: ${JSON.stringify(r.error)}`);
  return r.value;
}

function must(r, what) {
  if (!r.ok) throw new Error(`${what} failed: ${r.error.code} ${r.error.message}`);
  if (JSON.stringify(r.value).match(/"share"|identitySeed|identity_seed/)) throw new Error(`${what}: a reply carried key material`);
  return r.value;
}

async function signAll(page, inputs, { prefix = '', shots = false } = {}) {
  const out = {};
  const s = (n) => (shots ? `${prefix}confirm-${n}` : undefined);
  out.evm_tx = must(await withApproval(page, () => demo(page, 'signEvmTx', EVM_TX), { shotName: s('evm-tx') }), 'eth_signTransaction');
  out.eip712 = must(await withApproval(page, () => demo(page, 'signTypedData', TYPED_DATA), { shotName: s('eip712') }), 'eth_signTypedData_v4');
  out.personal_sign = must(await withApproval(page, () => demo(page, 'personalSign', PERSONAL_MESSAGE), { shotName: s('personal-sign') }), 'personal_sign');
  out.solana = must(await withApproval(page, () => demo(page, 'signSolana', inputs.solana), { shotName: s('solana') }), 'Solana');
  out.psbt = must(await withApproval(page, () => demo(page, 'signPsbt', inputs.psbt, PSBT_NETWORK), { shotName: s('psbt') }), 'PSBT');
  check(/^0x[0-9a-f]+$/i.test(out.evm_tx), 'eth_signTransaction returns a 0x raw transaction');
  check(/^0x[0-9a-f]{130}$/i.test(out.eip712), 'eth_signTypedData_v4 returns a 65-byte signature');
  check(/^0x[0-9a-f]{130}$/i.test(out.personal_sign), 'personal_sign returns a 65-byte signature');
  check(out.solana && out.solana.kind === 'solana_transaction', 'Solana artifact kind');
  check(out.psbt && out.psbt.kind === 'bitcoin_transaction', 'PSBT artifact kind');
  return out;
}

function chainInputs(addresses) {
  let solana = process.env.SOLANA_TX_B64;
  let psbt = process.env.PSBT_B64;
  if ((!solana || !psbt) && process.env.INPUTS_CMD) {
    const out = execSync(process.env.INPUTS_CMD, { input: JSON.stringify({ addresses }), encoding: 'utf8', stdio: ['pipe', 'pipe', 'inherit'] });
    const j = JSON.parse(out);
    solana ||= j.solana_tx_b64;
    psbt ||= j.psbt_b64;
  }
  const btcKey = { bitcoin: 'bitcoin', testnet: 'bitcoinTestnet', regtest: 'bitcoinRegtest' }[PSBT_NETWORK];
  solana ||= solanaTransfer(addresses.ed25519.solana);
  psbt ||= taprootPsbt(addresses.bip340[btcKey]);
  return { solana, psbt };
}

// One JSON-RPC call from the harness (Node), not from a page.
async function rpc(url, method, params) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = await res.json();
  if (body.error) throw new Error(`${method}: ${JSON.stringify(body.error)}`);
  return body.result;
}

function foreignUrl(url) {
  // localhost and 127.0.0.1 are different origins; only the one in allowedOrigins may embed.
  const u = new URL(url);
  u.hostname = u.hostname === 'localhost' ? '127.0.0.1' : 'localhost';
  return u;
}

async function main() {
  const profile = mkdtempSync(join(tmpdir(), 'tssw-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1100, height: 900 },
  });
  const result = { artifacts: {}, addresses: {}, attacks: {}, latency_ms: {}, screenshots };
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => log(`console.${m.type()}:`, m.text()));
    page.on('pageerror', (e) => log('pageerror:', e.message));
    page.on('response', (r) => { if (r.status() >= 400) log(`HTTP ${r.status()} ${r.url()}`); });
    const user = `user-${randomBytes(5).toString('hex')}`;
    log('dApp', DAPP_URL, 'user', user);
    await page.goto(DAPP_URL);
    await page.waitForFunction(() => window.tsswDemo !== undefined);
    const walletUrl = process.env.WALLET_URL || (await page.evaluate(async () => (await (await fetch('/config.json')).json()).walletUrl));
    const walletOrigin = new URL(walletUrl).origin;

    // --- login, one wallet per scheme
    const first = await login(page, user);
    check(first.user === user && first.wallets.length === 0, 'a fresh user has no wallets');
    await shot(page, 'dapp-after-login');
    const ids = {};
    for (const scheme of SCHEMES) {
      const w = must(await withApproval(page, () => demo(page, 'create', scheme), { shotName: `confirm-create-${scheme}` }), `create ${scheme}`);
      ids[scheme] = w.id;
      result.addresses[scheme] = w.addresses;
      log('created', scheme, w.id, JSON.stringify(w.addresses));
    }
    check(/^0x[0-9a-fA-F]{40}$/.test(result.addresses.ecdsa?.evm ?? ''), 'ECDSA wallet has an EVM address');
    check(typeof result.addresses.ed25519?.solana === 'string', 'Ed25519 wallet has a Solana address');
    check(/^bcrt1p/.test(result.addresses.bip340?.bitcoinRegtest ?? ''), 'BIP-340 wallet has a regtest Taproot address');
    const accounts = must(await demo(page, 'accounts'), 'eth_accounts');
    check(accounts[0] === result.addresses.ecdsa.evm.toLowerCase(), 'eth_accounts is the ECDSA wallet');
    const inputs = chainInputs(result.addresses);
    result.user = user;

    if (!LATENCY_ONLY) {
    // --- sign everything (screenshots of each confirmation)
    Object.assign(result.artifacts, await signAll(page, inputs, { shots: true }));

    // --- eth_sendTransaction through the provider, when the dApp has an RPC node (anvil):
    //     the harness funds the wallet there (chain set-up, not the wallet's business), the
    //     wallet signs, the provider broadcasts, and the node must execute it.
    const rpcUrl = await page.evaluate(async () => (await (await fetch('/config.json')).json()).rpcUrl ?? null);
    if (rpcUrl) {
      await rpc(rpcUrl, 'anvil_setBalance', [result.addresses.ecdsa.evm, '0xde0b6b3a7640000']);
      const hash = must(await withApproval(page, () => demo(page, 'sendEvmTx', EVM_TX)), 'eth_sendTransaction');
      let receipt = null;
      for (let i = 0; i < 100 && !receipt; i++) {
        receipt = await rpc(rpcUrl, 'eth_getTransactionReceipt', [hash]);
        if (!receipt) await new Promise((r) => setTimeout(r, 50));
      }
      check(receipt && receipt.status === '0x1', `the node executed the sent transaction (${JSON.stringify(receipt)})`);
      result.artifacts.sent_transaction = { hash, status: receipt?.status ?? null, from: receipt?.from ?? null };
    }
    await page.evaluate(() => document.getElementById('wallets').scrollIntoView());
    await shot(page, 'wallets-list');

    // --- the frame's storage, inspected from inside the frame by the harness (a page cannot
    //     do this): a non-extractable key, and records that decrypt only under their own name
    const walletFrame = page.frames().find((f) => f.url().startsWith(`${walletOrigin}/wallet/`));
    result.storage = await walletFrame.evaluate(async () => {
      const req = indexedDB.open('tssw-wallet');
      const db = await new Promise((res, rej) => { req.onsuccess = () => res(req.result); req.onerror = () => rej(req.error); });
      const get = (store, fn) => new Promise((res, rej) => {
        const r = fn(db.transaction(store).objectStore(store));
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
      const key = await get('keys', (s) => s.get('master'));
      const names = await get('records', (s) => s.getAllKeys());
      const records = await get('records', (s) => s.getAll());
      const exportRefused = await crypto.subtle.exportKey('raw', key).then(() => false, () => true);
      const ad = (n) => new TextEncoder().encode(n);
      const opens = async (rec, name) => crypto.subtle.decrypt({ name: 'AES-GCM', iv: rec.iv, additionalData: ad(name) }, key, rec.ciphertext).then(() => true, () => false);
      const shareNames = names.filter((n) => n.includes('/share:'));
      db.close();
      return {
        keyType: key.constructor.name,
        extractable: key.extractable,
        exportRefused,
        usages: key.usages,
        names,
        allIv12: records.every((r) => r.iv instanceof Uint8Array && r.iv.length === 12 && r.ciphertext instanceof Uint8Array),
        opensUnderOwnName: await opens(records[names.indexOf(shareNames[0])], shareNames[0]),
        opensUnderOtherName: await opens(records[names.indexOf(shareNames[0])], shareNames[1]),
      };
    });
    log('storage', JSON.stringify(result.storage));
    const st = result.storage;
    check(st.keyType === 'CryptoKey' && st.extractable === false && st.exportRefused, 'the storage key is a non-extractable CryptoKey');
    check(st.allIv12 && st.names.filter((n) => n.includes('/share:')).length === 3, 'three share records, each {iv(12), ciphertext}');
    check(st.opensUnderOwnName && !st.opensUnderOtherName, 'a share record decrypts under its own name only');

    // --- back up every wallet with a passcode typed into the frame
    result.backups = {};
    for (const scheme of SCHEMES) {
      result.backups[scheme] = must(await withApproval(page, () => demo(page, 'backup', ids[scheme]), { passcode: PASSCODE, shotName: scheme === 'ecdsa' ? 'confirm-backup' : undefined }), `backup ${scheme}`);
    }

    // --- reload: the shares persist in the frame's IndexedDB
    await page.reload();
    await page.waitForFunction(() => window.tsswDemo !== undefined);
    const again = await login(page, user);
    check(again.wallets.length === 3 && again.wallets.every((w) => w.hasShare), 'after reload all three shares are on the device');
    result.artifacts.after_reload = await signAll(page, inputs);

    // --- lose the device's storage: signing fails clearly, the server still lists the wallets
    const cdp = await context.newCDPSession(page);
    await cdp.send('Storage.clearDataForOrigin', { origin: walletOrigin, storageTypes: 'all' });
    await cdp.detach();
    await page.reload();
    await page.waitForFunction(() => window.tsswDemo !== undefined);
    const cleared = await login(page, user);
    check(cleared.wallets.length === 3 && cleared.wallets.every((w) => w.hasShare === false), 'after clearing storage the server lists the wallets, none with a share here');
    const lost = await page.evaluate((id) => window.tsswDemo.call('signMessage', { wallet: id, message: 'x' }).then((r) => ({ ok: true, r }), (e) => ({ ok: false, code: e.code, message: e.message })), ids.ecdsa);
    check(!lost.ok && lost.code === -32001, `signing without the share fails with -32001 (got ${JSON.stringify(lost)})`);
    result.after_clear = { sign_error: lost };

    // --- a wrong passcode fails clearly (and changes nothing); then the right one
    const wrong = await withApproval(page, () => demo(page, 'recover', ids.ecdsa), { passcode: `${PASSCODE}-wrong` });
    check(!wrong.ok && wrong.error.code === -32000, `recovery with a wrong passcode fails (got ${JSON.stringify(wrong)})`);
    result.after_clear.wrong_passcode_error = wrong.error ?? null;

    // --- recover each wallet with the passcode, then sign again
    for (const scheme of SCHEMES) {
      const w = must(await withApproval(page, () => demo(page, 'recover', ids[scheme]), { passcode: PASSCODE, shotName: scheme === 'ecdsa' ? 'confirm-recover' : undefined }), `recover ${scheme}`);
      check(JSON.stringify(w.addresses) === JSON.stringify(result.addresses[scheme]), `recovered ${scheme} wallet has the same addresses`);
      check(w.epoch === 2, `recovery refreshed the ${scheme} wallet to epoch 2 (got ${w.epoch})`);
    }
    await shot(page, 'wallets-after-recover');
    result.artifacts.after_recover = await signAll(page, inputs);
    }

    // --- latency: approve each signature with a real click; the frame reports ceremonyMs
    const latencyInput = {
      ecdsa: { method: 'signMessage', params: { wallet: ids.ecdsa, message: 'latency' } },
      ed25519: { method: 'signSolanaTransaction', params: { wallet: ids.ed25519, transaction: inputs.solana } },
      bip340: { method: 'signPsbt', params: { wallet: ids.bip340, psbt: inputs.psbt, network: PSBT_NETWORK } },
    };
    // The frame's own Resource Timing says how much of each signature is the API request
    // that starts it (the relay's WebSocket is not in Resource Timing).
    const frame = page.frames().find((f) => f.url().startsWith(`${walletOrigin}/wallet/`));
    for (const scheme of SCHEMES) {
      const { method, params } = latencyInput[scheme];
      await frame.evaluate(() => { performance.setResourceTimingBufferSize(10000); performance.clearResourceTimings(); });
      const samples = [];
      for (let i = 0; i < LATENCY_N; i++) {
        const r = await withApproval(page, () => page.evaluate(([m, p]) => window.tsswDemo.call(m, p).then((x) => ({ ok: true, timing: x.timing }), (e) => ({ ok: false, code: e.code, message: e.message })), [method, params]));
        if (!check(r.ok && r.timing, `latency ${scheme} #${i}: ${JSON.stringify(r)}`)) break;
        samples.push(r.timing.ceremonyMs);
      }
      const startRequests = await frame.evaluate(() => performance.getEntriesByType('resource')
        .filter((e) => /\/v1\/wallets\/[^/]+\/sign$/.test(e.name)).map((e) => e.duration));
      result.latency_ms[scheme] = {
        n: samples.length, p50: percentile(samples, 50), p90: percentile(samples, 90),
        sign_request_p50: percentile(startRequests, 50),
      };
      log('latency', scheme, JSON.stringify(result.latency_ms[scheme]));
    }

    if (!LATENCY_ONLY) {
    // --- the hostile page on the allowed origin (logs in as our user to reach a real dialog)
    const attacker = await context.newPage();
    attacker.on('console', (m) => log(`attacker console.${m.type()}:`, m.text()));
    await attacker.goto(new URL(`attacker.html?user=${encodeURIComponent(user)}`, DAPP_URL).href);
    await attacker.waitForFunction(() => window.attackAwaitingUser === true || window.attackDone === true, null, { timeout: 180000 });
    if (await attacker.evaluate(() => window.attackAwaitingUser === true)) {
      await attacker.frameLocator('#wallet-frame').locator('#confirm').waitFor({ state: 'visible' });
      await shot(attacker, 'attacker-pending-dialog');
      await attacker.frameLocator('#wallet-frame').locator('#reject').click();
    }
    // The clickjacking attempt: a real click on Approve through the page's cover, then Reject.
    await attacker.waitForFunction(() => window.attackAwaitingClick === 'approve' || window.attackDone === true, null, { timeout: 120000 });
    if (await attacker.evaluate(() => window.attackAwaitingClick === 'approve')) {
      const f = attacker.frameLocator('#wallet-frame');
      await f.locator('#approve').waitFor({ state: 'visible' });
      await attacker.waitForTimeout(800); // past the arming delay
      await shot(attacker, 'attacker-clickjack-cover');
      await f.locator('#approve').click({ force: true }); // force: the cover is the point
      result.attacks.clickjack_notice = await f.locator('#notice').textContent();
      await attacker.evaluate(() => { window.attackClicked = true; });
      await attacker.waitForFunction(() => window.attackAwaitingClick === 'reject', null, { timeout: 30000 });
      await f.locator('#reject').click({ force: true });
    }
    await attacker.waitForFunction(() => window.attackDone === true, null, { timeout: 120000 });
    result.attacks.allowed_origin_page = await attacker.evaluate(() => window.attackResults);
    await attacker.close();

    // --- a page on an origin that is not allowed
    const foreign = await context.newPage();
    await foreign.goto(new URL('attacker.html?foreign=1', foreignUrl(DAPP_URL)).href);
    await foreign.waitForFunction(() => window.attackDone === true, null, { timeout: 120000 });
    result.attacks.foreign_origin_page = await foreign.evaluate(() => window.attackResults);
    await shot(foreign, 'foreign-origin-page');
    await foreign.close();
    for (const [pageName, res] of Object.entries(result.attacks)) {
      if (typeof res !== 'object' || res === null) continue;
      for (const [name, r] of Object.entries(res)) check(r.held, `attack ${pageName}.${name} held: ${JSON.stringify(r.detail)}`);
    }
    check(Object.keys(result.attacks.allowed_origin_page).length >= 20, 'the attacker page ran all its attempts');
    check(Object.keys(result.attacks.foreign_origin_page).length >= 3, 'the foreign page ran all its attempts');
    }
  } catch (err) {
    failures.push(`error: ${err.stack || err}`);
    log('ERROR', err.stack || err);
  } finally {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
  result.ok = failures.length === 0;
  result.failures = failures;
  const text = JSON.stringify(result, null, 2);
  writeFileSync(join(OUT_DIR, 'result.json'), text);
  process.stdout.write(`${text}\n`);
  process.exit(result.ok ? 0 : 1);
}

main();
