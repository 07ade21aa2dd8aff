-- Fills a migrated depot database with :rows packages (and one blob row
-- each) for the list figure of bench/run.sh:
--   psql -v rows=100000 -f bench/seed.sql DATABASE_URL
-- The variety is what an OCP repository holds: seven types in realistic
-- proportions (most rows are observer builds), several names per type, many
-- versions and builds, eight operating systems, two architectures, scripts
-- without OS or architecture, sizes from 10 MB to 2 GB, and upload times over
-- three years. Deterministic: every run seeds the same rows.
-- The rows have no objects behind them, so none is an RPM to depot's yum
-- publisher (extension 'seed', not 'rpm'): it would otherwise try, and retry
-- all through the run, to read their headers to backfill their repository
-- metadata (src/domain/repos/members.rs). The list never looks at the
-- extension.
\set ON_ERROR_STOP on
BEGIN;

CREATE TEMP TABLE seed_names (slot int, type text, name text, ext text) ON COMMIT DROP;
INSERT INTO seed_names VALUES
    (0, 'OB_SERVER_INSTALL_PACKAGE', 'oceanbase-ce', 'rpm'),
    (1, 'OB_SERVER_INSTALL_PACKAGE', 'oceanbase-ce-libs', 'rpm'),
    (2, 'OB_SERVER_INSTALL_PACKAGE', 'oceanbase-ce-utils', 'rpm'),
    (3, 'OB_SERVER_INSTALL_PACKAGE', 'oceanbase', 'rpm'),
    (4, 'OB_SERVER_INSTALL_PACKAGE', 'oceanbase-libs', 'rpm'),
    (5, 'OB_SERVER_INSTALL_PACKAGE', 'oceanbase-standalone', 'rpm'),
    (6, 'OB_SERVER_INSTALL_PACKAGE', 't-oceanbase-ce', 'rpm'),
    (7, 'OBPROXY_INSTALL_PACKAGE', 'obproxy-ce', 'rpm'),
    (8, 'OBPROXY_INSTALL_PACKAGE', 'obproxy', 'rpm'),
    (9, 'OBPROXY_INSTALL_PACKAGE', 't-obproxy', 'rpm'),
    (10, 'OCP_AGENT_INSTALL_PACKAGE', 'ocp-agent-ce', 'rpm'),
    (11, 'OCP_AGENT_INSTALL_PACKAGE', 't-oceanbase-ocp-agent', 'rpm'),
    (12, 'OCP_AGENT_INSTALL_PACKAGE', 'ocp-agent', 'rpm'),
    (13, 'OB_AGENT_INSTALL_PACKAGE', 'obagent', 'rpm'),
    (14, 'OB_AGENT_INSTALL_PACKAGE', 't-obagent', 'rpm'),
    (15, 'OB_BACKUP_AGENT_INSTALL_PACKAGE', 'ob-backup-agent', 'rpm'),
    (16, 'OTHERS_RPM', 'obclient', 'rpm'),
    (17, 'OTHERS_RPM', 'libobclient', 'rpm'),
    (18, 'OTHERS_RPM', 'oblogproxy', 'rpm'),
    (19, 'SCRIPT', 'ocp-check', 'sh');

CREATE TEMP TABLE seed_rows ON COMMIT DROP AS
SELECT
    i,
    n.type,
    n.name,
    n.ext,
    format('%s.%s.%s.%s', 3 + (i / 20) % 2, (i / 40) % 5, (i / 200) % 10, (i / 2000) % 4) AS version,
    (100000000000000000 + i::bigint * 7919)::text AS build_number,
    CASE WHEN n.ext = 'sh' THEN '' ELSE (ARRAY['el7', 'el8', 'el9', 'alios7', 'alios8', 'anolis8', 'kylin10', 'uos20'])[1 + (i * 31 / 7) % 8] END AS os,
    CASE WHEN n.ext = 'sh' THEN '' WHEN (i * 13) % 10 < 7 THEN 'x86_64' ELSE 'aarch64' END AS arch,
    10000000 + (i::bigint * 2654435761) % 2000000000 AS size,
    md5(i::text) || md5('blob' || i::text) AS hex,
    timestamptz '2023-11-22 00:00:00+00' + ((i::bigint * 2654435761) % (3 * 365 * 86400)) * interval '1 second' AS created
FROM generate_series(1, :rows) AS i
JOIN seed_names n ON n.slot = (i * 7) % 20;

INSERT INTO blobs (key, size, sha1, md5, sha256, created_at)
SELECT 'blobs/blake3/' || left(hex, 2) || '/' || hex, size, left(hex, 40), left(hex, 32),
       hex, created
FROM seed_rows;

-- The summaries' row trigger would update the same few package_counts rows
-- once per package inside this one transaction (a new row version each
-- time): at a million rows that ran past ten minutes. Off for the bulk
-- insert, and the summaries filled once after it, as their migration does.
ALTER TABLE packages DISABLE TRIGGER packages_summarise;

INSERT INTO packages (name, file_name, extension, size, sha1, blob_key, type, version, release,
                      build_number, operating_system, os_family, architecture, deletable, created_at)
SELECT name,
       CASE WHEN ext = 'sh' THEN format('%s-%s-%s.sh', name, version, build_number)
            ELSE format('%s-%s-%s.%s.%s.rpm', name, version, build_number, os, arch) END,
       'seed', size, left(hex, 40), 'blobs/blake3/' || left(hex, 2) || '/' || hex, type, version,
       CASE WHEN ext = 'sh' THEN '' ELSE build_number || '.' || os END,
       build_number, os, rtrim(os, '0123456789'), arch, true, created
FROM seed_rows
ORDER BY created;

ALTER TABLE packages ENABLE TRIGGER packages_summarise;
INSERT INTO package_names (name) SELECT DISTINCT name FROM packages ON CONFLICT DO NOTHING;
DELETE FROM package_counts;
INSERT INTO package_counts (type, name, operating_system, os_family, architecture, n)
    SELECT type, name, operating_system, MIN(os_family), architecture, COUNT(*)
    FROM packages GROUP BY type, name, operating_system, architecture;

COMMIT;
-- A live database is autovacuumed: start from that steady state (visibility
-- map set, statistics fresh), not from a table autovacuum has not reached yet.
VACUUM ANALYZE blobs;
VACUUM ANALYZE packages;
VACUUM ANALYZE package_names;
VACUUM ANALYZE package_counts;
