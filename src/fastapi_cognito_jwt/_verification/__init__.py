"""Token verification: parse, pick the key, check the signature and the claims, then HTTP."""
