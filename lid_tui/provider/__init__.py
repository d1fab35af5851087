"""Provider adapters: one small interface, one adapter per WhatsApp API provider."""

from lid_tui.provider.base import (
    BadRequest,
    CredentialsRejected,
    InsecureTransport,
    InstanceNotConnected,
    InvalidBaseUrl,
    Provider,
    ProviderConfigError,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    TransientError,
    UnusablePayload,
    UpstreamFailure,
)

__all__ = [
    "BadRequest",
    "CredentialsRejected",
    "InsecureTransport",
    "InstanceNotConnected",
    "InvalidBaseUrl",
    "Provider",
    "ProviderConfigError",
    "ProviderError",
    "QuotaExceeded",
    "RateLimited",
    "TransientError",
    "UnusablePayload",
    "UpstreamFailure",
]
