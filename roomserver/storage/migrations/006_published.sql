-- How far the output stream on the bus is known to hold the events: the
-- roomserver replays what comes after it on start. The bus itself cannot
-- say once its messages have aged out. 0 (unknown) for existing
-- deployments: the first start asks the bus instead.
CREATE TABLE published_position (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	stream_pos BIGINT NOT NULL
);
INSERT INTO published_position (id, stream_pos) VALUES (1, 0);
