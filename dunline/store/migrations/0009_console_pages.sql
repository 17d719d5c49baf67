-- The accounts list with 100,000 accounts (bench/console.py): a page's ids come from an index-only
-- walk of the references, and the filter choices read only the accounts that carry a flag and one
-- index probe per tier.
CREATE INDEX accounts_ref_id_idx ON accounts(account_ref) INCLUDE (id);
CREATE INDEX accounts_flagged_idx ON accounts(id) WHERE flags <> '{}';
CREATE INDEX account_plans_tier_idx ON account_plans(tier);
