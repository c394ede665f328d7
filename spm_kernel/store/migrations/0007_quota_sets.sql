-- 0007: planning (issue 7): versioned quota sets (draft -> approved), their quota rows and
-- the allocation report (top-down, bottom-up and gap per company, region, team and payee).
-- Approving a set writes its rows into `quotas` through the validated importer.

CREATE TABLE quota_sets (
    quota_set_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    fiscal_year INTEGER NOT NULL,
    measure VARCHAR NOT NULL,
    annual_measure VARCHAR,
    cadence VARCHAR NOT NULL,
    method VARCHAR NOT NULL,
    method_used VARCHAR NOT NULL,
    target DECIMAL(18,2) NOT NULL,
    currency VARCHAR NOT NULL,
    period_start DATE NOT NULL,
    period_end DATE NOT NULL,
    status VARCHAR NOT NULL,
    settings VARCHAR,
    notes VARCHAR,
    created_at TIMESTAMP NOT NULL,
    created_by VARCHAR NOT NULL,
    approved_at TIMESTAMP,
    approved_by VARCHAR,
    approval VARCHAR,
    PRIMARY KEY (quota_set_id, version)
);

CREATE TABLE quota_set_lines (
    quota_set_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    payee_id VARCHAR NOT NULL,
    measure VARCHAR NOT NULL,
    period_start DATE NOT NULL,
    period_end DATE NOT NULL,
    amount DECIMAL(18,2) NOT NULL,
    currency VARCHAR NOT NULL,
    amount_base DECIMAL(18,2) NOT NULL,
    level VARCHAR NOT NULL,
    node VARCHAR NOT NULL,
    PRIMARY KEY (quota_set_id, version, payee_id, measure, period_start)
);

CREATE TABLE quota_set_nodes (
    quota_set_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    node_no INTEGER NOT NULL,
    level VARCHAR NOT NULL,
    node VARCHAR NOT NULL,
    parent VARCHAR,
    holder VARCHAR,
    payees INTEGER NOT NULL,
    top_down DECIMAL(18,2) NOT NULL,
    bottom_up DECIMAL(18,2) NOT NULL,
    gap DECIMAL(18,2) NOT NULL,
    effective_months DECIMAL(18,6),
    expected DECIMAL(18,2),
    potential DECIMAL(18,2),
    PRIMARY KEY (quota_set_id, version, node_no)
);
