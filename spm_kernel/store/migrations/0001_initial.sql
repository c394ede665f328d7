-- 0001: the initial schema of the canonical tables, the run ledger and the audit log.

CREATE TABLE regions (
    region_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (region_id)
);

CREATE TABLE teams (
    team_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    region_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (team_id)
);

CREATE TABLE payees (
    payee_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    email VARCHAR,
    role VARCHAR NOT NULL,
    team_id VARCHAR,
    region_id VARCHAR,
    segment VARCHAR,
    currency VARCHAR NOT NULL,
    hire_date DATE NOT NULL,
    termination_date DATE,
    source VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (payee_id)
);

CREATE TABLE hierarchy (
    payee_id VARCHAR NOT NULL,
    valid_from DATE NOT NULL,
    valid_to DATE,
    manager_id VARCHAR,
    source VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (payee_id, valid_from)
);

CREATE TABLE accounts (
    account_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    segment VARCHAR,
    region_id VARCHAR,
    industry VARCHAR,
    owner_id VARCHAR,
    source VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (account_id)
);

CREATE TABLE opportunities (
    opportunity_id VARCHAR NOT NULL,
    account_id VARCHAR,
    owner_id VARCHAR NOT NULL,
    name VARCHAR,
    amount DECIMAL(18,2) NOT NULL,
    currency VARCHAR NOT NULL,
    stage VARCHAR NOT NULL,
    created_date DATE NOT NULL,
    close_date DATE,
    is_closed BOOLEAN NOT NULL,
    is_won BOOLEAN NOT NULL,
    product VARCHAR,
    segment VARCHAR,
    deal_type VARCHAR,
    source VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (opportunity_id)
);

CREATE TABLE opportunity_stage_history (
    opportunity_id VARCHAR NOT NULL,
    stage VARCHAR NOT NULL,
    entered_date DATE NOT NULL,
    source VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (opportunity_id, stage, entered_date)
);

CREATE TABLE opportunity_splits (
    opportunity_id VARCHAR NOT NULL,
    payee_id VARCHAR NOT NULL,
    split_type VARCHAR NOT NULL,
    percent DECIMAL(18,6) NOT NULL,
    source VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (opportunity_id, payee_id, split_type)
);

CREATE TABLE transactions (
    transaction_id VARCHAR NOT NULL,
    opportunity_id VARCHAR,
    kind VARCHAR NOT NULL,
    amount DECIMAL(18,2) NOT NULL,
    currency VARCHAR NOT NULL,
    transaction_date DATE NOT NULL,
    product VARCHAR,
    segment VARCHAR,
    region_id VARCHAR,
    original_transaction_id VARCHAR,
    source VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (transaction_id)
);

CREATE TABLE quotas (
    payee_id VARCHAR NOT NULL,
    measure VARCHAR NOT NULL,
    period_start DATE NOT NULL,
    period_end DATE NOT NULL,
    amount DECIMAL(18,2) NOT NULL,
    currency VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (payee_id, measure, period_start)
);

CREATE TABLE fx_rates (
    rate_date DATE NOT NULL,
    from_currency VARCHAR NOT NULL,
    to_currency VARCHAR NOT NULL,
    rate DECIMAL(18,8) NOT NULL,
    source VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (rate_date, from_currency, to_currency)
);

CREATE TABLE spend (
    month DATE NOT NULL,
    category VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    amount DECIMAL(18,2) NOT NULL,
    currency VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (month, category, channel)
);

CREATE TABLE subscriptions (
    subscription_id VARCHAR NOT NULL,
    account_id VARCHAR NOT NULL,
    product VARCHAR,
    start_date DATE NOT NULL,
    end_date DATE,
    arr DECIMAL(18,2) NOT NULL,
    currency VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (subscription_id)
);

CREATE TABLE plans (
    plan_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    effective_from DATE NOT NULL,
    effective_to DATE,
    file VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (plan_id, version)
);

CREATE TABLE plan_assignments (
    assignment_id VARCHAR NOT NULL,
    plan_id VARCHAR NOT NULL,
    assignee_type VARCHAR NOT NULL,
    assignee VARCHAR NOT NULL,
    effective_from DATE NOT NULL,
    effective_to DATE,
    target_incentive DECIMAL(18,2),
    source VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (assignment_id)
);

CREATE TABLE training_modules (
    module_id VARCHAR NOT NULL,
    title VARCHAR NOT NULL,
    skill VARCHAR NOT NULL,
    format VARCHAR NOT NULL,
    duration_minutes INTEGER NOT NULL,
    content VARCHAR,
    link VARCHAR,
    source VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (module_id)
);

CREATE TABLE training_assignments (
    assignment_id VARCHAR NOT NULL,
    payee_id VARCHAR NOT NULL,
    module_id VARCHAR NOT NULL,
    assigned_date DATE NOT NULL,
    due_date DATE,
    reason VARCHAR,
    source VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (assignment_id)
);

CREATE TABLE training_completions (
    payee_id VARCHAR NOT NULL,
    module_id VARCHAR NOT NULL,
    completed_at TIMESTAMP NOT NULL,
    score DECIMAL(5,2),
    source VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (payee_id, module_id, completed_at)
);

CREATE TABLE periods (
    period_id VARCHAR NOT NULL,
    start_date DATE NOT NULL,
    end_date DATE NOT NULL,
    status VARCHAR NOT NULL,
    closed_at TIMESTAMP,
    closed_by VARCHAR,
    PRIMARY KEY (period_id)
);

CREATE TABLE credits (
    credit_id VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    transaction_id VARCHAR NOT NULL,
    payee_id VARCHAR NOT NULL,
    credit_type VARCHAR NOT NULL,
    share DECIMAL(18,6) NOT NULL,
    amount DECIMAL(18,2) NOT NULL,
    currency VARCHAR NOT NULL,
    credit_date DATE NOT NULL,
    rule VARCHAR NOT NULL,
    PRIMARY KEY (credit_id)
);

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
    PRIMARY KEY (run_id)
);

CREATE TABLE payout_lines (
    line_id VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    period_id VARCHAR NOT NULL,
    payee_id VARCHAR NOT NULL,
    plan_id VARCHAR NOT NULL,
    plan_version INTEGER NOT NULL,
    component VARCHAR NOT NULL,
    line_type VARCHAR NOT NULL,
    amount DECIMAL(18,2) NOT NULL,
    currency VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    explanation VARCHAR,
    corrects_line_id VARCHAR,
    PRIMARY KEY (line_id)
);

CREATE TABLE adjustments (
    adjustment_id VARCHAR NOT NULL,
    payee_id VARCHAR NOT NULL,
    period_id VARCHAR NOT NULL,
    amount DECIMAL(18,2) NOT NULL,
    currency VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    original_line_id VARCHAR,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (adjustment_id)
);

CREATE TABLE disputes (
    dispute_id VARCHAR NOT NULL,
    line_id VARCHAR NOT NULL,
    payee_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    description VARCHAR NOT NULL,
    raised_by VARCHAR NOT NULL,
    raised_at TIMESTAMP NOT NULL,
    resolution VARCHAR,
    adjustment_id VARCHAR,
    updated_at TIMESTAMP,
    PRIMARY KEY (dispute_id)
);

CREATE TABLE audit_log (
    seq BIGINT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    actor VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    entity VARCHAR NOT NULL,
    detail VARCHAR,
    prev_hash VARCHAR NOT NULL,
    hash VARCHAR NOT NULL,
    PRIMARY KEY (seq)
);
