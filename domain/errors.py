"""Domain errors. Each carries a stable `code` (docs/http-api.md); the HTTP layer maps each class to a
status through one table (entrypoints/http/errors.py), and a test checks that no class is missing."""

from __future__ import annotations


class DomainError(Exception):
    code = "validation_error"

    def __init__(self, detail: str, *, extra: object | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(DomainError):
    code = "not_found"


class Unauthorized(DomainError):
    code = "unauthorized"


class Forbidden(DomainError):
    code = "forbidden"


class ValidationFailed(DomainError):
    code = "validation_error"


class EmailTaken(DomainError):
    code = "email_taken"


class AgentKeyTaken(DomainError):
    code = "agent_key_taken"


class UnknownModel(DomainError):
    code = "unknown_model"


class TurnInProgress(DomainError):
    code = "turn_in_progress"


class TurnNotRunning(DomainError):
    code = "turn_not_running"


class IdempotencyConflict(DomainError):
    code = "idempotency_conflict"


class NoValidTag(DomainError):
    code = "no_valid_tag"


class NoAgents(DomainError):
    code = "no_agents"


class ContextBudgetExceeded(DomainError):
    code = "context_budget_exceeded"


class TooManyAgents(DomainError):
    code = "too_many_agents"


def too_many_agents(limit: int) -> TooManyAgents:
    return TooManyAgents(f"A room holds at most {limit} agents.", extra={"limit": limit})


class InsufficientCredits(DomainError):
    code = "insufficient_credits"


class RateLimited(DomainError):
    """A limit on how much a user runs at once or per minute; `retry_after_s` becomes Retry-After."""

    code = "rate_limited"

    def __init__(self, detail: str, *, limit: int, retry_after_s: int) -> None:
        super().__init__(detail, extra={"limit": limit})
        self.retry_after_s = max(1, retry_after_s)


def insufficient_credits(needed: object) -> InsufficientCredits:
    return InsufficientCredits(
        "Not enough available credits for this call's worst case; ask an operator for a grant.",
        extra={"required_credits": str(needed)},
    )


RUNNING_TURN_RETRY_S = 5  # Retry-After of the running-turn limit: about one turn's length


def too_many_running(limit: int) -> RateLimited:
    return RateLimited(
        f"At most {limit} turns of one user run at once; wait for one to finish.",
        limit=limit,
        retry_after_s=RUNNING_TURN_RETRY_S,
    )
