"""FastCognito: seed 000's authentication API, rebuilt on fastapi-cognito-jwt.

Run it against your user pool (uvicorn comes with the dev extra):

    cp examples/fastcognito/.env.example .env   # then fill in your pool's values
    uvicorn --factory examples.fastcognito.main:create_app

`make demo` runs it against moto's Cognito emulator instead (see examples/fastcognito/demo.py).
"""
