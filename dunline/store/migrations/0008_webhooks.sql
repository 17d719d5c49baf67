-- Outbound webhooks: an outbox written in the same transaction as the change it reports (an outcome, a
-- promise, an opt-out, a promise falling due), subscriptions per lender system, and every delivery with
-- every try. The HMAC secret must be kept to sign; it is never shown after it is created.

CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    event           text NOT NULL CHECK (event IN ('outcome', 'promise', 'opt_out', 'payment_due')),
    dedupe_key      text UNIQUE,               -- the same fact is reported once (payment_due per promise)
    payload         jsonb NOT NULL
);

CREATE TABLE webhooks (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z][A-Za-z0-9._-]{0,39}$'),
    url             text NOT NULL,
    secret          text NOT NULL,
    events          text[] NOT NULL,
    disabled        boolean NOT NULL DEFAULT false,
    fanned_out_to   bigint NOT NULL DEFAULT 0,  -- the last outbox id turned into deliveries for it
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    webhook_id      bigint NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    outbox_id       bigint NOT NULL REFERENCES outbox(id),
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    tries           integer NOT NULL DEFAULT 0,
    next_try_at     timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    UNIQUE (webhook_id, outbox_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries(state, next_try_at);

CREATE TABLE webhook_tries (
    delivery_id     bigint NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    try             integer NOT NULL,
    at              timestamptz NOT NULL,
    status          integer,                   -- the HTTP status; NULL when no answer came
    error           text,
    ms              integer NOT NULL,
    PRIMARY KEY (delivery_id, try)
);
