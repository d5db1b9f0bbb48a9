-- Run once by the postgres image, as its superuser, on an empty data volume (docker-compose.yml).
-- The roles of revision 0011 (infra/migrations/versions/0011_database_roles.py grants their rights):
-- one per service, a read-only one, and the owner. Their passwords come from the container's
-- environment (DB_PASSWORD_*, which docker-compose.yml requires; README "Database roles" says how
-- to make them): none is written here, and an unset one stops the initialisation.
\set ON_ERROR_STOP on
\getenv owner_password DB_PASSWORD_OWNER
\getenv streams_password DB_PASSWORD_STREAMS
\getenv ledger_password DB_PASSWORD_LEDGER
\getenv gateway_password DB_PASSWORD_GATEWAY
\getenv reader_password DB_PASSWORD_READER

CREATE ROLE takeback_owner LOGIN PASSWORD :'owner_password';       -- owns the schema: migrations, API keys
CREATE ROLE takeback_streams LOGIN PASSWORD :'streams_password';   -- the stream workers
CREATE ROLE takeback_ledger LOGIN PASSWORD :'ledger_password';     -- the ledger's workers
CREATE ROLE takeback_gateway LOGIN PASSWORD :'gateway_password';   -- the HTTP gateway
CREATE ROLE takeback_reader LOGIN PASSWORD :'reader_password';     -- reports and operators, read-only
CREATE DATABASE takeback OWNER takeback_owner;

\connect takeback
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT CONNECT ON DATABASE takeback TO takeback_streams, takeback_ledger, takeback_gateway, takeback_reader;
-- Bounds of every session of a role but the owner's (the services also set them on their own pools).
ALTER ROLE takeback_streams SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE takeback_streams SET statement_timeout = '600s';
ALTER ROLE takeback_ledger SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE takeback_ledger SET statement_timeout = '600s';
ALTER ROLE takeback_gateway SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE takeback_gateway SET statement_timeout = '600s';
ALTER ROLE takeback_reader SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE takeback_reader SET statement_timeout = '600s';
