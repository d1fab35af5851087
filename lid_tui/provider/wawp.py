"""The adapter for Wawp's ``/v2/lids`` endpoints (and gateways that speak the same protocol,
such as the built-in demo server).

The instance id and access token travel as query parameters on every request, which is why
the token is registered for redaction and plain http is refused except to loopback.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import httpx

from lid_tui.identity import number_digits
from lid_tui.provider.base import (
    DEFAULT_TIMEOUT,
    ProviderConfigError,
    ProviderError,
    UnusablePayload,
)
from lid_tui.provider.http import (
    build_client,
    checked_base_url,
    error_for_response,
    error_for_status,
    error_for_transport,
    install_log_redaction,
    json_body,
    redact,
    register_secret,
    response_message,
)
from lid_tui.provider.payload import (
    ENVELOPE_KEYS,
    ParsedPage,
    clean_text,
    parse_count,
    parse_mapping_page,
    parse_resolved,
    provider_message,
)

# Redact httpx's log lines as soon as an adapter is importable, not only once one is built.
install_log_redaction()

#: Statuses meaning "this deployment has no count endpoint": progress becomes indeterminate.
_NO_COUNT_STATUSES = frozenset({404, 405, 501})


class WawpProvider:
    """Lists, counts and resolves LID mappings over ``GET {base}/v2/lids…``.

    Pass ``client`` to substitute the transport (tests use ``httpx.MockTransport``); the
    provider then leaves closing it to the caller. Thread-safe: it keeps no per-request state,
    so the sync engine may fetch pages concurrently.
    """

    def __init__(
        self,
        base_url: str,
        instance_id: str,
        access_token: str,
        *,
        client: httpx.Client | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        allow_insecure_http: bool = False,
    ) -> None:
        instance_id = instance_id.strip()
        access_token = access_token.strip()
        if access_token:
            register_secret(access_token)  # before anything can echo it
        install_log_redaction()
        url = checked_base_url(base_url, allow_insecure_http=allow_insecure_http)
        if not instance_id:
            raise ProviderConfigError("The instance id is missing")
        if not access_token:
            raise ProviderConfigError("The access token is missing")
        if not timeout > 0:
            raise ProviderConfigError("The timeout must be a positive number of seconds")
        self._base = str(url).rstrip("/")
        self._host = url.netloc.decode("ascii")
        self._token = access_token
        self._auth = {"instance_id": instance_id, "access_token": access_token}
        shown_instance = clean_text(redact(instance_id, (access_token,)), 40)
        self.display_name = f"{self._host} · {shown_instance}"
        self._owns_client = client is None
        self._client = client if client is not None else build_client(timeout)

    def __repr__(self) -> str:
        return f"WawpProvider({self.display_name!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool, unless the caller injected (and so owns) the client."""
        if self._owns_client:
            self._client.close()

    def list_page(self, offset: int, limit: int) -> ParsedPage:
        """One page of mappings; an empty page is the end. The page may be shorter than
        ``limit`` without being the last (servers cap the size)."""
        if offset < 0 or limit < 1:
            raise ValueError(f"bad page window: offset={offset}, limit={limit}")
        response = self._get("/v2/lids", {"limit": limit, "offset": offset})
        if response.status_code == 404:
            raise self._not_found(response, "/v2/lids")
        payload = self._payload(response)
        return parse_mapping_page(payload)

    def count(self) -> int | None:
        """The provider's total, or None when this deployment cannot say."""
        response = self._get("/v2/lids/count", {})
        if response.status_code in _NO_COUNT_STATUSES:
            return None
        try:
            payload = self._payload(response)
        except UnusablePayload:
            return None
        return parse_count(payload)

    def resolve_number(self, number: str) -> tuple[str, str | None] | None:
        """Ask the provider for one number's LID: ``(lid_digits, number_digits)``, or None when
        it knows none. Raises :class:`~lid_tui.identity.IdentityError` (a ValueError) when
        ``number`` is not a phone number."""
        digits = number_digits(number)
        response = self._get(f"/v2/lids/pn/{digits}", {})
        if response.status_code == 404:
            return None
        return parse_resolved(self._payload(response), digits)

    def _get(self, path: str, params: dict[str, Any]) -> httpx.Response:
        """Send one GET; every failure below HTTP becomes an :class:`UpstreamFailure`."""
        try:
            return self._client.get(self._base + path, params={**self._auth, **params})
        except httpx.HTTPError as exc:
            # ``from None``: a chained httpx error would print its URL, token included.
            raise error_for_transport(exc, self._host, (self._token,)) from None

    def _payload(self, response: httpx.Response) -> Any:
        """The decoded JSON of a successful answer; error statuses (also those some gateways
        wrap in a 200 body) raise their typed error."""
        if not response.is_success:
            raise error_for_response(response, (self._token,))
        payload = json_body(response)
        embedded = _embedded_error_status(payload)
        if embedded is not None:
            message = provider_message(payload)
            said = clean_text(redact(message, (self._token,))) if message else ""
            raise error_for_status(embedded, said)
        return payload

    def _not_found(self, response: httpx.Response, path: str) -> ProviderError:
        """404 on the list: usually a wrong base URL, worth saying so."""
        said = response_message(response, (self._token,))
        detail = f": {said}" if said else ""
        return ProviderError(
            f"The provider has no {path} endpoint at {self._host} (404){detail}; check the base URL"
        )


def _embedded_error_status(payload: Any) -> int | None:
    """The status of an error body sent with HTTP 200 (``{"status": 401, "message": …}``)."""
    if not isinstance(payload, dict) or any(key in payload for key in ENVELOPE_KEYS):
        return None
    status = payload.get("status", payload.get("statusCode"))
    if type(status) is int and 400 <= status <= 599 and provider_message(payload) is not None:
        return status
    return None
