-- First start of the PostgreSQL container: one database per ancre service, owned by the
-- `ancre` role (compose.yaml). Each service migrates its own schema when it starts.
CREATE DATABASE registry OWNER ancre;
CREATE DATABASE issuer OWNER ancre;
CREATE DATABASE verifier OWNER ancre;
