// Demo dApp: logs in with a dev token, mounts the wallet iframe through the SDK and drives it.
// Usable by a person (the buttons) and by the browser test (window.tsswDemo).

import { TsswWallet } from '/sdk/tssw.js';
import { SAMPLE_TYPED_DATA } from './samples.js';

const $ = (id) => document.getElementById(id);

const SAMPLE_TX = {
  to: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  value: '0xde0b6b3a7640000',
  nonce: '0x0',
  gas: '0x5208',
  maxFeePerGas: '0x77359400',
  maxPriorityFeePerGas: '0x3b9aca00',
  chainId: '0x7a69',
};


$('evm-tx').value = JSON.stringify(SAMPLE_TX, null, 2);
$('typed-data').value = JSON.stringify(SAMPLE_TYPED_DATA, null, 2);

function log(label, value, cls = 'ok') {
  const line = document.createElement('div');
  line.className = cls;
  line.textContent = `${new Date().toISOString().slice(11, 23)} ${label}: ${typeof value === 'string' ? value : JSON.stringify(value, null, 2)}`;
  $('log').prepend(line);
}

const configPromise = fetch('/config.json', { cache: 'no-store' }).then((r) => r.json());
configPromise.then((c) => { $('wallet-url').textContent = c.walletUrl; });

let wallet = null;

async function mount() {
  if (wallet) return wallet;
  const cfg = await configPromise;
  wallet = await TsswWallet.mount({
    walletUrl: cfg.walletUrl,
    container: document.body,
    chainId: cfg.chainId ?? 31337,
    rpcUrl: cfg.rpcUrl ?? null,
  });
  wallet.ethereum.on('accountsChanged', (a) => log('accountsChanged', a));
  return wallet;
}

function renderWallets() {
  const body = $('wallets').tBodies[0];
  body.replaceChildren();
  for (const w of wallet?.wallets ?? []) {
    const tr = document.createElement('tr');
    const cells = [w.scheme, w.id, String(w.epoch), w.addresses ? Object.values(w.addresses).join('\n') : '—', w.hasShare === false ? 'no (recover)' : 'yes'];
    for (const c of cells) {
      const td = document.createElement('td');
      td.textContent = c;
      tr.append(td);
    }
    const td = document.createElement('td');
    for (const [label, fn] of [['backup', backup], ['recover', recover]]) {
      const b = document.createElement('button');
      b.textContent = label;
      b.addEventListener('click', () => run(label, () => fn(w.id)));
      td.append(b);
    }
    tr.append(td);
    body.append(tr);
  }
}

function need() {
  if (!wallet || !wallet.user) throw new Error('log in first');
  return wallet;
}

// Wallet id by id or by scheme (first wallet of that scheme).
function walletId(idOrScheme) {
  const w = need().wallets.find((x) => x.id === idOrScheme) ?? wallet.wallets.find((x) => x.scheme === idOrScheme);
  if (!w) throw new Error(`no wallet ${idOrScheme}`);
  return w.id;
}

async function login(user = $('user').value) {
  const res = await fetch('/dev-token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user }),
  });
  if (!res.ok) throw new Error(`/dev-token: HTTP ${res.status} ${await res.text()}`);
  const { token } = await res.json();
  await mount();
  const r = await wallet.connect(token);
  $('who').textContent = `logged in as ${r.user}`;
  renderWallets();
  return r;
}

async function create(scheme) {
  const w = await need().request('createWallet', { scheme });
  renderWallets();
  return w;
}

async function wallets() {
  const list = await need().refresh();
  renderWallets();
  return list;
}

const eth = (method, params) => need().ethereum.request({ method, params });
const firstAccount = async () => (await eth('eth_requestAccounts', []))[0];

async function signEvmTx(tx = JSON.parse($('evm-tx').value)) {
  return eth('eth_signTransaction', [typeof tx === 'string' ? JSON.parse(tx) : tx]);
}

// Signs and broadcasts through the provider's RPC URL (tssw dev --dapp-rpc-url).
async function sendEvmTx(tx = JSON.parse($('evm-tx').value)) {
  return eth('eth_sendTransaction', [typeof tx === 'string' ? JSON.parse(tx) : tx]);
}

async function signTypedData(json = $('typed-data').value) {
  return eth('eth_signTypedData_v4', [await firstAccount(), typeof json === 'string' ? json : JSON.stringify(json)]);
}

async function personalSign(message = $('message').value) {
  return eth('personal_sign', [message, await firstAccount()]);
}

async function signSolana(b64 = $('solana-tx').value.trim()) {
  return need().solana.signTransaction(b64);
}

async function signPsbt(b64 = $('psbt').value.trim(), network = $('network').value) {
  return need().bitcoin.signPsbt(b64, { network });
}

async function backup(idOrScheme) {
  return need().request('backup', { wallet: walletId(idOrScheme) });
}

async function recover(idOrScheme) {
  const r = await need().request('recover', { wallet: walletId(idOrScheme) });
  renderWallets();
  return r;
}

// Runs an action from a button, logging the outcome.
async function run(label, fn) {
  try {
    const r = await fn();
    log(label, r);
    return r;
  } catch (err) {
    log(label, `${err.code ?? ''} ${err.message}`, 'err');
    throw err;
  }
}

const demo = {
  login: (user) => run('login', () => login(user)),
  create: (scheme) => run(`create ${scheme}`, () => create(scheme)),
  wallets: () => run('wallets', wallets),
  signEvmTx: (tx) => run('eth_signTransaction', () => signEvmTx(tx)),
  sendEvmTx: (tx) => run('eth_sendTransaction', () => sendEvmTx(tx)),
  signTypedData: (json) => run('eth_signTypedData_v4', () => signTypedData(json)),
  personalSign: (msg) => run('personal_sign', () => personalSign(msg)),
  signSolana: (b64) => run('solana', () => signSolana(b64)),
  signPsbt: (b64, network) => run('psbt', () => signPsbt(b64, network)),
  backup: (w) => run('backup', () => backup(w)),
  recover: (w) => run('recover', () => recover(w)),
  // The raw wallet call, with the frame's timing (the latency measurement uses it).
  call: (method, params) => need().call(method, params),
  walletId,
  accounts: () => eth('eth_accounts', []),
  status: () => need().request('status'),
  // Same as the named functions but resolving {ok, value} / {ok: false, error: {code, message}},
  // so a caller (the test) sees the error code, which a thrown Error loses in transit.
  async attempt(name, ...args) {
    try {
      return { ok: true, value: await demo[name](...args) };
    } catch (err) {
      return { ok: false, error: { code: err.code ?? null, message: String(err.message) } };
    }
  },
};
window.tsswDemo = demo;

$('login').addEventListener('click', () => demo.login().catch(() => {}));
for (const b of document.querySelectorAll('[data-create]')) {
  b.addEventListener('click', () => demo.create(b.dataset.create).catch(() => {}));
}
$('refresh').addEventListener('click', () => demo.wallets().catch(() => {}));
$('sign-evm').addEventListener('click', () => demo.signEvmTx().catch(() => {}));
$('sign-712').addEventListener('click', () => demo.signTypedData().catch(() => {}));
$('sign-personal').addEventListener('click', () => demo.personalSign().catch(() => {}));
$('sign-solana').addEventListener('click', () => demo.signSolana().catch(() => {}));
$('sign-psbt').addEventListener('click', () => demo.signPsbt().catch(() => {}));
