-- Dunline schema, version 1: accounts, phones, campaigns, attempts, ledger, outcomes, audit.
-- Personal data: national ids are stored only masked (last 4) plus a keyed hash for matching.

CREATE TABLE debtors (
    id              bigserial PRIMARY KEY,
    external_id     text NOT NULL UNIQUE,
    full_name       text NOT NULL,
    national_id_masked text,
    language        text NOT NULL DEFAULT 'en',
    timezone        text,
    address_line    text,
    city            text,
    region          text,
    country         text NOT NULL DEFAULT 'US',
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    id              bigserial PRIMARY KEY,
    debtor_id       bigint NOT NULL REFERENCES debtors(id),
    account_ref     text NOT NULL UNIQUE,
    currency        char(3) NOT NULL DEFAULT 'USD',
    principal       numeric(14,2) NOT NULL CHECK (principal >= 0),
    balance         numeric(14,2) NOT NULL CHECK (balance >= 0),
    due_date        date NOT NULL,
    opened_on       date,
    flags           text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_debtor_idx ON accounts(debtor_id);

CREATE TABLE phones (
    id              bigserial PRIMARY KEY,
    debtor_id       bigint NOT NULL REFERENCES debtors(id),
    number_e164     text NOT NULL CHECK (number_e164 ~ '^\+[1-9][0-9]{6,14}$'),
    kind            text NOT NULL DEFAULT 'mobile' CHECK (kind IN ('mobile','landline','work','other')),
    consent         boolean NOT NULL DEFAULT false,
    priority        smallint NOT NULL DEFAULT 1,
    UNIQUE (debtor_id, number_e164)
);

CREATE TABLE campaigns (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL,
    mode            text NOT NULL DEFAULT 'ivr' CHECK (mode IN ('ivr','preview','progressive','predictive')),
    status          text NOT NULL DEFAULT 'created' CHECK (status IN ('created','running','paused','stopped','finished')),
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per dial attempt. `state` follows dunline.dialer.lifecycle; every change is a row in
-- attempt_transitions, written in the same transaction.
CREATE TABLE attempts (
    id              uuid PRIMARY KEY,
    campaign_id     bigint REFERENCES campaigns(id),
    account_id      bigint NOT NULL REFERENCES accounts(id),
    phone_id        bigint NOT NULL REFERENCES phones(id),
    number_e164     text NOT NULL,
    channel_id      text UNIQUE,
    state           text NOT NULL,
    result          text,
    originate_reason integer,
    hangup_cause    integer,
    hangup_cause_text text,
    amd_status      text,
    amd_cause       text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    ended_at        timestamptz
);
CREATE INDEX attempts_account_idx ON attempts(account_id);
CREATE INDEX attempts_campaign_state_idx ON attempts(campaign_id, state);

CREATE TABLE attempt_transitions (
    attempt_id      uuid NOT NULL REFERENCES attempts(id),
    seq             integer NOT NULL,
    from_state      text,
    to_state        text NOT NULL,
    at              timestamptz NOT NULL,
    detail          jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (attempt_id, seq)
);

-- Every contact event with a debtor, in any channel and direction.
CREATE TABLE contact_ledger (
    id              bigserial PRIMARY KEY,
    account_id      bigint NOT NULL REFERENCES accounts(id),
    attempt_id      uuid REFERENCES attempts(id),
    at              timestamptz NOT NULL DEFAULT now(),
    channel         text NOT NULL CHECK (channel IN ('call','sms','letter','voicemail','email')),
    direction       text NOT NULL CHECK (direction IN ('outbound','inbound')),
    event           text NOT NULL,
    detail          jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX contact_ledger_account_at_idx ON contact_ledger(account_id, at);

CREATE TABLE outcomes (
    id              bigserial PRIMARY KEY,
    attempt_id      uuid NOT NULL REFERENCES attempts(id),
    account_id      bigint NOT NULL REFERENCES accounts(id),
    outcome         text NOT NULL,
    detail          jsonb NOT NULL DEFAULT '{}',
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outcomes_account_idx ON outcomes(account_id);

CREATE TABLE audit_log (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    actor           text NOT NULL,
    action          text NOT NULL,
    subject         text,
    detail          jsonb NOT NULL DEFAULT '{}'
);
