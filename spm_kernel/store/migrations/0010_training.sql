-- 0010: training and development (issue 10): learning paths per role and their modules, the
-- assignment rules (by role, for new hires, or on a KPI gap against peers) and the stored
-- estimates of the training effect (difference in differences, PyMC).

CREATE TABLE training_paths (
    path_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    role VARCHAR,
    description VARCHAR,
    source VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (path_id)
);

CREATE TABLE training_path_modules (
    path_id VARCHAR NOT NULL,
    module_id VARCHAR NOT NULL,
    position INTEGER NOT NULL,
    source VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (path_id, module_id)
);

CREATE TABLE training_rules (
    rule_id VARCHAR NOT NULL,
    path_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    role VARCHAR,
    metric VARCHAR,
    percentile DECIMAL(5,2),
    min_peers INTEGER,
    due_days INTEGER NOT NULL,
    repeat_days INTEGER,
    description VARCHAR,
    source VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (rule_id)
);

CREATE TABLE training_effects (
    estimate_id VARCHAR NOT NULL,
    module_id VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    estimated_at TIMESTAMP NOT NULL,
    first_date DATE NOT NULL,
    last_date DATE NOT NULL,
    effect DECIMAL(18,6) NOT NULL,
    lower DECIMAL(18,6) NOT NULL,
    upper DECIMAL(18,6) NOT NULL,
    interval_prob DECIMAL(18,6) NOT NULL,
    prob_positive DECIMAL(18,6) NOT NULL,
    baseline DECIMAL(18,6),
    effect_points DECIMAL(18,6),
    trained_payees INTEGER NOT NULL,
    control_payees INTEGER NOT NULL,
    deals BIGINT NOT NULL,
    teams VARCHAR,
    diagnostics VARCHAR,
    settings VARCHAR,
    created_by VARCHAR NOT NULL,
    PRIMARY KEY (estimate_id)
);
