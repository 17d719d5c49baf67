-- The console and the HTTP API: users with roles, server-side sessions, integration tokens and the
-- answers of idempotent API requests. Passwords and tokens are stored as hashes only.

CREATE TABLE users (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z][A-Za-z0-9._-]{0,39}$'),
    role            text NOT NULL CHECK (role IN ('admin','supervisor','agent','compliance','viewer')),
    password_hash   text NOT NULL,              -- argon2id, PHC string
    disabled        boolean NOT NULL DEFAULT false,
    failed_logins   integer NOT NULL DEFAULT 0, -- failures in a row since the last success
    locked_until    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- A session is the sha256 of an opaque cookie value, so a stolen database copy cannot log anyone in;
-- deleting the row revokes it at once.
CREATE TABLE web_sessions (
    id_hash         bytea PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    client          text
);
CREATE INDEX web_sessions_user_idx ON web_sessions(user_id);

-- Login attempts per client address, for the rate limit (failed and successful alike).
CREATE TABLE login_attempts (
    id              bigserial PRIMARY KEY,
    client          text NOT NULL,
    user_name       text,
    ok              boolean NOT NULL,
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_client_at_idx ON login_attempts(client, at);

CREATE TABLE api_tokens (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z][A-Za-z0-9._-]{0,39}$'),
    prefix          text NOT NULL UNIQUE,       -- the first characters, shown to tell tokens apart
    token_hash      bytea NOT NULL UNIQUE,      -- sha256 of the whole token (it has 256 random bits)
    scopes          text[] NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    last_used_at    timestamptz
);

-- The stored answer of a request sent with an Idempotency-Key, per token: a retry gets the same answer
-- and changes nothing; the same key with another body is refused.
CREATE TABLE api_idempotency (
    token_id        bigint NOT NULL REFERENCES api_tokens(id),
    key             text NOT NULL,
    request_hash    bytea NOT NULL,
    status          integer NOT NULL,
    body            jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (token_id, key)
);

-- The accounts list filters and sorts in the database.
CREATE INDEX accounts_due_date_idx ON accounts(due_date);
CREATE INDEX phones_number_tail_idx ON phones(reverse(number_e164) text_pattern_ops);  -- last digits
CREATE INDEX accounts_flags_idx ON accounts USING gin(flags);
