-- Trunks edited in the console (issue 14): the settings' `trunks:` seed this table once; from then on
-- the table is what `dunline serve` renders into the PBX's pjsip.conf. The password is kept in clear
-- because the PBX needs it for digest auth (as the settings file does); no page or log shows it.
CREATE TABLE trunks (
    name text PRIMARY KEY,
    position integer NOT NULL,
    config jsonb NOT NULL,
    password text NOT NULL,
    enabled boolean NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL
);
