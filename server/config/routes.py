"""``GET /api/v1/config``: the deployment's features and public keys, for the frontend."""

from __future__ import annotations

from server.config.schemas import ConfigOut
from server.http import Ctx, Router

router = Router("/api/v1", tags=["integrations"])


@router.get("/config", summary="Deployment features and public keys for the frontend")
async def get_config(ctx: Ctx) -> ConfigOut:
    """Which integrations are on. No secrets: only the Stripe publishable key."""
    return ConfigOut.from_settings(ctx.settings)
