-- 0009: trust (issue 9): the people who may sign in, their role and, for managers and reps,
-- the payee they are. Passwords are stored only as jupyter_server.auth.passwd hashes.
-- Every change to this table is written to the audit log by spm_kernel.auth.users.

CREATE TABLE users (
    username VARCHAR NOT NULL,
    role VARCHAR NOT NULL,
    payee_id VARCHAR,
    display_name VARCHAR,
    password_hash VARCHAR,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by VARCHAR NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (username)
);
