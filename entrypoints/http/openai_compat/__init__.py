"""The OpenAI-compatible entrypoint: a room answers as one model at /v1 (docs/http-api.md)."""
