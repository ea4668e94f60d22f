// tss-wallet embedding SDK for dApps (a plain ES module, no dependencies).
//
//   import { TsswWallet } from '<dapp>/sdk/tssw.js';
//   const wallet = await TsswWallet.mount({ walletUrl, container, chainId, rpcUrl });
//   await wallet.connect(jwt);
//   await wallet.ethereum.request({ method: 'eth_requestAccounts' });
//
// The wallet runs in a cross-origin iframe; this module only exchanges postMessage requests
// with it (protocol in web/README.md). It never sees a key share: signatures come back as
// finished artifacts after the user approved them inside the frame. The frame is hidden
// until it asks for the user (a confirmation), then shown as a modal.

const PROTOCOL = 1;
// Methods that wait for the user in the frame get a long timeout; the rest a short one.
const INTERACTIVE = new Set(['createWallet', 'signEvmTransaction', 'signTypedData', 'signMessage', 'signSolanaTransaction', 'signPsbt', 'backup', 'recover']);

export class ProviderRpcError extends Error {
  constructor(code, message, data) {
    super(message);
    this.name = 'ProviderRpcError';
    this.code = code;
    if (data !== undefined) this.data = data;
  }
}

function toHexQuantity(n) {
  return `0x${BigInt(n).toString(16)}`;
}

export class TsswWallet {
  // Creates the iframe and waits until the wallet announces it is ready.
  static async mount({
    walletUrl,
    container = document.body,
    chainId = 31337,
    rpcUrl = null,
    readyTimeoutMs = 30000,
    requestTimeoutMs = 120000,
    interactiveTimeoutMs = 15 * 60 * 1000,
  } = {}) {
    const wallet = new TsswWallet({ walletUrl, container, chainId, rpcUrl, requestTimeoutMs, interactiveTimeoutMs });
    await wallet.#waitReady(readyTimeoutMs);
    return wallet;
  }

  #origin;
  #iframe;
  #overlay;
  #pending = new Map(); // id -> {resolve, reject, timer}
  #nextId = 1;
  #queue = Promise.resolve(); // the wallet serves one request at a time; so do we
  #onMessage;
  #readyWaiter = null;
  #opts;

  constructor({ walletUrl, container, chainId, rpcUrl, requestTimeoutMs, interactiveTimeoutMs }) {
    const url = new URL(walletUrl, location.href);
    this.#origin = url.origin;
    this.#opts = { requestTimeoutMs, interactiveTimeoutMs };
    this.user = null;
    this.wallets = [];

    // The modal: a fixed full-page backdrop with the frame centred. Inline styles set through
    // the CSSOM, so a dApp CSP without 'unsafe-inline' styles still allows them.
    const overlay = document.createElement('div');
    overlay.className = 'tssw-overlay';
    Object.assign(overlay.style, {
      position: 'fixed', inset: '0', display: 'none', alignItems: 'center', justifyContent: 'center',
      background: 'rgba(0,0,0,0.45)', zIndex: '2147483647',
    });
    const iframe = document.createElement('iframe');
    iframe.title = 'tss-wallet';
    iframe.src = url.href;
    // allow-same-origin keeps the frame on its own origin (its IndexedDB); the parent still
    // cannot read it, being another origin. No popups, no top navigation, no forms.
    iframe.setAttribute('sandbox', 'allow-scripts allow-same-origin');
    iframe.setAttribute('allow', '');
    iframe.referrerPolicy = 'origin';
    Object.assign(iframe.style, {
      width: 'min(460px, 96vw)', height: 'min(640px, 92vh)', border: '0', borderRadius: '10px',
      background: '#fff', boxShadow: '0 10px 40px rgba(0,0,0,0.35)',
    });
    overlay.append(iframe);
    this.#overlay = overlay;
    this.#iframe = iframe;

    this.#onMessage = (event) => this.#receive(event);
    window.addEventListener('message', this.#onMessage); // before the frame can load
    container.append(overlay);

    this.ethereum = new EthereumProvider(this, { chainId, rpcUrl });
    this.solana = {
      // Signs with the (first, or the given) Ed25519 wallet; returns the artifact.
      signTransaction: (transaction, { wallet } = {}) =>
        this.request('signSolanaTransaction', { wallet: wallet ?? this.#walletFor('ed25519'), transaction }),
      publicKey: () => this.wallets.find((w) => w.scheme === 'ed25519' && w.addresses)?.addresses.solana ?? null,
    };
    this.bitcoin = {
      signPsbt: (psbt, { network, wallet } = {}) =>
        this.request('signPsbt', { wallet: wallet ?? this.#walletFor('bip340'), psbt, ...(network ? { network } : {}) }),
      address: (network = 'bitcoin') => {
        const a = this.wallets.find((w) => w.scheme === 'bip340' && w.addresses)?.addresses;
        if (!a) return null;
        return { bitcoin: a.bitcoin, testnet: a.bitcoinTestnet, regtest: a.bitcoinRegtest }[network] ?? null;
      },
    };
  }

  get walletOrigin() {
    return this.#origin;
  }

  get frame() {
    return this.#iframe;
  }

  #walletFor(scheme) {
    const w = this.wallets.find((x) => x.scheme === scheme && x.hasShare !== false);
    if (!w) throw new ProviderRpcError(4100, `no ${scheme} wallet on this device: create or recover one`);
    return w.id;
  }

  #waitReady(timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#readyWaiter = null;
        reject(new ProviderRpcError(4900, `wallet frame at ${this.#origin} did not become ready in ${timeoutMs} ms (not allowed to embed it from ${location.origin}? see allowedOrigins / frame-ancestors)`));
      }, timeoutMs);
      this.#readyWaiter = {
        ready: () => { clearTimeout(timer); this.#readyWaiter = null; resolve(); },
        fail: (message) => { clearTimeout(timer); this.#readyWaiter = null; reject(new ProviderRpcError(4900, message)); },
      };
    });
  }

  #receive(event) {
    // Replies count only from our frame's window and the wallet's origin.
    if (event.source !== this.#iframe.contentWindow || event.origin !== this.#origin) return;
    const msg = event.data;
    if (!msg || typeof msg !== 'object' || msg.tssw !== PROTOCOL) return;
    if (typeof msg.event === 'string') {
      if (msg.event === 'ready') this.#readyWaiter?.ready();
      else if (msg.event === 'error') this.#readyWaiter?.fail(String(msg.message));
      else if (msg.event === 'ui') this.#overlay.style.display = msg.visible ? 'flex' : 'none';
      return;
    }
    const p = this.#pending.get(msg.id);
    if (!p) return;
    this.#pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.error) p.reject(new ProviderRpcError(Number(msg.error.code), String(msg.error.message)));
    else p.resolve({ result: msg.result, timing: msg.timing });
  }

  // Sends one request; resolves {result, timing} (timing: {ceremonyMs} for ceremonies,
  // measured in the frame from Approve to result).
  call(method, params = {}) {
    const run = () => new Promise((resolve, reject) => {
      const id = `r${this.#nextId++}`;
      const timeoutMs = INTERACTIVE.has(method) ? this.#opts.interactiveTimeoutMs : this.#opts.requestTimeoutMs;
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        this.#overlay.style.display = 'none';
        reject(new ProviderRpcError(4900, `wallet did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#iframe.contentWindow.postMessage({ tssw: PROTOCOL, id, method, params }, this.#origin);
    });
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => {});
    return result;
  }

  async request(method, params = {}) {
    const { result } = await this.call(method, params);
    if (method === 'createWallet' || method === 'recover') await this.refresh();
    return result;
  }

  // Opens the user's session in the frame with the dApp's login token.
  async connect(token) {
    const { user, wallets } = await this.request('connect', { token });
    this.user = user;
    this.#setWallets(wallets);
    return { user, wallets };
  }

  async refresh() {
    this.#setWallets(await this.request('wallets'));
    return this.wallets;
  }

  #setWallets(list) {
    const before = this.ethereum.accounts().join();
    this.wallets = list;
    const after = this.ethereum.accounts();
    if (after.join() !== before) this.ethereum.emit('accountsChanged', after);
  }

  unmount() {
    window.removeEventListener('message', this.#onMessage);
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new ProviderRpcError(4900, 'wallet unmounted'));
    }
    this.#pending.clear();
    this.#overlay.remove();
  }
}

// EIP-1193 provider over the wallet's ECDSA wallets.
class EthereumProvider {
  #wallet;
  #listeners = new Map();
  #chainId;
  #rpcUrl;

  constructor(wallet, { chainId, rpcUrl }) {
    this.#wallet = wallet;
    this.#chainId = Number(chainId);
    this.#rpcUrl = rpcUrl;
    this.isTssw = true;
  }

  accounts() {
    return this.#wallet.wallets
      .filter((w) => w.scheme === 'ecdsa' && w.hasShare !== false && w.addresses?.evm)
      .map((w) => w.addresses.evm.toLowerCase());
  }

  #walletId(address) {
    const want = address ? String(address).toLowerCase() : this.accounts()[0];
    const w = this.#wallet.wallets.find((x) => x.scheme === 'ecdsa' && x.hasShare !== false && x.addresses?.evm?.toLowerCase() === want);
    if (!w) throw new ProviderRpcError(4100, address ? `address ${address} is not an account of this wallet` : 'no account: connect and create or recover an ECDSA wallet');
    return w.id;
  }

  on(name, fn) {
    if (!this.#listeners.has(name)) this.#listeners.set(name, new Set());
    this.#listeners.get(name).add(fn);
    return this;
  }

  removeListener(name, fn) {
    this.#listeners.get(name)?.delete(fn);
    return this;
  }

  emit(name, value) {
    for (const fn of this.#listeners.get(name) ?? []) {
      try { fn(value); } catch (err) { console.error(err); }
    }
  }

  async request({ method, params = [] } = {}) {
    if (typeof method !== 'string') throw new ProviderRpcError(-32602, 'method must be a string');
    if (!Array.isArray(params)) throw new ProviderRpcError(-32602, 'params must be an array');
    const w = this.#wallet;
    switch (method) {
      case 'eth_chainId':
        return toHexQuantity(this.#chainId);
      case 'net_version':
        return String(this.#chainId);
      case 'eth_accounts':
        return this.accounts();
      case 'eth_requestAccounts': {
        if (!w.user) throw new ProviderRpcError(4100, 'not connected: log in and call wallet.connect(token)');
        const accounts = this.accounts();
        if (accounts.length === 0) throw new ProviderRpcError(4100, 'no ECDSA wallet on this device: create or recover one');
        return accounts;
      }
      case 'wallet_switchEthereumChain': {
        const id = Number.parseInt(params[0]?.chainId, 16);
        if (!Number.isSafeInteger(id) || id <= 0) throw new ProviderRpcError(-32602, 'chainId must be 0x-hex');
        if (id !== this.#chainId) {
          this.#chainId = id;
          this.emit('chainChanged', toHexQuantity(id));
        }
        return null;
      }
      case 'personal_sign': {
        const [message, address] = params;
        if (typeof message !== 'string') throw new ProviderRpcError(-32602, 'personal_sign: [message, address]');
        const r = await w.request('signMessage', { wallet: this.#walletId(address), message });
        return r.signature;
      }
      case 'eth_signTypedData_v4': {
        const [address, typedData] = params;
        if (typedData === undefined) throw new ProviderRpcError(-32602, 'eth_signTypedData_v4: [address, typedData]');
        const r = await w.request('signTypedData', { wallet: this.#walletId(address), typedData });
        return r.signature;
      }
      case 'eth_signTransaction':
        return (await this.#signTx(params[0])).raw_transaction;
      case 'eth_sendTransaction': {
        if (!this.#rpcUrl) throw new ProviderRpcError(4200, 'eth_sendTransaction needs an rpcUrl (TsswWallet.mount({rpcUrl})); eth_signTransaction only signs');
        const signed = await this.#signTx(params[0]);
        const hash = await this.#rpc('eth_sendRawTransaction', [signed.raw_transaction]);
        return hash ?? signed.transaction_hash;
      }
      default:
        throw new ProviderRpcError(4200, `unsupported method ${method}`);
    }
  }

  async #signTx(tx) {
    if (!tx || typeof tx !== 'object') throw new ProviderRpcError(-32602, 'expected [transaction]');
    const wallet = this.#walletId(tx.from);
    const withChain = tx.chainId === undefined ? { ...tx, chainId: toHexQuantity(this.#chainId) } : tx;
    return this.#wallet.request('signEvmTransaction', { wallet, tx: withChain, chainId: this.#chainId });
  }

  async #rpc(method, params) {
    const res = await fetch(this.#rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    });
    if (!res.ok) throw new ProviderRpcError(-32603, `${method}: RPC HTTP ${res.status}`);
    const body = await res.json();
    if (body.error) throw new ProviderRpcError(body.error.code ?? -32603, `${method}: ${body.error.message}`, body.error.data);
    return body.result;
  }
}

export default TsswWallet;
