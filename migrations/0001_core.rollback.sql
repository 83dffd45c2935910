DROP TABLE sessions;
DROP TABLE agents;
DROP TABLE rooms;
DROP TABLE api_keys;
DROP TABLE users;
