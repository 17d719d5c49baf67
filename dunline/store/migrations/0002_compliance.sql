-- Compliance: every verdict of the gate, the facts it reads that version 1 lacked, retention.

-- What kind of call an attempt was (the gate counts prerecorded and AI-voice calls separately).
ALTER TABLE attempts ADD COLUMN kind text NOT NULL DEFAULT 'prerecorded'
    CHECK (kind IN ('agent', 'prerecorded', 'ai_voice'));

-- A number can belong to someone other than the debtor (a contact they named), be refused by that
-- person, or turn out to be a wrong number.
ALTER TABLE phones ADD COLUMN role text NOT NULL DEFAULT 'debtor' CHECK (role IN ('debtor', 'contact'));
ALTER TABLE phones ADD COLUMN refused boolean NOT NULL DEFAULT false;
ALTER TABLE phones ADD COLUMN wrong_number boolean NOT NULL DEFAULT false;

-- Times the debtor said are inconvenient: [{"start": "09:00", "end": "17:00", "days": [...], "channels": [...]}]
ALTER TABLE debtors ADD COLUMN debtor_windows jsonb NOT NULL DEFAULT '[]';

-- One row per decision of the gate, allowed or not. `attempt_id` is set when the contact went ahead.
CREATE TABLE verdicts (
    id              bigserial PRIMARY KEY,
    account_id      bigint NOT NULL REFERENCES accounts(id),
    attempt_id      uuid REFERENCES attempts(id),
    at              timestamptz NOT NULL,
    channel         text NOT NULL CHECK (channel IN ('call','sms','letter','voicemail','email')),
    number_e164     text,
    kind            text NOT NULL,
    allowed         boolean NOT NULL,
    rules           text[] NOT NULL DEFAULT '{}',
    reasons         jsonb NOT NULL DEFAULT '[]',
    next_allowed_at timestamptz,
    profiles        text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX verdicts_account_at_idx ON verdicts(account_id, at);
CREATE INDEX attempts_account_created_idx ON attempts(account_id, created_at);
