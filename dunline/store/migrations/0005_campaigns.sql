-- Campaigns: what a campaign selects and how it dials (its spec), the accounts it holds, and which
-- controller claimed which account. Several controllers share a campaign by claiming members with
-- SELECT ... FOR UPDATE SKIP LOCKED; one of them (pg_try_advisory_lock on the campaign) leads.

-- The campaign's spec (dunline.dialer.campaign_spec.CampaignSpec, JSON): tiers, stages, channel,
-- retries, abandon target, concurrency.
ALTER TABLE campaigns ADD COLUMN spec jsonb NOT NULL DEFAULT '{}';
ALTER TABLE campaigns ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

CREATE TABLE campaign_members (
    campaign_id     bigint NOT NULL REFERENCES campaigns(id),
    account_id      bigint NOT NULL REFERENCES accounts(id),
    state           text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'claimed', 'done')),
    template        text,                 -- the plan step the campaign carries out
    tries           integer NOT NULL DEFAULT 0,
    next_try_at     timestamptz NOT NULL,
    last_result     text,                 -- busy, no_answer, voicemail, failed, abandoned, answered, blocked
    claimed_by      text,
    claimed_at      timestamptz,
    added_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, account_id)
);
CREATE INDEX campaign_members_due_idx ON campaign_members(campaign_id, state, next_try_at);
CREATE INDEX attempts_campaign_account_idx ON attempts(campaign_id, account_id, created_at);
