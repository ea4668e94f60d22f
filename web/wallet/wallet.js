// The wallet iframe: holds the key shares and answers the embedding dApp over postMessage.
//
// Trust boundary: this page runs on the wallet origin; the dApp that embeds it is another
// origin and can only talk to it through the messages handled below. The share and the
// device identity seed are read from the encrypted store, used here, and never put into
// any message. Every signature, backup and recovery waits for a real click on this page's
// Approve button, which the embedding page cannot produce (it cannot reach into a
// cross-origin frame, and synthetic events are not `isTrusted`).
//
// Protocol (see ../README.md): requests {tssw: 1, id, method, params} from window.parent,
// replies {tssw: 1, id, result[, timing]} or {tssw: 1, id, error: {code, message}} to the
// requesting window and origin only. Events {tssw: 1, event} go to the parent.

import { UserStore } from './store.js';

const PROTOCOL = 1;
const MAX_REQUEST_CHARS = 1 << 20; // a PSBT or typed data larger than 1 MiB is not a real request
const APPROVE_ARM_MS = 600; // Approve ignores clicks this soon after the dialog appears

// Error codes: EIP-1193 provider errors where they fit, JSON-RPC for malformed requests,
// the JSON-RPC server range for the wallet's own failures.
const E = {
  USER_REJECTED: 4001,
  UNAUTHORIZED: 4100,
  UNSUPPORTED_METHOD: 4200,
  INVALID_REQUEST: -32600,
  INVALID_PARAMS: -32602,
  INTERNAL: -32603,
  CORE: -32000, // the wasm core or the service failed (message says what)
  NO_SHARE: -32001, // this device has no share for the wallet (recover it)
  BUSY: -32002, // another request is in progress
};

class WalletError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

// ---------------------------------------------------------------------------------------
// State

const state = {
  config: null,
  allowed: new Set(),
  core: null, // WalletCore after connect
  WalletCore: null, // the wasm class
  store: null, // UserStore of the connected subject
  user: null,
  enclave: null, // {teeMode, notice} from the attestation
  busy: false,
  dropped: 0, // messages ignored (wrong origin/source/shape): counted, never answered
  rejectedRequests: 0,
};

const embedded = window.parent !== window;
const inFlight = new Set(); // request ids being handled

let resolveReady;
let rejectReady;
const ready = new Promise((res, rej) => { resolveReady = res; rejectReady = rej; });
ready.catch(() => {});

// ---------------------------------------------------------------------------------------
// Boot: config, wasm, then announce readiness to the parent (only if it is an allowed origin:
// postMessage with a targetOrigin that does not match the parent delivers nothing).

async function boot() {
  const res = await fetch('config.json', { cache: 'no-store' });
  if (!res.ok) throw new Error(`config.json: HTTP ${res.status}`);
  const config = await res.json();
  const origins = Array.isArray(config.allowedOrigins) ? config.allowedOrigins : [];
  for (const o of origins) {
    // Only exact serialized origins; "*" or a URL with a path would widen the check.
    if (typeof o === 'string' && o !== '*' && o === safeOrigin(o)) state.allowed.add(o);
    else console.error('tssw wallet: ignoring allowedOrigins entry', o);
  }
  state.config = config;
  const pkg = await import('./pkg/tssw_web.js');
  await pkg.default();
  state.WalletCore = pkg.WalletCore;
}

function safeOrigin(s) {
  try {
    return new URL(s).origin;
  } catch {
    return null;
  }
}

function announce(message) {
  if (!embedded) return;
  for (const origin of state.allowed) window.parent.postMessage({ tssw: PROTOCOL, ...message }, origin);
}

boot().then(
  () => {
    resolveReady();
    setStatus(embedded ? 'Ready. Not connected.' : 'This page only works embedded in an allowed dApp.');
    announce({ event: 'ready', protocols: [PROTOCOL] });
  },
  (err) => {
    rejectReady(err);
    setStatus(`Wallet failed to start: ${err.message}`);
    console.error('tssw wallet: boot failed', err);
    announce({ event: 'error', message: `wallet failed to start: ${err.message}` });
  },
);

// ---------------------------------------------------------------------------------------
// Messages

window.addEventListener('message', (event) => {
  // Only the direct parent, only from an allowed origin; everything else is dropped without
  // a reply so a foreign page learns nothing (not even that a wallet is listening).
  if (!embedded || event.source !== window.parent || !state.allowed.has(event.origin)) {
    state.dropped++;
    return;
  }
  const msg = event.data;
  if (!isPlainObject(msg) || !Object.hasOwn(msg, 'tssw')) {
    state.dropped++; // not addressed to us (other libraries post messages too)
    return;
  }
  const reply = (body) => event.source.postMessage({ tssw: PROTOCOL, ...body }, event.origin);
  const id = validId(msg.id) ? msg.id : null;
  // A second request under the id of one still in flight would make its reply ambiguous.
  if (id !== null && inFlight.has(id)) {
    reply({ id, error: { code: E.INVALID_REQUEST, message: 'duplicate request id: a request with this id is in progress' } });
    return;
  }
  if (id !== null) inFlight.add(id);
  handle(msg, event.origin).finally(() => inFlight.delete(id)).then(
    ({ result, timing }) => reply(timing ? { id, result, timing } : { id, result }),
    (err) => {
      state.rejectedRequests++;
      const code = err instanceof WalletError ? err.code : E.INTERNAL;
      if (!(err instanceof WalletError)) console.error('tssw wallet: internal error', err);
      reply({ id, error: { code, message: String(err.message || err) } });
    },
  );
});

function isPlainObject(v) {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function validId(id) {
  return (typeof id === 'string' && id.length > 0 && id.length <= 128) || Number.isSafeInteger(id);
}

async function handle(msg, origin) {
  if (msg.tssw !== PROTOCOL) {
    throw new WalletError(E.INVALID_REQUEST, `unsupported protocol version ${JSON.stringify(msg.tssw)}; this wallet speaks ${PROTOCOL}`);
  }
  if (!validId(msg.id)) throw new WalletError(E.INVALID_REQUEST, 'request id must be a non-empty string (≤ 128 chars) or an integer');
  let size;
  try {
    size = JSON.stringify(msg).length;
  } catch {
    throw new WalletError(E.INVALID_REQUEST, 'request is not JSON data');
  }
  if (size > MAX_REQUEST_CHARS) throw new WalletError(E.INVALID_PARAMS, `request too large (${size} chars, limit ${MAX_REQUEST_CHARS})`);
  // A Map, not an object lookup: "__proto__", "constructor" and the like are not methods.
  const method = typeof msg.method === 'string' ? METHODS.get(msg.method) : undefined;
  if (!method) throw new WalletError(E.UNSUPPORTED_METHOD, `unsupported method ${JSON.stringify(String(msg.method).slice(0, 64))}`);
  const params = msg.params === undefined ? {} : msg.params;
  if (!isPlainObject(params)) throw new WalletError(E.INVALID_PARAMS, 'params must be an object');
  if (method.free) return { result: await method.run(params, origin) };
  try {
    await ready;
  } catch (err) {
    throw new WalletError(E.INTERNAL, `wallet failed to start: ${err.message}`);
  }
  if (state.busy) throw new WalletError(E.BUSY, 'busy: another wallet request is in progress; send one request at a time');
  state.busy = true;
  try {
    if (method.session && !state.core) throw new WalletError(E.UNAUTHORIZED, 'not connected: call connect with a token first');
    const out = await method.run(params, origin);
    return out && out.timing ? out : { result: out };
  } finally {
    // A failure after approval (or before the dialog closed) must still close it.
    if (!$('confirm').hidden) hideDialog();
    state.busy = false;
  }
}

// ---------------------------------------------------------------------------------------
// Parameter checks

function str(params, key, { max = MAX_REQUEST_CHARS, optional = false } = {}) {
  const v = params[key];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > max) {
    throw new WalletError(E.INVALID_PARAMS, `params.${key} must be a non-empty string`);
  }
  return v;
}

// JSON inputs may come as text or as an object; the core takes text.
function jsonText(params, key) {
  const v = params[key];
  if (typeof v === 'string' && v.length > 0) return v;
  if (isPlainObject(v) || Array.isArray(v)) return JSON.stringify(v);
  throw new WalletError(E.INVALID_PARAMS, `params.${key} must be JSON text or an object`);
}

function chainIdOption(params) {
  const v = params.chainId;
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'string' && /^0x[0-9a-fA-F]{1,16}$/.test(v) ? Number.parseInt(v, 16) : v;
  if (!Number.isSafeInteger(n) || n <= 0) throw new WalletError(E.INVALID_PARAMS, 'params.chainId must be a positive integer or 0x-hex');
  return n;
}

const SCHEMES = new Set(['ecdsa', 'ed25519', 'bip340']);
const NETWORKS = new Set(['bitcoin', 'testnet', 'regtest']);
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function base64(params, key) {
  const v = str(params, key);
  if (!BASE64.test(v)) throw new WalletError(E.INVALID_PARAMS, `params.${key} must be base64`);
  return v;
}

function noPasscodeParam(params) {
  if (params.passcode !== undefined) {
    // The dApp holds the user's login token; if it also knew the passcode it could restore
    // the backup itself. So the passcode is typed into this frame only.
    throw new WalletError(E.INVALID_PARAMS, 'the passcode is entered in the wallet frame, not passed by the page (omit params.passcode)');
  }
}

// ---------------------------------------------------------------------------------------
// Session helpers

function jwtSubject(token) {
  const parts = token.split('.');
  if (parts.length !== 3) throw new WalletError(E.INVALID_PARAMS, 'token is not a JWT');
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = new TextDecoder().decode(Uint8Array.from(atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, '=')), (c) => c.charCodeAt(0)));
    const sub = JSON.parse(json).sub;
    if (typeof sub !== 'string' || sub.length === 0) throw new Error('no sub');
    return sub;
  } catch {
    throw new WalletError(E.INVALID_PARAMS, 'token payload has no subject');
  }
}

function coreError(err) {
  if (err instanceof WalletError) return err;
  return new WalletError(E.CORE, err && err.message ? err.message : String(err));
}

async function core(fn) {
  try {
    return await fn();
  } catch (err) {
    throw coreError(err);
  }
}

function publicInfo(w) {
  // Built field by field: whatever else the core returns (the share) is never copied out.
  return { id: w.id, scheme: w.scheme, epoch: w.epoch, addresses: w.addresses ?? null };
}

async function requireShare(walletId) {
  const share = await state.store.share(walletId);
  if (!share) {
    throw new WalletError(E.NO_SHARE, `no key share for wallet ${walletId} on this device (storage was cleared or it was created elsewhere); recover it from its backup`);
  }
  return share;
}

async function rememberWallet(w) {
  await state.store.setShare(w.id, w.share);
  const list = (await state.store.wallets()).filter((x) => x.id !== w.id);
  list.push(publicInfo(w));
  await state.store.setWallets(list);
}

// Finishes an epoch change that a closed tab interrupted, by what the server says (as the
// CLI's reconcile does): it committed the pending epoch → promote the local pending share;
// it still waits for this device → confirm, then promote; it has no such epoch → drop it.
async function settle(view) {
  const pending = await state.store.pendingShare(view.id);
  if (!pending) return;
  const { epoch } = state.WalletCore.info(pending);
  const committed = epoch === view.epoch
    || (epoch === view.pendingEpoch && await core(() => state.core.confirm(view.id, pending)));
  if (committed) await rememberWallet({ ...state.WalletCore.info(pending), id: view.id, share: pending });
  await state.store.deletePendingShare(view.id);
}

// A refresh under the two-phase rule: the new share is stored pending before the server is
// asked to commit, and becomes this device's share only once it has. Returns the new share.
async function refreshWallet(walletId, share) {
  const next = await core(() => state.core.refresh(walletId, share));
  await state.store.setPendingShare(walletId, next.share);
  if (!await core(() => state.core.confirm(walletId, next.share))) {
    throw new WalletError(E.CORE, 'the server did not commit the refresh');
  }
  await rememberWallet(next);
  await state.store.deletePendingShare(walletId);
  return next;
}

// The server's wallets, with addresses where this device holds the share.
async function walletList() {
  const [server, local] = await Promise.all([core(() => state.core.listWallets()), state.store.wallets()]);
  const byId = new Map(local.map((w) => [w.id, w]));
  return server.map((s) => {
    const mine = byId.get(s.id);
    return {
      id: s.id,
      scheme: s.scheme,
      epoch: s.epoch,
      addresses: mine ? mine.addresses : null,
      hasShare: Boolean(mine),
      ...(s.status !== undefined ? { status: s.status } : {}),
      ...(mine && mine.epoch !== s.epoch ? { localEpoch: mine.epoch } : {}),
    };
  });
}

// ---------------------------------------------------------------------------------------
// Methods. `free`: answered even before boot / while busy; `session`: needs connect.

async function signFlow(origin, params, kind, input, options, title) {
  const walletId = str(params, 'wallet', { max: 256 });
  const share = await requireShare(walletId);
  let described;
  try {
    described = state.WalletCore.describe(share, kind, input, options);
  } catch (err) {
    throw new WalletError(E.INVALID_PARAMS, `cannot sign this input: ${err.message}`);
  }
  const info = state.WalletCore.info(share);
  // For Bitcoin, the address of the network being signed for (the PSBT's, not mainnet's).
  const btc = { bitcoin: 'bitcoin', testnet: 'bitcoinTestnet', regtest: 'bitcoinRegtest' }[options.network ?? 'bitcoin'];
  const address = info.addresses?.[btc] ?? Object.values(info.addresses || {})[0] ?? walletId;
  await confirm({ origin, title, wallet: `${info.scheme} · ${address}`, details: described, raw: input });
  const t0 = performance.now();
  const artifact = await core(() => state.core.sign(walletId, share, kind, input, options));
  const ceremonyMs = performance.now() - t0;
  done('Signed.');
  return { result: artifact, timing: { ceremonyMs } };
}

const METHODS = new Map(Object.entries({
  hello: {
    free: true,
    run: async () => ({ protocols: [PROTOCOL], walletOrigin: location.origin }),
  },
  status: {
    free: true,
    run: async () => ({
      protocol: PROTOCOL,
      ready: state.WalletCore !== null,
      connected: state.core !== null,
      user: state.user,
      enclave: state.enclave ?? null,
      busy: state.busy,
      dropped: state.dropped,
      // Whether the browser reports occlusion (IntersectionObserver v2) for the clickjacking check.
      occlusionCheck: occlusionSupported ? 'active' : 'unsupported',
    }),
  },
  connect: {
    run: async (params) => {
      const token = str(params, 'token', { max: 16384 });
      const user = jwtSubject(token);
      const store = new UserStore(user);
      const identity = await store.identity();
      const { serverUrl, epsUrl, trust } = state.config;
      // The identity seed as the second argument (the wasm signature `open(config, identity)`).
      const opened = await core(() => state.WalletCore.open({ serverUrl, epsUrl, token, trust }, identity));
      if (!identity) await store.setIdentity(opened.identitySeed());
      if (state.core && typeof state.core.free === 'function') state.core.free();
      const enclave = typeof opened.enclave === 'function' ? opened.enclave() : null;
      Object.assign(state, { core: opened, store, user, enclave });
      for (const view of await core(() => opened.listWallets())) await settle(view);
      $('tee').textContent = enclave ? `Service enclave: ${enclave.teeMode}${enclave.notice ? ` — ${enclave.notice}` : ''}` : '';
      setStatus(`Connected as ${user}.`);
      return { user, wallets: await walletList() };
    },
  },
  wallets: { session: true, run: async () => walletList() },
  createWallet: {
    session: true,
    run: async (params, origin) => {
      const scheme = str(params, 'scheme', { max: 16 });
      if (!SCHEMES.has(scheme)) throw new WalletError(E.INVALID_PARAMS, 'params.scheme must be ecdsa, ed25519 or bip340');
      await confirm({
        origin,
        title: `Create a new ${scheme} wallet`,
        wallet: `new, for ${state.user}`,
        details: [{ kind: 'new_wallet', scheme, user: state.user, parties: 'this device + the service (2-of-2)' }],
      });
      const t0 = performance.now();
      const w = await core(() => state.core.createWallet(scheme));
      const ceremonyMs = performance.now() - t0;
      await rememberWallet(w);
      done('Wallet created.');
      return { result: publicInfo(w), timing: { ceremonyMs } };
    },
  },
  signEvmTransaction: {
    session: true,
    run: async (params, origin) => {
      const input = jsonText(params, 'tx');
      const chainId = chainIdOption(params);
      return signFlow(origin, params, 'evm-tx', input, chainId ? { chainId } : {}, 'Sign an EVM transaction');
    },
  },
  signTypedData: {
    session: true,
    run: async (params, origin) => signFlow(origin, params, 'eip712', jsonText(params, 'typedData'), {}, 'Sign typed data (EIP-712)'),
  },
  signMessage: {
    session: true,
    run: async (params, origin) => signFlow(origin, params, 'message', str(params, 'message'), {}, 'Sign a message'),
  },
  signSolanaTransaction: {
    session: true,
    run: async (params, origin) => signFlow(origin, params, 'solana-tx', base64(params, 'transaction'), {}, 'Sign a Solana transaction'),
  },
  signPsbt: {
    session: true,
    run: async (params, origin) => {
      const network = params.network === undefined ? undefined : str(params, 'network', { max: 16 });
      if (network !== undefined && !NETWORKS.has(network)) throw new WalletError(E.INVALID_PARAMS, 'params.network must be bitcoin, testnet or regtest');
      return signFlow(origin, params, 'psbt', base64(params, 'psbt'), network ? { network } : {}, 'Sign a Bitcoin PSBT');
    },
  },
  backup: {
    session: true,
    run: async (params, origin) => {
      noPasscodeParam(params);
      const walletId = str(params, 'wallet', { max: 256 });
      const share = await requireShare(walletId);
      const info = state.WalletCore.info(share);
      const { passcode } = await confirm({
        origin,
        title: 'Back up this wallet',
        wallet: info,
        details: [{ kind: 'backup', wallet: walletId, epoch: info.epoch, via: 'encryption proxy (the service alone cannot open it)' }],
        passcode: 'Choose a backup passcode (empty: no passcode — then your login alone restores the backup)',
      });
      const t0 = performance.now();
      const epoch = await core(() => state.core.backup(walletId, share, passcode));
      const ceremonyMs = performance.now() - t0;
      done('Backed up.');
      // The core returns the epoch as a u64 (a BigInt in JS); epochs are small counters.
      return { result: { wallet: walletId, epoch: Number(epoch) }, timing: { ceremonyMs } };
    },
  },
  recover: {
    session: true,
    run: async (params, origin) => {
      noPasscodeParam(params);
      const walletId = str(params, 'wallet', { max: 256 });
      const { passcode } = await confirm({
        origin,
        title: 'Recover this wallet from its backup',
        wallet: walletId,
        details: [{ kind: 'recover', wallet: walletId, user: state.user }],
        passcode: 'Backup passcode',
      });
      const t0 = performance.now();
      const restored = await core(() => state.core.recover(walletId, passcode));
      await rememberWallet(restored);
      // Then a refresh, as the CLI does: the lost device's copy of the restored epoch stops
      // signing with the service. A pending epoch nobody here holds (a tab closed during a
      // refresh) is dropped first: this device is the wallet's only device holder.
      const view = (await core(() => state.core.listWallets())).find((v) => v.id === walletId);
      if (view && view.pendingEpoch != null) await core(() => state.core.abort(walletId, view.pendingEpoch));
      const w = await refreshWallet(walletId, restored.share);
      // And the new epoch's backup, under the same passcode (the old backup no longer fits).
      try {
        await state.core.backup(walletId, w.share, passcode);
      } catch (err) {
        throw new WalletError(E.CORE, `recovered (now at epoch ${w.epoch}), but its new backup failed: back it up again (${err.message})`);
      }
      const ceremonyMs = performance.now() - t0;
      done('Recovered.');
      return { result: publicInfo(w), timing: { ceremonyMs } };
    },
  },
}));

// ---------------------------------------------------------------------------------------
// Confirmation UI

const $ = (id) => document.getElementById(id);

function setStatus(text) {
  $('status').textContent = text;
}

let parentOrigin = null; // where the current dialog's ui events go

function showUi(origin, visible) {
  if (origin) window.parent.postMessage({ tssw: PROTOCOL, event: 'ui', visible }, origin);
}

// Visibility (IntersectionObserver v2, Chromium): false when the dialog is covered, faded or
// transformed by the embedding page — the shapes of a clickjacking overlay. Where the browser
// does not report it (undefined) only the arming delay applies.
let dialogVisible;
const occlusionSupported = 'IntersectionObserverEntry' in window && 'isVisible' in IntersectionObserverEntry.prototype;
if (occlusionSupported) {
  const io = new IntersectionObserver(
    (entries) => { for (const e of entries) dialogVisible = e.isVisible; },
    { trackVisibility: true, delay: 100 },
  );
  io.observe($('approve'));
}

function renderValue(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'object') return JSON.stringify(v, null, 2);
  return String(v);
}

function renderDetails(container, details) {
  container.replaceChildren();
  for (const item of details) {
    const section = document.createElement('section');
    const h = document.createElement('h3');
    h.textContent = String(item.kind ?? 'item').replace(/_/g, ' ');
    section.append(h);
    const dl = document.createElement('dl');
    for (const [k, v] of Object.entries(item)) {
      if (k === 'kind') continue;
      const dt = document.createElement('dt');
      dt.textContent = k.replace(/_/g, ' ');
      const dd = document.createElement('dd');
      dd.textContent = renderValue(v); // textContent only: the dApp's strings are never HTML
      dl.append(dt, dd);
    }
    section.append(dl);
    container.append(section);
  }
}

// Shows the dialog and resolves on a trusted Approve click ({passcode}) or rejects (4001).
function confirm({ origin, title, wallet, details, raw, passcode }) {
  return new Promise((resolve, reject) => {
    parentOrigin = origin;
    $('title').textContent = title;
    $('origin').textContent = origin;
    $('wallet').textContent = typeof wallet === 'string' ? wallet : `${wallet.scheme} · ${Object.values(wallet.addresses || {})[0] ?? ''}`;
    renderDetails($('details'), Array.isArray(details) ? details : [details]);
    $('raw-box').hidden = raw === undefined;
    $('raw').textContent = raw === undefined ? '' : raw;
    $('passcode-box').hidden = !passcode;
    $('passcode-label').textContent = passcode || '';
    $('passcode').value = '';
    $('notice').textContent = '';
    $('progress').hidden = true;
    const approve = $('approve');
    const reject_ = $('reject');
    approve.disabled = true;
    reject_.disabled = false;
    $('idle').hidden = true;
    $('confirm').hidden = false;
    showUi(origin, true);
    if (passcode) $('passcode').focus();
    const armTimer = setTimeout(() => { approve.disabled = false; }, APPROVE_ARM_MS);

    const cleanup = () => {
      clearTimeout(armTimer);
      approve.removeEventListener('click', onApprove);
      reject_.removeEventListener('click', onReject);
    };
    function onApprove(ev) {
      if (!ev.isTrusted || approve.disabled) return;
      if (dialogVisible === false) {
        $('notice').textContent = 'The wallet dialog is obscured by the page; approval is disabled.';
        return;
      }
      cleanup();
      const code = passcode ? $('passcode').value : undefined;
      $('passcode').value = '';
      approve.disabled = true;
      reject_.disabled = true;
      $('progress').hidden = false;
      resolve({ passcode: passcode ? (code.length ? code : null) : undefined });
    }
    function onReject(ev) {
      if (!ev.isTrusted) return;
      cleanup();
      hideDialog();
      reject(new WalletError(E.USER_REJECTED, 'user rejected the request'));
    }
    approve.addEventListener('click', onApprove);
    reject_.addEventListener('click', onReject);
  });
}

function hideDialog() {
  $('confirm').hidden = true;
  $('idle').hidden = false;
  showUi(parentOrigin, false);
  parentOrigin = null;
}

function done(text) {
  setStatus(text);
  hideDialog();
}

window.addEventListener('unhandledrejection', (e) => console.error('tssw wallet:', e.reason));
