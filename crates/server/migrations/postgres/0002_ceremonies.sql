-- Wallets are created by a DKG: `creating` until the enclave's share is stored.
ALTER TABLE wallets ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE wallets ADD COLUMN allow_raw_digest BIGINT NOT NULL DEFAULT 0;

-- The enclave's sealed shares, one per (wallet, epoch). `pending` until every holder of
-- the epoch has confirmed it with a test signature; then it is `active` and every older
-- epoch's row is deleted (invariant 6). The host never holds a plaintext share.
CREATE TABLE server_shares (
    wallet_id TEXT NOT NULL REFERENCES wallets (id),
    epoch BIGINT NOT NULL,
    state TEXT NOT NULL,
    sealed BYTEA NOT NULL,
    public_package BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (wallet_id, epoch)
);

-- Who holds which share index of each kept epoch.
CREATE TABLE members (
    wallet_id TEXT NOT NULL REFERENCES wallets (id),
    epoch BIGINT NOT NULL,
    share_index BIGINT NOT NULL,
    holder TEXT NOT NULL,
    PRIMARY KEY (wallet_id, epoch, share_index)
);

-- Holders that proved, with a test signature, that they hold a pending epoch's share.
CREATE TABLE confirmations (
    wallet_id TEXT NOT NULL REFERENCES wallets (id),
    epoch BIGINT NOT NULL,
    holder TEXT NOT NULL,
    ceremony_id TEXT NOT NULL,
    PRIMARY KEY (wallet_id, epoch, holder)
);

-- Every ceremony the server started, and what came of it.
CREATE TABLE ceremonies (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    wallet_id TEXT NOT NULL REFERENCES wallets (id),
    operation TEXT NOT NULL,
    status TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    error TEXT,
    signature BYTEA,
    committed BIGINT,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ceremonies_by_account ON ceremonies (account_id, status, expires_at);

-- The user share's encrypted backup (issue 7 defines the format; the server only stores it).
CREATE TABLE backups (
    wallet_id TEXT PRIMARY KEY REFERENCES wallets (id),
    epoch BIGINT NOT NULL,
    envelope BYTEA NOT NULL,
    updated_at BIGINT NOT NULL
);
