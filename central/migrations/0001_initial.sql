-- The platform's tables (docs/platform-ingest.md describes each column).
-- Applied once by `edge platform db upgrade`; later changes go in new files, additive only.

-- A gateway as seen on MQTT: its topic level, its retained status, its last message.
CREATE TABLE gateways (
    gateway_id  text PRIMARY KEY,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),   -- last message of any kind from it
    state       text,                                  -- 'online' / 'offline' from {root}/{gw}/status
    state_at    timestamptz                            -- the status message's "at" (NULL in a last will)
);

-- Status changes, in arrival order (retained copies received again are not repeated).
CREATE TABLE gateway_status (
    id          bigserial PRIMARY KEY,
    gateway_id  text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    state       text NOT NULL,
    at          timestamptz,
    reason      text
);
CREATE INDEX gateway_status_gw ON gateway_status (gateway_id, received_at);

-- {root}/{gw}/metrics, one row per published snapshot (key: gateway and its "at").
CREATE TABLE gateway_metrics (
    gateway_id        text NOT NULL,
    at                timestamptz NOT NULL,
    received_at       timestamptz NOT NULL DEFAULT now(),
    backlog_readings  bigint,
    forwarded_readings bigint,
    connected         boolean,
    doc               jsonb NOT NULL,                  -- the whole message
    PRIMARY KEY (gateway_id, at)
);

-- {root}/{gw}/alerts as the gateway raised and cleared them.
CREATE TABLE gateway_alerts (
    id          bigserial PRIMARY KEY,
    gateway_id  text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    alert       text NOT NULL,
    state       text NOT NULL,                          -- 'raised' / 'cleared'
    at          timestamptz NOT NULL,
    dev_eui     text,
    quantity    text,
    value       double precision,
    t           timestamptz,
    message     text NOT NULL DEFAULT '',
    doc         jsonb NOT NULL
);
-- a message delivered twice (at least once) is one row
CREATE UNIQUE INDEX gateway_alerts_once ON gateway_alerts
    (gateway_id, alert, state, at, coalesce(dev_eui, ''), coalesce(quantity, ''));

-- A sensor: current installation metadata (from retained {root}/{gw}/devices/{dev_eui}) and
-- when its data was last seen. Rows appear with the first reading or the first metadata.
CREATE TABLE devices (
    dev_eui       text PRIMARY KEY,                    -- 16 lower-case hex digits
    gateway_id    text,                                -- gateway of the metadata, else of the last data
    latitude      double precision,
    longitude     double precision,
    height_m      double precision,
    installed     date,
    support       text,
    photos        jsonb NOT NULL DEFAULT '[]',
    meta_updated_at timestamptz,                       -- the metadata's updated_at
    removed       boolean NOT NULL DEFAULT false,      -- an empty retained message removed it from its gateway
    first_seen    timestamptz NOT NULL DEFAULT now(),
    last_seen     timestamptz,                         -- arrival of its last reading, any gateway
    last_t        timestamptz,                         -- latest measurement time stored
    interval_s    integer                              -- measurement interval, measured from what arrived
);

-- Every metadata change, in arrival order: the installation history of a sensor.
CREATE TABLE device_metadata (
    id            bigserial PRIMARY KEY,
    dev_eui       text NOT NULL,
    gateway_id    text NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    removed       boolean NOT NULL DEFAULT false,
    latitude      double precision,
    longitude     double precision,
    height_m      double precision,
    installed     date,
    support       text,
    photos        jsonb NOT NULL DEFAULT '[]',
    updated_at    timestamptz,
    doc           jsonb                                -- the message as received; NULL for a removal
);
CREATE INDEX device_metadata_dev ON device_metadata (dev_eui, id);

-- Every value once: (device, quantity, measurement time) is the SenML de-duplication key.
-- value is rounded to the quantity's resolution (docs/platform.md).
CREATE TABLE observations (
    dev_eui     text NOT NULL,
    quantity    text NOT NULL,
    t           timestamptz NOT NULL,
    value       double precision NOT NULL,
    gateway_id  text NOT NULL,                         -- the gateway whose message stored it first
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (dev_eui, quantity, t)
);

-- Messages the ingest could not use, kept whole (topic and bytes) with the reason.
CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    topic       text NOT NULL,
    gateway_id  text,
    reason      text NOT NULL,                          -- not_cbor, not_senml, bad_bver, bad_name, bad_value, bad_time, bad_deflate
    detail      text NOT NULL DEFAULT '',
    payload     bytea NOT NULL,
    payload_sha256 bytea NOT NULL
);
-- the same message delivered again after a crash is one row
CREATE UNIQUE INDEX dead_letters_once ON dead_letters (topic, payload_sha256);

-- Alerts of the platform-level checks. One row per occurrence: raised_at, then cleared_at.
CREATE TABLE platform_alerts (
    id          bigserial PRIMARY KEY,
    alert       text NOT NULL,                          -- device_silent, missing_data, out_of_range, stuck_value
    dev_eui     text NOT NULL,
    quantity    text NOT NULL DEFAULT '',               -- '' for alerts about the whole device
    raised_at   timestamptz NOT NULL,
    cleared_at  timestamptz,
    value       double precision,
    t           timestamptz,                            -- measurement time of the value concerned
    message     text NOT NULL
);
-- at most one open occurrence of an alert per subject
CREATE UNIQUE INDEX platform_alerts_open ON platform_alerts (alert, dev_eui, quantity) WHERE cleared_at IS NULL;
