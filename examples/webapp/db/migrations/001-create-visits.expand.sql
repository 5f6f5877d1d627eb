-- Every page writes a visit. node is nullable from the start: a release that stops writing it
-- must still be able to insert while the column is there.
CREATE TABLE visits (
    id   bigserial PRIMARY KEY,
    at   timestamptz NOT NULL DEFAULT now(),
    node text
);
