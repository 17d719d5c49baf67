-- Payments received (imported from the lender): they make promises kept or broken and measure what
-- each strategy variant collected. `reference` (the lender's payment id) makes a re-import idempotent.
CREATE TABLE payments (
    id              bigserial PRIMARY KEY,
    account_id      bigint NOT NULL REFERENCES accounts(id),
    paid_at         timestamptz NOT NULL,
    amount          numeric(14,2) NOT NULL CHECK (amount > 0),
    reference       text,
    imported_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, reference)
);
CREATE INDEX payments_account_paid_idx ON payments(account_id, paid_at);
