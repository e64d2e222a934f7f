"""HTTP plumbing both apps share and no domain rule lives in: security headers, the
request guard and the unlinkable access log. Imports Flask; never imports an app."""
