"""FastCognito: an authentication API on Cognito, built on fastapi-cognito-jwt.

Sign-up, verification, sign-in, refresh, password change and sign-out under /api/v1/auth (the
library's `auth_router`), and routes under /api/v1/users that need a valid access token.

Run it against your user pool (uvicorn comes with the dev extra):

    cp examples/fastcognito/.env.example .env   # then fill in your pool's values
    uvicorn --factory examples.fastcognito.main:create_app

`make demo` runs it against moto's Cognito emulator instead (see examples/demo.py).
"""
