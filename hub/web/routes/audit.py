"""``GET /api/v1/audit`` (the audit log) and ``POST /api/v1/tokens/revoke``: property managers only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field, model_validator

from compound.config.models import Person, Role
from hub.web.accounts import AuditAction, AuditEntryPublic, person_revocation_id
from hub.web.deps import Audit, Context, CurrentUser, SignInLimit

__all__ = ["RevokeRequest", "RevokeResult", "router"]

router = APIRouter(prefix="/api/v1", tags=["accounts"])

_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "No valid token or session."},
    403: {"description": "Not a property manager."},
}


def _manager(user: Person) -> None:
    if user.role is not Role.PROPERTY_MANAGER:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "for property managers only")


class RevokeRequest(BaseModel):
    """Revoke one token by id (printed by `compound token`, shown in the audit log), or every token of a person."""

    token_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    person: str | None = Field(default=None, min_length=1, max_length=80, description="Every token issued until now.")

    @model_validator(mode="after")
    def _one_of(self) -> RevokeRequest:
        if (self.token_id is None) == (self.person is None):
            raise ValueError("give exactly one of token_id and person")
        return self


class RevokeResult(BaseModel):
    """What was revoked."""

    revoked: str = Field(description="The token id, or 'person:<id>'.")
    changed: bool = Field(description="False when that token id was already revoked.")


@router.get("/audit", response_model=list[AuditEntryPublic], responses=_ERRORS)
def audit_log(
    user: CurrentUser,
    context: Context,
    actor: Annotated[str | None, Query(max_length=80, description="Only this person's actions")] = None,
    action: Annotated[str | None, Query(max_length=32, description="Only this action, e.g. sign_in")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AuditEntryPublic]:
    """Who did what, when and from where (sign-in, sign-out, acknowledge, resolve, token revocation), newest first."""
    _manager(user)
    return context.account_store.entries(limit=limit, actor=actor, action=action)


@router.post("/tokens/revoke", response_model=RevokeResult, responses=_ERRORS, dependencies=[SignInLimit])
def revoke_token(body: RevokeRequest, user: CurrentUser, context: Context, audit: Audit) -> RevokeResult:
    """Refuse a token (and sessions opened with it) from now on, or every token and session of a person."""
    _manager(user)
    target = body.token_id if body.token_id is not None else person_revocation_id(str(body.person))
    changed = context.account_store.revoke(target, user.id)
    audit.record(AuditAction.TOKEN_REVOKE, target)
    return RevokeResult(revoked=target, changed=changed)
