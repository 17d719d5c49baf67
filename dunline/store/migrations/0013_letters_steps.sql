-- Letters (issue 15): every letter made for a plan step (one row, idempotent by its step key), its
-- PDF/A document and hash, and its way out: queued -> exported (in a print-and-mail batch) ->
-- delivered | returned (as the mail house reports).
CREATE TABLE letters (
    id              uuid PRIMARY KEY,
    step_key        text UNIQUE,
    account_id      bigint NOT NULL REFERENCES accounts(id),
    template        text NOT NULL,
    lang            text NOT NULL,
    pdf             bytea NOT NULL,
    sha256          text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    pages           integer NOT NULL CHECK (pages >= 1),
    state           text NOT NULL DEFAULT 'queued'
                        CHECK (state IN ('queued', 'exported', 'delivered', 'returned')),
    batch           text,
    created_at      timestamptz NOT NULL,
    exported_at     timestamptz,
    final_at        timestamptz,
    detail          jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX letters_account_idx ON letters(account_id, created_at);
CREATE INDEX letters_queued_idx ON letters(created_at) WHERE state = 'queued';

-- The step runner's record of every plan step of a channel other than calls it took on: claimed by
-- one controller at a time, its result, and when to try again. The outboxes (sms_messages.step_key,
-- letters.step_key) make carrying a step out twice impossible; this table says what happened.
CREATE TABLE plan_steps (
    step_key        text PRIMARY KEY,
    account_id      bigint NOT NULL REFERENCES accounts(id),
    channel         text NOT NULL CHECK (channel IN ('sms', 'letter')),
    template        text NOT NULL,
    due_at          timestamptz NOT NULL,
    state           text NOT NULL CHECK (state IN ('running', 'done', 'waiting', 'gave_up')),
    result          text,
    tries           integer NOT NULL DEFAULT 0,
    node            text,
    claimed_at      timestamptz,
    next_try_at     timestamptz,
    updated_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX plan_steps_step_idx ON plan_steps(account_id, channel, template, due_at);

-- Replies a person has dealt with (the console's reply queue).
ALTER TABLE sms_inbound ADD COLUMN handled_by text;
ALTER TABLE sms_inbound ADD COLUMN handled_at timestamptz;
