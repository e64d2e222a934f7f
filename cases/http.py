"""HTTP response headers both apps send on every response (no Flask import: plain data).

The policy is strict by default: nothing loads from elsewhere, no inline script or style, no
framing, no referrer, nothing cached, because a cached page or script is a trace on a shared or
seized device.
"""

from __future__ import annotations

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Cache-Control": "no-store, max-age=0",
    "Pragma": "no-cache",
}


def apply(headers) -> None:  # type: ignore[no-untyped-def]
    """Set every security header on a response's header map (werkzeug Headers or a dict).

    A Content-Security-Policy the view set itself is kept: the only view that does so is the
    caseworker's file download, whose sandbox policy is stricter than the pages' policy.
    """
    for name, value in SECURITY_HEADERS.items():
        if name == "Content-Security-Policy" and name in headers:
            continue
        headers[name] = value
