-- The encryption proxy's own database (never the wallet server's).
-- One row per backup registration: a random id the EPS chose, scoped to the account (the
-- token's issuer and subject) and the wallet. The POPRF info binds all four, so deleting a
-- row makes the backups made under it unopenable for good.
CREATE TABLE eps_registrations (
    id BYTEA PRIMARY KEY,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    wallet_id TEXT NOT NULL,
    -- SHA-256 of the verifier tag; NULL until the device registers it.
    verifier_hash BYTEA,
    -- 1 for the registration kept by the last activation.
    active BIGINT NOT NULL,
    -- Evaluations since the last confirmation (the lockout counter).
    failures BIGINT NOT NULL,
    -- Microseconds since the Unix epoch (also the creation order).
    created_us BIGINT NOT NULL
);
CREATE INDEX eps_registrations_by_wallet ON eps_registrations (issuer, subject, wallet_id);

-- Registrations created, activated, locked, unlocked. Append-only.
CREATE TABLE eps_audit (
    seq BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
