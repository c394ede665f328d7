-- 0004: the compensation engine's ledger (issue 3): credits with their rule and FX (a
-- transaction's other attributes stay in transactions, opportunities and accounts),
-- payout lines with explanation columns, runs, periods, adjustments; crediting rules.
-- credits, payout_lines, calc_runs, periods and adjustments were created empty by 0001 and
-- nothing wrote them before the engine existed: they are recreated in their final shape.

DROP TABLE credits;
CREATE TABLE credits (
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
    kind VARCHAR NOT NULL,
    PRIMARY KEY (credit_no)
);

DROP TABLE payout_lines;
CREATE TABLE payout_lines (
    line_id VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    period_id VARCHAR NOT NULL,
    line_no INTEGER NOT NULL,
    line_key VARCHAR NOT NULL,
    payee_id VARCHAR NOT NULL,
    plan_id VARCHAR NOT NULL,
    plan_version INTEGER NOT NULL,
    component VARCHAR NOT NULL,
    line_type VARCHAR NOT NULL,
    amount DECIMAL(18,2) NOT NULL,
    currency VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    measure VARCHAR,
    measure_value DECIMAL(38,10),
    attainment DECIMAL(38,10),
    tier VARCHAR,
    rate DECIMAL(38,10),
    formula VARCHAR,
    credit_ids VARCHAR[],
    reference VARCHAR,
    unprorated_amount DECIMAL(18,2),
    proration DECIMAL(18,10),
    explanation VARCHAR,
    corrects_line_id VARCHAR,
    corrects_period_id VARCHAR,
    PRIMARY KEY (line_id)
);

DROP TABLE calc_runs;
CREATE TABLE calc_runs (
    run_id VARCHAR NOT NULL,
    period_id VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    status VARCHAR NOT NULL,
    input_hash VARCHAR,
    plan_versions VARCHAR,
    timings VARCHAR,
    created_by VARCHAR,
    credit_count BIGINT,
    line_count BIGINT,
    restated VARCHAR,
    error VARCHAR,
    PRIMARY KEY (run_id)
);

DROP TABLE periods;
CREATE TABLE periods (
    period_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    start_date DATE NOT NULL,
    end_date DATE NOT NULL,
    status VARCHAR NOT NULL,
    closed_at TIMESTAMP,
    closed_by VARCHAR,
    closed_run_id VARCHAR,
    PRIMARY KEY (period_id)
);

DROP TABLE adjustments;
CREATE TABLE adjustments (
    adjustment_id VARCHAR NOT NULL,
    payee_id VARCHAR NOT NULL,
    period_id VARCHAR NOT NULL,
    plan_id VARCHAR,
    component VARCHAR,
    amount DECIMAL(18,2) NOT NULL,
    currency VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    original_line_id VARCHAR,
    dispute_id VARCHAR,
    status VARCHAR NOT NULL,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    approved_by VARCHAR,
    approved_at TIMESTAMP,
    PRIMARY KEY (adjustment_id)
);

CREATE TABLE crediting_rules (
    rule_id VARCHAR NOT NULL,
    payee_id VARCHAR NOT NULL,
    credit_type VARCHAR NOT NULL,
    percent DECIMAL(18,6) NOT NULL,
    region_id VARCHAR,
    segment VARCHAR,
    product VARCHAR,
    deal_type VARCHAR,
    transaction_kind VARCHAR,
    valid_from DATE NOT NULL,
    valid_to DATE,
    description VARCHAR,
    source VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (rule_id)
);
