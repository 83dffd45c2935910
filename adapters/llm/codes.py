"""Stable error codes of LLM calls (they land in step errors and the API, so they never change)."""

from __future__ import annotations

PROVIDER_NOT_CONFIGURED = "provider_not_configured"  # unknown alias, or its provider has no key
PROVIDER_UNREACHABLE = "provider_unreachable"  # the request never reached the provider
PROVIDER_TIMEOUT = "provider_timeout"  # read timeout or the per-attempt deadline
PROVIDER_RATE_LIMITED = "provider_rate_limited"  # 429, or a rate-limit error inside a 200
PROVIDER_ERROR = "provider_error"  # 5xx, or an error object the provider sent with a 200
PROVIDER_REJECTED = "provider_rejected"  # another 4xx: the request itself is wrong (not retried)
PROVIDER_BAD_RESPONSE = "provider_bad_response"  # unparseable body, wrong content type, no choices
PROVIDER_STREAM_INTERRUPTED = "provider_stream_interrupted"  # the stream ended before its end marker
SIMULATED_FAILURE = "simulated_failure"  # the simulated provider's deliberate failure marker
