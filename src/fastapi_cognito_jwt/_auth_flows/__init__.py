"""The user-pool auth flows: an async client for Cognito's API and a mountable router."""

try:
    import email_validator  # noqa: F401 - the sign-up body checks email addresses with it
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the auth flows need the auth-flows extra: pip install 'fastapi-cognito-jwt[auth-flows]'"
    ) from exc
