-- Text messages (issue 15): every SMS sent (one row, idempotent by its step key), every delivery
-- receipt (final or not, matched or not), every reply. The SMSC's message id is the key receipts
-- arrive with, days later perhaps: it is stored, never kept in memory only.
CREATE TABLE sms_messages (
    id              uuid PRIMARY KEY,
    step_key        text UNIQUE,           -- the plan step or campaign member it carries out: sent once
    account_id      bigint NOT NULL REFERENCES accounts(id),
    number_e164     text NOT NULL,
    body            text NOT NULL,
    alphabet        text NOT NULL CHECK (alphabet IN ('gsm7', 'ucs2')),
    parts           integer NOT NULL CHECK (parts >= 1),
    state           text NOT NULL DEFAULT 'queued' CHECK (state IN (
                        'queued', 'sending', 'submitted', 'failed', 'unknown',
                        'accepted', 'enroute', 'delivered', 'undelivered', 'expired', 'rejected', 'deleted')),
    smsc_id         text,                  -- the SMSC's id (unique per SMSC, may be reused over time)
    error           text,
    created_at      timestamptz NOT NULL,
    submitted_at    timestamptz,
    final_at        timestamptz
);
CREATE INDEX sms_messages_account_idx ON sms_messages(account_id, created_at);
CREATE INDEX sms_messages_smsc_idx ON sms_messages(smsc_id, submitted_at) WHERE smsc_id IS NOT NULL;
CREATE TABLE sms_receipts (
    id              bigserial PRIMARY KEY,
    message_id      uuid REFERENCES sms_messages(id),   -- NULL: no message of ours has this SMSC id
    smsc_id         text NOT NULL,
    state           text NOT NULL,
    error           text,
    received_at     timestamptz NOT NULL
);
CREATE TABLE sms_inbound (
    id              bigserial PRIMARY KEY,
    account_id      bigint REFERENCES accounts(id),     -- NULL: a number no account has
    number_e164     text NOT NULL,
    body            text NOT NULL,
    received_at     timestamptz NOT NULL,
    intent          text NOT NULL,
    opt_out         boolean NOT NULL,
    needs_person    boolean NOT NULL,
    detail          jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX sms_inbound_person_idx ON sms_inbound(received_at) WHERE needs_person;

-- SMS-only campaigns (mode sms): their members are texted, not dialled.
ALTER TABLE campaigns DROP CONSTRAINT campaigns_mode_check;
ALTER TABLE campaigns ADD CONSTRAINT campaigns_mode_check
    CHECK (mode IN ('ivr', 'preview', 'progressive', 'predictive', 'sms'));
