// Encrypted record store for the wallet iframe (IndexedDB).
//
// One AES-GCM-256 key per browser profile (per storage partition), generated with
// extractable = false and stored as the CryptoKey object itself: IndexedDB's structured
// clone keeps it non-extractable, so no script — not even this page's — can read the raw key
// bytes; it can only ask the browser to encrypt or decrypt with it. A copy of the database
// files therefore does not give the shares away by itself (the key lives in the same profile,
// so this is not protection against malware on the device, only against script exfiltration
// of key bytes and against records being read or swapped one by one).
//
// Every record is {iv, ciphertext} with a fresh random 12-byte IV, and the record's full name
// is the AES-GCM additional data: a ciphertext moved to another name (another user's slot,
// another wallet's share) fails to decrypt instead of being accepted.
//
// Record names are "<subject>/<kind>[:<id>]" so two users of one browser never see each
// other's identity or shares.

const DB_NAME = 'tssw-wallet';
const DB_VERSION = 1;
const KEYS = 'keys'; // the one CryptoKey, under "master"
const RECORDS = 'records'; // name -> {iv, ciphertext}

let dbPromise = null;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function openDb() {
  if (dbPromise) return dbPromise;
  dbPromise = new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(KEYS)) db.createObjectStore(KEYS);
      if (!db.objectStoreNames.contains(RECORDS)) db.createObjectStore(RECORDS);
    };
    req.onsuccess = () => {
      const db = req.result;
      // Let a deletion (the user clearing site data, a test) proceed instead of blocking on
      // our open connection; the next access reopens an empty database.
      db.onversionchange = () => {
        db.close();
        dbPromise = null;
        keyPromise = null;
      };
      db.onclose = () => {
        dbPromise = null;
        keyPromise = null;
      };
      resolve(db);
    };
    req.onerror = () => {
      dbPromise = null;
      reject(req.error);
    };
    req.onblocked = () => reject(new Error('wallet storage is blocked by another open tab'));
  });
  return dbPromise;
}

async function tx(storeName, mode, fn) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const t = db.transaction(storeName, mode);
    let result;
    Promise.resolve(fn(t.objectStore(storeName))).then((r) => { result = r; }, reject);
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error('storage transaction aborted'));
  });
}

let keyPromise = null;

// The master key: loaded, or generated once. Two racing first calls could both generate;
// `add` (not `put`) makes the second fail, and it then reads the winner's key.
function masterKey() {
  if (keyPromise) return keyPromise;
  keyPromise = (async () => {
    const existing = await tx(KEYS, 'readonly', (s) => request(s.get('master')));
    if (existing) return existing;
    const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, [
      'encrypt',
      'decrypt',
    ]);
    try {
      await tx(KEYS, 'readwrite', (s) => request(s.add(key, 'master')));
      return key;
    } catch {
      return tx(KEYS, 'readonly', (s) => request(s.get('master')));
    }
  })();
  keyPromise.catch(() => { keyPromise = null; });
  return keyPromise;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

async function seal(name, bytes) {
  const key = await masterKey();
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ciphertext = new Uint8Array(
    await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: enc.encode(name) }, key, bytes),
  );
  return { iv, ciphertext };
}

async function open(name, record) {
  const key = await masterKey();
  try {
    return new Uint8Array(
      await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: record.iv, additionalData: enc.encode(name) },
        key,
        record.ciphertext,
      ),
    );
  } catch {
    throw new Error(`wallet storage record ${name} does not decrypt (corrupted or moved)`);
  }
}

async function putBytes(name, bytes) {
  const record = await seal(name, bytes);
  await tx(RECORDS, 'readwrite', (s) => request(s.put(record, name)));
}

async function deleteBytes(name) {
  await tx(RECORDS, 'readwrite', (s) => request(s.delete(name)));
}

async function getBytes(name) {
  const record = await tx(RECORDS, 'readonly', (s) => request(s.get(name)));
  if (record === undefined) return undefined;
  return open(name, record);
}

// A user's view of the store. `subject` is the JWT `sub` (read, not trusted: the server
// verifies the token; a forged sub only selects an empty or undecryptable slot).
export class UserStore {
  constructor(subject) {
    if (typeof subject !== 'string' || subject.length === 0 || subject.length > 256) {
      throw new Error('token has no usable subject');
    }
    // Encode so a subject containing "/" or ":" cannot alias another user's record names.
    this.prefix = `${encodeURIComponent(subject)}/`;
  }

  name(kind, id) {
    return id === undefined ? this.prefix + kind : `${this.prefix}${kind}:${encodeURIComponent(id)}`;
  }

  async identity() {
    return getBytes(this.name('identity'));
  }

  async setIdentity(seed) {
    await putBytes(this.name('identity'), seed);
  }

  async share(walletId) {
    return getBytes(this.name('share', walletId));
  }

  async setShare(walletId, share) {
    await putBytes(this.name('share', walletId), share);
  }

  // A refresh's new share, kept apart until the server commits its epoch (the two-phase
  // rule): the active share keeps signing until then, and a closed tab loses neither.
  async pendingShare(walletId) {
    return getBytes(this.name('pending', walletId));
  }

  async setPendingShare(walletId, share) {
    await putBytes(this.name('pending', walletId), share);
  }

  async deletePendingShare(walletId) {
    await deleteBytes(this.name('pending', walletId));
  }

  // [{id, scheme, epoch, addresses}] — public data, encrypted anyway so the list of a
  // user's wallets is not readable from the profile either.
  async wallets() {
    const bytes = await getBytes(this.name('wallets'));
    return bytes ? JSON.parse(dec.decode(bytes)) : [];
  }

  async setWallets(list) {
    await putBytes(this.name('wallets'), enc.encode(JSON.stringify(list)));
  }
}
