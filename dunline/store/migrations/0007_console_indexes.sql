-- The accounts list's search by a reference prefix (`q`, `account_ref LIKE 'AC-00852%'`): the unique
-- index on account_ref follows the database's collation (C.UTF-8 in the embedded server, not "C"), so
-- LIKE cannot use it and every search read the whole table (about 26 ms with 100,000 accounts,
-- bench/console.py); with text_pattern_ops it reads only the matching range (under 1 ms).
CREATE INDEX accounts_ref_pattern_idx ON accounts(account_ref text_pattern_ops);
