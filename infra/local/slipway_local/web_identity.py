"""Federation through an OIDC provider (how CI reaches the deployment role: GitHub's token exchanged with
``sts:AssumeRoleWithWebIdentity``), as far as the local cloud can realise it:

- ``AWS::IAM::OIDCProvider`` in CloudFormation (moto skips it, so a trust policy's ``Federated: !Ref Provider`` lost
  its principal): the provider is created in moto's IAM, ``Ref`` gives its ARN.
- ``AssumeRoleWithWebIdentity``: moto hands out the role's keys for any token. Here the token's claims decide, as STS
  decides: its issuer must be an OIDC provider of the role's account, its audience one of the provider's client
  ids, and the role's trust policy must allow ``sts:AssumeRoleWithWebIdentity`` to that provider with conditions
  on ``<issuer host>:<claim>`` (``…:aud``, ``…:sub``). The call is unsigned, as on AWS.

Not realised: the token's signature and expiry (no issuer's keys here: ``token`` mints an unsigned token with the
claims a GitHub Actions job in an environment would carry), provider thumbprints, session tags and policies."""

from __future__ import annotations

import base64
import json
from typing import Any

__all__ = ["install", "token"]

_UNSIGNED = frozenset({"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"})
_installed: list[bool] = []


def token(issuer: str, audience: str, subject: str, **claims: str) -> str:
    """An unsigned JWT (``alg: none``) with these claims."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'iss': issuer, 'aud': audience, 'sub': subject, **claims})}."


def _claims(web_token: str) -> dict[str, Any]:
    try:
        payload = web_token.split(".")[1]
        loaded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError) as error:
        raise _invalid("the web identity token is not a JWT") from error
    if not isinstance(loaded, dict):
        raise _invalid("the web identity token is not a JWT")
    return loaded


def _invalid(message: str) -> Exception:
    from moto.sts.exceptions import STSClientError

    return STSClientError("InvalidIdentityToken", message)


def _denied(message: str) -> Exception:
    from moto.sts.exceptions import STSClientError

    return STSClientError("AccessDenied", message)


def authorize(role_arn: str, web_token: str) -> None:
    """Refuse the exchange unless the role's account trusts the token's issuer and the trust policy allows it."""
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import iam_backends

    from slipway_local import policy

    claims = _claims(web_token)
    issuer = str(claims.get("iss", "")).removeprefix("https://")
    account = role_arn.split(":")[4]
    backend = iam_backends[account]["aws"]
    provider_arn = f"arn:aws:iam::{account}:oidc-provider/{issuer}"
    provider = backend.open_id_providers.get(provider_arn)
    if provider is None:
        raise _invalid(f"No OpenIDConnect provider found in your account for https://{issuer}")
    audience = claims.get("aud")
    audiences = {str(a) for a in audience} if isinstance(audience, list) else {str(audience)}
    if not audiences & set(provider.client_id_list):
        raise _invalid(f"Incorrect token audience {audiences} for {provider_arn}")
    try:
        role = backend.get_role_by_arn(role_arn)
    except NotFoundException as error:
        raise _denied(f"Not authorized to perform sts:AssumeRoleWithWebIdentity on {role_arn}") from error
    context: dict[str, str | list[str]] = {
        f"{issuer}:{name}": value if isinstance(value, list) else str(value)
        for name, value in claims.items()
        if isinstance(value, (str, int, list))
    }
    who = policy.Principal(account, provider_arn, federated=provider_arn)
    verdict = policy.evaluate(
        [role.assume_role_policy_document], "sts:AssumeRoleWithWebIdentity", role_arn, context, who
    )
    if not verdict.allowed:
        raise _denied(f"Not authorized to perform sts:AssumeRoleWithWebIdentity (trust policy of {role_arn})")


def install() -> None:
    """Register the OIDC provider type and check web identity exchanges (idempotent)."""
    if _installed:
        return
    _define_provider()
    _patch_assume_role_with_web_identity()
    _installed.append(True)


def _patch_assume_role_with_web_identity() -> None:
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.sts.responses import TokenResponse

    original = TokenResponse.assume_role_with_web_identity

    def assume_role_with_web_identity(self: Any) -> Any:
        authorize(self._get_param("RoleArn"), self._get_param("WebIdentityToken") or "")
        return original(self)

    TokenResponse.assume_role_with_web_identity = assume_role_with_web_identity  # type: ignore[method-assign]
    authenticate = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def unsigned_federation(self: Any, *args: Any, **kwargs: Any) -> None:
        if self._get_action() in _UNSIGNED and "Authorization" not in self.headers:
            return  # STS takes these unsigned: the token (or assertion) is the credential
        authenticate(self, *args, **kwargs)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = unsigned_federation  # type: ignore[method-assign]


def _define_provider() -> None:
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel
    from moto.iam.models import iam_backends

    class OidcProviderResource(CloudFormationModel):
        def __init__(self, arn: str) -> None:
            self.arn = arn

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::IAM::OIDCProvider"

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @property
        def physical_resource_id(self) -> str:
            return self.arn

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Arn"

        def get_cfn_attribute(self, attribute_name: str) -> Any:
            if attribute_name == "Arn":
                return self.arn
            from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

            raise UnformattedGetAttTemplateException()

        @classmethod
        def create_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
        ) -> OidcProviderResource:
            props = cloudformation_json.get("Properties", {})
            provider = iam_backends[account_id]["aws"].create_open_id_connect_provider(
                props["Url"],
                props.get("ThumbprintList") or [],
                props.get("ClientIdList") or [],
                props.get("Tags") or [],
            )
            return cls(provider.arn)

        @classmethod
        def delete_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
        ) -> None:
            iam_backends[account_id]["aws"].delete_open_id_connect_provider(resource_name)

        def is_created(self) -> bool:
            return True

    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
