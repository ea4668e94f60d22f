-- Accounts are keyed by the identity provider's (issuer, subject); ids are random.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (issuer, subject)
);

CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    identity_key BYTEA NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (account_id, identity_key)
);

CREATE TABLE wallets (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    scheme TEXT NOT NULL,
    threshold BIGINT NOT NULL,
    parties BIGINT NOT NULL,
    public_key BYTEA NOT NULL,
    epoch BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX wallets_by_account ON wallets (account_id);

-- One row per (account, Idempotency-Key): the request's hash and the stored response.
CREATE TABLE idempotency (
    account_id TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash BYTEA NOT NULL,
    status BIGINT NOT NULL,
    body BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, key)
);

-- Append-only, hash-chained: each entry's hash commits to the previous entry's hash.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    account_id TEXT,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash BYTEA NOT NULL,
    hash BYTEA NOT NULL
);
