-- 0011: the credits ledger without a primary-key index. A run appends millions of credits
-- (a 10,000-payee company's fourth quarter stores over 3 million), and maintaining an ART
-- index on credit_no cost more than a second per run while nothing looks a credit up by it.
-- credit_no stays unique by construction: each run numbers its credits from max(credit_no) + 1
-- inside its own transaction (see spm_kernel.engine.calculate.write_credits).

CREATE TABLE credits_0011 (
    credit_no BIGINT NOT NULL,
    run_id VARCHAR NOT NULL,
    credit_id VARCHAR NOT NULL,
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
-- the columns are named: a workspace made while the engine was being built may carry more
INSERT INTO credits_0011
SELECT credit_no, run_id, credit_id, transaction_id, payee_id, credit_type, rule, rollup_level, source_payee_id, share, amount, currency, source_amount, source_currency, fx_rate, fx_quote, credit_date, kind
FROM credits ORDER BY credit_no;
DROP TABLE credits;
ALTER TABLE credits_0011 RENAME TO credits;
