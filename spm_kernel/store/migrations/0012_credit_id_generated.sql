-- 0012: credit_id is no longer stored. It is a generated column, computed when read from the
-- credit's own columns (transaction/payee/type[/detail]), exactly as the engine makes it. A run
-- stores 3.37 million credits for a 10,000-payee company's fourth quarter; their ids were the
-- widest column of the ledger (37% of its bytes) and a second of every run's write.
CREATE TABLE credits_0012 (
    credit_no BIGINT NOT NULL,
    run_id VARCHAR NOT NULL,
    credit_id VARCHAR GENERATED ALWAYS AS (
        transaction_id || '/' || payee_id || '/' || credit_type ||
        CASE WHEN credit_type = 'rollup' THEN '/' || source_payee_id
             WHEN credit_type IN ('rule', 'overlay') THEN '/' || rule ELSE '' END) VIRTUAL,
    transaction_id VARCHAR NOT NULL,
    payee_id VARCHAR NOT NULL,
    credit_type VARCHAR NOT NULL,
    rule VARCHAR NOT NULL,
    rollup_level INTEGER NOT NULL,
    source_payee_id VARCHAR,
    share DECIMAL(18,6) NOT NULL,
    amount DECIMAL(18,2) NOT NULL,
    currency VARCHAR NOT NULL,
    source_amount DECIMAL(18,2) NOT NULL,
    source_currency VARCHAR NOT NULL,
    fx_rate DECIMAL(18,8) NOT NULL,
    fx_quote VARCHAR,
    credit_date DATE NOT NULL,
    kind VARCHAR NOT NULL
);
-- a stored id made any other way would change meaning: refuse (the migration rolls back)
SELECT CASE WHEN count(*) > 0 THEN error('migration 0012: ' || count(*) || ' stored credit ids (first: '
       || min(credit_no) || ') differ from transaction/payee/type[/detail]; this workspace needs a manual fix') END
FROM credits
WHERE credit_id IS DISTINCT FROM transaction_id || '/' || payee_id || '/' || credit_type ||
      CASE WHEN credit_type = 'rollup' THEN '/' || source_payee_id
           WHEN credit_type IN ('rule', 'overlay') THEN '/' || rule ELSE '' END;
INSERT INTO credits_0012 (credit_no, run_id, transaction_id, payee_id, credit_type, rule, rollup_level,
                          source_payee_id, share, amount, currency, source_amount, source_currency, fx_rate,
                          fx_quote, credit_date, kind)
SELECT credit_no, run_id, transaction_id, payee_id, credit_type, rule, rollup_level, source_payee_id, share, amount,
       currency, source_amount, source_currency, fx_rate, fx_quote, credit_date, kind
FROM credits ORDER BY credit_no;
DROP TABLE credits;
ALTER TABLE credits_0012 RENAME TO credits;
