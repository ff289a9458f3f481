-- The schema version each outbox row was encoded with: the relay publishes the stored body as it is, without
-- parsing it, and its AMQP header must name the version of that body, not the relay's. Rows written before this
-- column existed keep it empty; they are published with the version the relay knows.
ALTER TABLE outbox ADD COLUMN schema_version integer;
