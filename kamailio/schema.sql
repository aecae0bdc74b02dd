-- Voice AI SBC database: Kamailio 5.6 standard tables plus did_routing.
-- Idempotent: safe to apply on every start.

CREATE TABLE IF NOT EXISTS `version` (
    `id` INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    `table_name` VARCHAR(32) NOT NULL,
    `table_version` INT UNSIGNED DEFAULT 0 NOT NULL,
    CONSTRAINT table_name_idx UNIQUE (`table_name`)
);
INSERT IGNORE INTO version (table_name, table_version) VALUES ('version', 1);

-- Gateways (setid 1 VAPI, 2 LiveKit tenants, 3 backup) and carriers (setid CARRIER_GROUP, 10).
CREATE TABLE IF NOT EXISTS `dispatcher` (
    `id` INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    `setid` INT DEFAULT 0 NOT NULL,
    `destination` VARCHAR(192) DEFAULT '' NOT NULL,
    `flags` INT DEFAULT 0 NOT NULL,
    `priority` INT DEFAULT 0 NOT NULL,
    `attrs` VARCHAR(128) DEFAULT '' NOT NULL,
    `description` VARCHAR(64) DEFAULT '' NOT NULL
);
INSERT IGNORE INTO version (table_name, table_version) VALUES ('dispatcher', 4);

-- ACL: grp 1 telecom carriers, grp 2 public gateways, 3 health checkers, 4 sources that authenticate.
-- A grp 2 row's tag names a tenant; its calls are that tenant's only when the operator declared the address
-- dedicated to it (`dedicated`, sbcctl acl dedicate): a platform's shared address tells the platform, never
-- the customer. permissions reads `tenant_tag` (kamailio.cfg tag_col), which is the tag of dedicated rows only.
CREATE TABLE IF NOT EXISTS `address` (
    `id` INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    `grp` INT(11) UNSIGNED DEFAULT 1 NOT NULL,
    `ip_addr` VARCHAR(50) NOT NULL,
    `mask` INT DEFAULT 32 NOT NULL,
    `port` SMALLINT(5) UNSIGNED DEFAULT 0 NOT NULL,
    `tag` VARCHAR(64),
    `dedicated` TINYINT(1) DEFAULT 0 NOT NULL COMMENT '1: only the tagged tenant sends from here',
    `tenant_tag` VARCHAR(64) AS (IF(`dedicated` = 1 AND `grp` = 2, `tag`, NULL)) VIRTUAL
);
INSERT IGNORE INTO version (table_name, table_version) VALUES ('address', 6);

-- DID -> AI gateway: a direct gateway_uri wins, else the dispatcher group (gateway_group).
CREATE TABLE IF NOT EXISTS `did_routing` (
    `id` INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    `did` VARCHAR(20) NOT NULL COMMENT 'E.164 with leading +',
    `gateway_group` INT NULL COMMENT 'dispatcher setid',
    `gateway_uri` VARCHAR(255) NULL COMMENT 'direct target, overrides gateway_group',
    `tenant` VARCHAR(64) DEFAULT '' NOT NULL,
    `description` VARCHAR(255) DEFAULT '' NOT NULL,
    `enabled` TINYINT(1) DEFAULT 1 NOT NULL,
    `created_at` TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL,
    `updated_at` TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT did_idx UNIQUE (`did`)
);
-- A DID needs a target: a direct URI, a group, or a tenant (whose group it then uses). Replaced on
-- every start so that databases created before tenants existed get the new rule too.
ALTER TABLE did_routing DROP CONSTRAINT IF EXISTS did_has_target;
ALTER TABLE did_routing ADD CONSTRAINT did_has_target
    CHECK (`gateway_group` IS NOT NULL OR `gateway_uri` IS NOT NULL OR `tenant` <> '');

-- Tenants: what Kamailio's tables cannot express. A tenant's gateways are its own dispatcher set
-- (gateway_group), its sources are address rows (grp 2) whose tag is the tenant name, its DIDs are
-- did_routing rows naming it; limits and caller-ID policy live here.
CREATE TABLE IF NOT EXISTS `tenant` (
    `id` INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    `name` VARCHAR(64) NOT NULL,
    `enabled` TINYINT(1) DEFAULT 1 NOT NULL,
    `gateway_group` INT NOT NULL COMMENT 'dispatcher setid holding only this tenant''s gateways',
    `allow_backup` TINYINT(1) DEFAULT 0 NOT NULL COMMENT 'may fail over to BACKUP_GATEWAY_GROUP',
    `max_calls` INT DEFAULT 0 NOT NULL COMMENT 'concurrent calls, 0 = TENANT_MAX_CALLS (never unlimited)',
    `max_cps` INT DEFAULT 0 NOT NULL COMMENT 'call attempts per second, 0 = TENANT_MAX_CPS (never unlimited)',
    `callerid_policy` VARCHAR(16) DEFAULT 'reject' NOT NULL COMMENT 'reject | replace',
    `default_did` VARCHAR(20) NULL COMMENT 'caller ID presented when policy is replace',
    `media_timeout` INT UNSIGNED NULL COMMENT 's without RTP from a leg before its call ends; NULL: MEDIA_TIMEOUT, 0: never',
    `media_keepalive` TINYINT(1) DEFAULT 0 NOT NULL COMMENT 'rtpengine sends both legs a continuous stream (rtpengine >= 11)',
    `transfer` VARCHAR(8) DEFAULT 'refuse' NOT NULL COMMENT 'a gateway''s REFER: refuse (403) | relay (blind, to the carrier)',
    `created_at` TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL,
    `updated_at` TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT tenant_name_idx UNIQUE (`name`),
    CONSTRAINT tenant_group_idx UNIQUE (`gateway_group`),
    CONSTRAINT tenant_policy CHECK (`callerid_policy` IN ('reject', 'replace')),
    CONSTRAINT tenant_transfer CHECK (`transfer` IN ('refuse', 'relay'))
);

-- Gateways that authenticate by digest (sources in ACL group 4): one account per credential a platform
-- is given, owned by a tenant (its calls are that tenant's, as an ACL row's tag makes them). Only the
-- HA1 for AUTH_REALM is kept.
CREATE TABLE IF NOT EXISTS `gateway_account` (
    `id` INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    `username` VARCHAR(64) NOT NULL,
    `ha1` CHAR(32) NOT NULL COMMENT 'MD5 of username:AUTH_REALM:password',
    `tenant` VARCHAR(64) DEFAULT '' NOT NULL,
    `enabled` TINYINT(1) DEFAULT 1 NOT NULL,
    `updated_at` TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT gateway_account_username_idx UNIQUE (`username`)
);

-- What the SBC answers when a peer (gateway or carrier) challenges its INVITE with 401/407: one row per
-- peer host, as dispatcher names it. With a realm, only the HA1 (MD5 of user:realm:password) is kept; a
-- peer whose realm is not known in advance needs the password itself, since the digest is computed
-- over the realm and nonce of its challenge. Never in the cfg; sbcctl shows neither.
CREATE TABLE IF NOT EXISTS `peer_credential` (
    `id` INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    `host` VARCHAR(255) NOT NULL COMMENT 'the peer host of its dispatcher URI (name or address)',
    `username` VARCHAR(64) NOT NULL,
    `realm` VARCHAR(128) DEFAULT '' NOT NULL COMMENT 'empty: whatever realm the peer challenges with',
    `ha1` CHAR(32) DEFAULT '' NOT NULL COMMENT 'set when realm is',
    `password` VARCHAR(128) DEFAULT '' NOT NULL COMMENT 'set when realm is not',
    `updated_at` TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT peer_credential_host_idx UNIQUE (`host`),
    CONSTRAINT peer_credential_secret CHECK ((`realm` <> '' AND `ha1` <> '' AND `password` = '')
                                             OR (`realm` = '' AND `ha1` = '' AND `password` <> ''))
);

-- Call records: one row per routed call, written by Kamailio's acc module from the dialog when the
-- call ends (answered) or fails (not answered). acc fills answer_time, end_time and duration (talk
-- seconds; for a call never answered answer_time = end_time = when it failed and duration = 0); the
-- routes fill the rest as dialog variables. Calls refused before routing (ACL, unknown DID, tenant
-- limits) have no row: they are counted in the metrics and logged.
CREATE TABLE IF NOT EXISTS `sbc_cdr` (
    `id` BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    `setup_time` DATETIME(3) NULL COMMENT 'INVITE received',
    `answer_time` DATETIME NULL,
    `end_time` DATETIME NULL,
    `duration` DOUBLE DEFAULT 0 NOT NULL COMMENT 'seconds from answer to end',
    `direction` VARCHAR(8) NULL COMMENT 'inbound (carrier to AI) | outbound',
    `did` VARCHAR(32) NULL COMMENT 'inbound: the DID dialed; outbound: the number called',
    `tenant` VARCHAR(64) NULL,
    `gw_group` VARCHAR(16) NULL COMMENT 'dispatcher set of the last attempt',
    `gateway` VARCHAR(255) NULL COMMENT 'inbound: gateway of the last attempt; outbound: source',
    `carrier` VARCHAR(255) NULL COMMENT 'inbound: source; outbound: carrier of the last attempt',
    `code` SMALLINT NULL COMMENT 'final SIP answer to the caller',
    `call_id` VARCHAR(255) NULL,
    `pdd_ms` INT UNSIGNED NULL COMMENT 'last attempt: INVITE relayed to its first 18x',
    `answer_ms` INT UNSIGNED NULL COMMENT 'last attempt: INVITE relayed to its 2xx',
    `end_reason` VARCHAR(32) NULL COMMENT 'bye carrier|gateway; media timeout carrier|gateway|both; NULL: other',
    `carrier_packets` INT UNSIGNED NULL COMMENT 'RTP packets rtpengine received from the carrier',
    `carrier_bytes` BIGINT UNSIGNED NULL COMMENT 'RTP bytes rtpengine received from the carrier',
    `carrier_mos` DECIMAL(2,1) NULL COMMENT 'average MOS of what the carrier heard (its RTCP; NULL: no RTCP)',
    `carrier_mos_min` DECIMAL(2,1) NULL COMMENT 'lowest MOS the carrier reported',
    `carrier_jitter_ms` SMALLINT UNSIGNED NULL COMMENT 'average jitter the carrier reported',
    `carrier_loss_pct` TINYINT UNSIGNED NULL COMMENT 'average loss the carrier reported, percent',
    `carrier_rtt_ms` DECIMAL(7,1) NULL COMMENT 'round trip end to end, when both legs sent RTCP',
    `gateway_packets` INT UNSIGNED NULL COMMENT 'RTP packets rtpengine received from the gateway',
    `gateway_bytes` BIGINT UNSIGNED NULL COMMENT 'RTP bytes rtpengine received from the gateway',
    `gateway_mos` DECIMAL(2,1) NULL COMMENT 'average MOS of what the gateway heard (its RTCP; NULL: no RTCP)',
    `gateway_mos_min` DECIMAL(2,1) NULL COMMENT 'lowest MOS the gateway reported',
    `gateway_jitter_ms` SMALLINT UNSIGNED NULL COMMENT 'average jitter the gateway reported',
    `gateway_loss_pct` TINYINT UNSIGNED NULL COMMENT 'average loss the gateway reported, percent',
    `gateway_rtt_ms` DECIMAL(7,1) NULL COMMENT 'round trip end to end, when both legs sent RTCP',
    `created_at` TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL,
    KEY `sbc_cdr_setup_idx` (`setup_time`),
    KEY `sbc_cdr_callid_idx` (`call_id`)
);
-- Added after the first release: a database created before them gets them here (idempotent).
ALTER TABLE `tenant` ADD COLUMN IF NOT EXISTS `media_timeout` INT UNSIGNED NULL AFTER `default_did`;
ALTER TABLE `tenant` ADD COLUMN IF NOT EXISTS `media_keepalive` TINYINT(1) DEFAULT 0 NOT NULL AFTER `media_timeout`;
ALTER TABLE `tenant` ADD COLUMN IF NOT EXISTS `transfer` VARCHAR(8) DEFAULT 'refuse' NOT NULL AFTER `media_keepalive`;
-- Toll-fraud controls (kemi/destinations.py): empty lists are the defaults (home country, ordinary numbers).
ALTER TABLE `tenant` ADD COLUMN IF NOT EXISTS `allowed_countries` VARCHAR(255) DEFAULT '' NOT NULL
    COMMENT 'ISO regions callable besides home (its DIDs'' countries), comma-separated' AFTER `transfer`;
ALTER TABLE `tenant` ADD COLUMN IF NOT EXISTS `allowed_prefixes` VARCHAR(1024) DEFAULT '' NOT NULL
    COMMENT 'E.164 prefixes callable whatever their country or type' AFTER `allowed_countries`;
ALTER TABLE `tenant` ADD COLUMN IF NOT EXISTS `denied_prefixes` VARCHAR(1024) DEFAULT '' NOT NULL
    COMMENT 'E.164 prefixes never callable (the longer of an allowed and a denied match wins)' AFTER `allowed_prefixes`;
ALTER TABLE `tenant` ADD COLUMN IF NOT EXISTS `number_types` VARCHAR(255) DEFAULT '' NOT NULL
    COMMENT 'phonenumbers types callable; empty: fixed_line, mobile, toll_free, voip, uan' AFTER `denied_prefixes`;
ALTER TABLE `tenant` ADD COLUMN IF NOT EXISTS `max_duration` INT UNSIGNED DEFAULT 0 NOT NULL
    COMMENT 's before the SBC ends a call with BYE both ways; 0 = TENANT_MAX_DURATION' AFTER `number_types`;
ALTER TABLE `tenant` ADD COLUMN IF NOT EXISTS `max_minutes_24h` INT UNSIGNED DEFAULT 0 NOT NULL
    COMMENT 'outbound minutes per rolling 24 h (a pair together, kept in Redis); 0 = no cap' AFTER `max_duration`;
-- Before 2026-12: a tagged grp 2 row made its source the tenant by address alone. Such rows now need
-- `sbcctl acl dedicate`; until then their calls are challenged (sbcctl check lists them).
ALTER TABLE `address` ADD COLUMN IF NOT EXISTS `dedicated` TINYINT(1) DEFAULT 0 NOT NULL
    COMMENT '1: only the tagged tenant sends from here' AFTER `tag`;
ALTER TABLE `address` ADD COLUMN IF NOT EXISTS `tenant_tag` VARCHAR(64)
    AS (IF(`dedicated` = 1 AND `grp` = 2, `tag`, NULL)) VIRTUAL AFTER `dedicated`;
ALTER TABLE `sbc_cdr` ADD COLUMN IF NOT EXISTS `pdd_ms` INT UNSIGNED NULL AFTER `call_id`;
ALTER TABLE `sbc_cdr` ADD COLUMN IF NOT EXISTS `answer_ms` INT UNSIGNED NULL AFTER `pdd_ms`;
ALTER TABLE `sbc_cdr` ADD COLUMN IF NOT EXISTS `carrier_packets` INT UNSIGNED NULL AFTER `answer_ms`;
ALTER TABLE `sbc_cdr` ADD COLUMN IF NOT EXISTS `end_reason` VARCHAR(32) NULL AFTER `answer_ms`;
ALTER TABLE `sbc_cdr` ADD COLUMN IF NOT EXISTS `carrier_bytes` BIGINT UNSIGNED NULL AFTER `carrier_packets`;
ALTER TABLE `sbc_cdr` ADD COLUMN IF NOT EXISTS `carrier_mos` DECIMAL(2,1) NULL AFTER `carrier_bytes`;
ALTER TABLE `sbc_cdr` ADD COLUMN IF NOT EXISTS `carrier_mos_min` DECIMAL(2,1) NULL AFTER `carrier_mos`;
ALTER TABLE `sbc_cdr` ADD COLUMN IF NOT EXISTS `carrier_jitter_ms` SMALLINT UNSIGNED NULL AFTER `carrier_mos_min`;
ALTER TABLE `sbc_cdr` ADD COLUMN IF NOT EXISTS `carrier_loss_pct` TINYINT UNSIGNED NULL AFTER `carrier_jitter_ms`;
ALTER TABLE `sbc_cdr` ADD COLUMN IF NOT EXISTS `carrier_rtt_ms` DECIMAL(7,1) NULL AFTER `carrier_loss_pct`;
ALTER TABLE `sbc_cdr` ADD COLUMN IF NOT EXISTS `gateway_packets` INT UNSIGNED NULL AFTER `carrier_rtt_ms`;
ALTER TABLE `sbc_cdr` ADD COLUMN IF NOT EXISTS `gateway_bytes` BIGINT UNSIGNED NULL AFTER `gateway_packets`;
ALTER TABLE `sbc_cdr` ADD COLUMN IF NOT EXISTS `gateway_mos` DECIMAL(2,1) NULL AFTER `gateway_bytes`;
ALTER TABLE `sbc_cdr` ADD COLUMN IF NOT EXISTS `gateway_mos_min` DECIMAL(2,1) NULL AFTER `gateway_mos`;
ALTER TABLE `sbc_cdr` ADD COLUMN IF NOT EXISTS `gateway_jitter_ms` SMALLINT UNSIGNED NULL AFTER `gateway_mos_min`;
ALTER TABLE `sbc_cdr` ADD COLUMN IF NOT EXISTS `gateway_loss_pct` TINYINT UNSIGNED NULL AFTER `gateway_jitter_ms`;
ALTER TABLE `sbc_cdr` ADD COLUMN IF NOT EXISTS `gateway_rtt_ms` DECIMAL(7,1) NULL AFTER `gateway_loss_pct`;

-- Dialogs kept across a graceful restart (dialog db_mode 3): written at shutdown, loaded and emptied at
-- start. Kamailio's own layout (dialog 7, dialog_vars 1); contacts and route sets wider than its
-- defaults, since a carrier's Contact or Record-Route set can outgrow 255/512 characters.
CREATE TABLE IF NOT EXISTS `dialog` (
    `id` INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    `hash_entry` INT(10) UNSIGNED NOT NULL,
    `hash_id` INT(10) UNSIGNED NOT NULL,
    `callid` VARCHAR(255) NOT NULL,
    `from_uri` VARCHAR(255) NOT NULL,
    `from_tag` VARCHAR(128) NOT NULL,
    `to_uri` VARCHAR(255) NOT NULL,
    `to_tag` VARCHAR(128) NOT NULL,
    `caller_cseq` VARCHAR(20) NOT NULL,
    `callee_cseq` VARCHAR(20) NOT NULL,
    `caller_route_set` TEXT,
    `callee_route_set` TEXT,
    `caller_contact` VARCHAR(1024) NOT NULL,
    `callee_contact` VARCHAR(1024) NOT NULL,
    `caller_sock` VARCHAR(128) NOT NULL,
    `callee_sock` VARCHAR(128) NOT NULL,
    `state` INT(10) UNSIGNED NOT NULL,
    `start_time` INT(10) UNSIGNED NOT NULL,
    `timeout` INT(10) UNSIGNED DEFAULT 0 NOT NULL,
    `sflags` INT(10) UNSIGNED DEFAULT 0 NOT NULL,
    `iflags` INT(10) UNSIGNED DEFAULT 0 NOT NULL,
    `toroute_name` VARCHAR(32),
    `req_uri` VARCHAR(255) NOT NULL,
    `xdata` TEXT,
    KEY `dialog_hash_idx` (`hash_entry`, `hash_id`)
);
INSERT IGNORE INTO version (table_name, table_version) VALUES ('dialog', 7);

CREATE TABLE IF NOT EXISTS `dialog_vars` (
    `id` INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    `hash_entry` INT(10) UNSIGNED NOT NULL,
    `hash_id` INT(10) UNSIGNED NOT NULL,
    `dialog_key` VARCHAR(128) NOT NULL,
    `dialog_value` VARCHAR(1024) NOT NULL,
    KEY `dialog_vars_hash_idx` (`hash_entry`, `hash_id`)
);
INSERT IGNORE INTO version (table_name, table_version) VALUES ('dialog_vars', 1);

-- topos' per-dialog state on Kamailio 6.0 (topos_htable, kamailio.cfg), kept across a graceful restart like
-- the dialogs: written at shutdown, read at start. htable's layout, with room for a dialog's packed headers.
CREATE TABLE IF NOT EXISTS `topos_dialog` (
    `id` INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    `key_name` VARCHAR(255) DEFAULT '' NOT NULL,
    `key_type` INT DEFAULT 0 NOT NULL,
    `value_type` INT DEFAULT 0 NOT NULL,
    `key_value` TEXT NOT NULL,
    `expires` INT DEFAULT 0 NOT NULL
);
INSERT IGNORE INTO version (table_name, table_version) VALUES ('topos_dialog', 2);

-- The provisioning API (sbcapi): its bearer tokens, kept only as SHA-256 (sbcctl token add prints a token
-- once), each with its scope: `operator` (everything) or `tenant:<name>` (that tenant's DIDs, calls, records).
CREATE TABLE IF NOT EXISTS `api_token` (
    `id` INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    `name` VARCHAR(64) NOT NULL,
    `token_sha256` CHAR(64) NOT NULL,
    `scope` VARCHAR(80) NOT NULL,
    `created_at` TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT api_token_name_idx UNIQUE (`name`),
    CONSTRAINT api_token_hash_idx UNIQUE (`token_sha256`)
);

-- Every write through the API: who (token name), what (method, path), the row before and after, the answer.
-- Written in the transaction of the change itself: no change without its line, no line without its change.
CREATE TABLE IF NOT EXISTS `api_audit` (
    `id` BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    `at` DATETIME(3) DEFAULT CURRENT_TIMESTAMP(3) NOT NULL,
    `token` VARCHAR(64) NOT NULL,
    `method` VARCHAR(8) NOT NULL,
    `path` VARCHAR(255) NOT NULL,
    `status` SMALLINT NOT NULL,
    `before_json` TEXT NULL,
    `after_json` TEXT NULL
);
-- Caller context for the agent (sbclib/callcontext.py): which carrier headers cross, as the platforms read them.
ALTER TABLE `tenant` ADD COLUMN IF NOT EXISTS `context_headers` VARCHAR(1024) DEFAULT '' NOT NULL
    COMMENT 'diversion, history-info, user-to-user and X- header names, comma-separated';
-- The agent's X- headers on its 2xx and its BYE (disposition, summary id), name=value pairs.
ALTER TABLE `sbc_cdr` ADD COLUMN IF NOT EXISTS `agent_headers` VARCHAR(1024) NULL
    COMMENT 'the gateway''s X- headers on its 2xx and BYE: name=value; ...';
-- Ringing at once toward the carrier for a tenant's inbound calls (kemi/routes.py), while its agent starts.
ALTER TABLE `tenant` ADD COLUMN IF NOT EXISTS `early_ringing` TINYINT(1) DEFAULT 0 NOT NULL
    COMMENT '1: the carrier gets 180 as soon as the call is relayed';
-- STIR/SHAKEN verification of the carrier's Identity header (kemi/access/stir.py): verstat and attestation.
ALTER TABLE `sbc_cdr` ADD COLUMN IF NOT EXISTS `stir` VARCHAR(32) NULL
    COMMENT 'TN-Validation-Passed A | TN-Validation-Failed | No-TN-Validation; NULL: not verified';
-- ms from the agent's answer to its first RTP packet (kemi/telemetry/firstrtp.py), at 100 ms resolution.
ALTER TABLE `sbc_cdr` ADD COLUMN IF NOT EXISTS `agent_rtp_ms` INT NULL
    COMMENT 'ms from the gateway''s 2xx to its first RTP packet; NULL: none within 10 s, or not answered';
-- A tenant that takes only calls whose caller ID verified: others are refused (428, 438).
ALTER TABLE `tenant` ADD COLUMN IF NOT EXISTS `stir_required` TINYINT(1) DEFAULT 0 NOT NULL
    COMMENT '1: inbound calls without a verified Identity are refused';
-- A tenant whose callers hear ringback from the SBC (rtpengine, RINGBACK_TONE) until its agent answers.
ALTER TABLE `tenant` ADD COLUMN IF NOT EXISTS `ringback` TINYINT(1) DEFAULT 0 NOT NULL
    COMMENT '1: inbound: 180 with SDP at once, ringback played until the agent''s first SDP';
-- The SBC's own registrations with providers and carriers that want one (sbcctl registration), Kamailio's
-- uac table as the module reads it (version 5): l_uuid is the registration's name and its Contact's user,
-- socket and contact_addr the side it registers from (never the other side's address). With a realm only
-- the HA1 is kept, as for peer_credential.
CREATE TABLE IF NOT EXISTS `uacreg` (
    `id` INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    `l_uuid` VARCHAR(64) DEFAULT '' NOT NULL,
    `l_username` VARCHAR(64) DEFAULT '' NOT NULL,
    `l_domain` VARCHAR(64) DEFAULT '' NOT NULL,
    `r_username` VARCHAR(64) DEFAULT '' NOT NULL,
    `r_domain` VARCHAR(64) DEFAULT '' NOT NULL,
    `realm` VARCHAR(64) DEFAULT '' NOT NULL,
    `auth_username` VARCHAR(64) DEFAULT '' NOT NULL,
    `auth_password` VARCHAR(64) DEFAULT '' NOT NULL,
    `auth_ha1` VARCHAR(128) DEFAULT '' NOT NULL,
    `auth_proxy` VARCHAR(255) DEFAULT '' NOT NULL,
    `expires` INT DEFAULT 0 NOT NULL,
    `flags` INT DEFAULT 0 NOT NULL,
    `reg_delay` INT DEFAULT 0 NOT NULL,
    `contact_addr` VARCHAR(255) DEFAULT '' NOT NULL,
    `socket` VARCHAR(128) DEFAULT '' NOT NULL,
    CONSTRAINT l_uuid_idx UNIQUE (`l_uuid`)
);
INSERT IGNORE INTO version (table_name, table_version) VALUES ('uacreg', 5);
