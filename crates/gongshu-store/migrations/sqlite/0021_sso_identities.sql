-- Issue 7: accounts signed in through the province's unified identity system (统一身份认证,
-- OpenID Connect). An identity is the issuer and its subject, never a username, so that an
-- identity provider cannot name its way into a local account.
CREATE TABLE sso_identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
