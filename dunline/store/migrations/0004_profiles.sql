-- Strategies: the debtor's whole picture beyond the portfolio's columns, each account's plan, and the
-- template each contact used.

-- Behaviour, credit, personal signals, loan terms, a configured legal step and a variant override:
-- the `Facts` document of dunline.strategies.profile (validated before it is written).
ALTER TABLE accounts ADD COLUMN profile jsonb NOT NULL DEFAULT '{}'
    CHECK (jsonb_typeof(profile) = 'object');

-- The template an attempt used (the ladder counts uses per template).
ALTER TABLE attempts ADD COLUMN template text;

-- The planner's latest answer for each account: what campaigns select from.
CREATE TABLE account_plans (
    account_id      bigint PRIMARY KEY REFERENCES accounts(id),
    planned_at      timestamptz NOT NULL,
    score           integer NOT NULL,
    tier            text NOT NULL,
    variant         text NOT NULL,
    stage           text NOT NULL CHECK (stage IN ('early','mid','late','hardship','hold','stopped')),
    reasons         jsonb NOT NULL DEFAULT '[]',
    steps           jsonb NOT NULL DEFAULT '[]',
    next_at         timestamptz,
    next_channel    text,
    next_template   text
);
CREATE INDEX account_plans_due_idx ON account_plans(tier, stage, next_channel, next_at);
