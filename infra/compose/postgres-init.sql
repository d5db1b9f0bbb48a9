-- Run once by the postgres image on an empty data volume (docker-compose.yml).
-- Dev-only passwords, equal to the role names, as in the local stack's defaults.
CREATE ROLE takeback_owner LOGIN PASSWORD 'takeback_owner';  -- owns the schema, runs migrations
CREATE ROLE takeback LOGIN PASSWORD 'takeback';              -- the services connect as this role
CREATE DATABASE takeback OWNER takeback_owner;

\connect takeback
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT CONNECT ON DATABASE takeback TO takeback;
-- Bounds of every session of the services' role (the services also set them on their own pools).
ALTER ROLE takeback SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE takeback SET statement_timeout = '600s';
