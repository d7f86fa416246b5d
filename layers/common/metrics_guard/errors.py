"""metrics-guard's own error hierarchy. Adapters map SDK errors onto these (by status / error code,
never by message text) and chain the original with ``raise ... from exc``."""

from __future__ import annotations


class MetricsGuardError(Exception):
    """Base of every error metrics-guard raises on purpose. ``str()`` is a one-line, secret-free message."""


class ConfigError(MetricsGuardError):
    """Bad configuration: settings, a kubeconfig, the cluster registry, command-line flags."""


class InputError(MetricsGuardError):
    """A malformed event, document or PEM block handed to us."""


class KubeAccessError(MetricsGuardError):
    """Talking to a kube-apiserver failed below the HTTP status level."""


class KubeConnectError(KubeAccessError):
    """The TCP connection could not be made (refused, unreachable, connect timeout)."""


class KubeTimeoutError(KubeAccessError):
    """Connected, but the response did not arrive within the read timeout or the overall deadline."""


class KubeTLSError(KubeAccessError):
    """The TLS handshake failed (untrusted or mismatching server certificate, bad client certificate)."""


class ResponseTooLargeError(KubeAccessError):
    """The body exceeded the configured size cap; reading stopped there."""


class DecodeError(MetricsGuardError):
    """A response body is not what its decoder expects (HTML, truncated JSON, wrong kind)."""


class CredentialsError(MetricsGuardError):
    """Credentials could not be loaded or produced (exec plugin failed, secret unreadable, STS refused)."""


class AwsError(MetricsGuardError):
    """An AWS call failed; ``code`` is the service's error code when there is one."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class RemediationRefused(MetricsGuardError):  # noqa: N818 - a verdict, not a crash
    """The responder will not act; the message says why. Nothing was touched."""


class CommandFailed(MetricsGuardError):  # noqa: N818 - reads as a verdict: "the command failed"
    """A node command ended in a state other than Success."""
