"""Security headers on every response: pages, files, errors and the API.

The Content-Security-Policy allows scripts and styles from the app's own origin only, so the templates hold no inline
script, event handler or style (a test checks them all); the vendor libraries are served locally. No page may be
framed (clickjacking), no response may be sniffed as another type, and no address leaves the site in a Referer.

Why an `after_request` rather than flask-talisman: the policy is one fixed string (no per-view policies, no nonces, no
HTTPS redirect, which the reverse proxy does), talisman is only loosely maintained, and ten lines are easier to audit
than its options; the test walks every GET route as every role and checks the headers.
"""

from __future__ import annotations

from flask import Flask

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # Bootstrap draws its form controls with data: SVG images
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that do not read the policy
}


def register(app: Flask) -> None:
    headers = dict(HEADERS)
    if app.config.get("HSTS_SECONDS"):
        # Production only: browsers then refuse plain http for the site, which a developer's machine serves.
        headers["Strict-Transport-Security"] = f"max-age={int(app.config['HSTS_SECONDS'])}"

    @app.after_request
    def _security_headers(response):
        response.headers.update(headers)
        return response
