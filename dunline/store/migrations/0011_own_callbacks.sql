-- A callback an agent booked "for me" (issue 14): the campaign member carries the agent until the
-- callback is tried. Only that agent dials it (from the desk's "My callbacks"), until it has been due
-- for the grace period of store/campaigns.py (OWN_GRACE); then the campaign may give it to anyone.
ALTER TABLE campaign_members ADD COLUMN agent text;
-- when the debtor asked for the callback: the gate's rules with `consent_days` do not block the call
-- the debtor asked for (Reg F 1006.14(b)(3)(i)); cleared with `agent` once the callback is tried
ALTER TABLE campaign_members ADD COLUMN asked_at timestamptz;
CREATE INDEX campaign_members_agent_idx ON campaign_members(agent, next_try_at) WHERE agent IS NOT NULL;
