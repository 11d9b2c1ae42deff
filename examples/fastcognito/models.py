"""The app's sign-up body; the other flows use the library's bodies."""

from typing import Annotated

from annotated_types import MinLen
from pydantic import EmailStr, Field, SecretStr

from fastapi_cognito_jwt import SignUpForm


class UserSignup(SignUpForm):
    """Sign up with an email (the username), a name and a phone number.

    There is no role here on purpose: what a user may do is decided on the server, by the
    Cognito groups an administrator puts them in (see `emulator.add_to_group`), never by what
    they send. Unknown fields, such as `"role"`, are refused with 422.
    """

    full_name: str = Field(max_length=50)
    email: EmailStr
    phone_number: Annotated[str, MinLen(10)]
    password: Annotated[SecretStr, MinLen(8)]

    def cognito_username(self) -> str:
        return self.email

    def cognito_password(self) -> str:
        return self.password.get_secret_value()

    def cognito_attributes(self) -> dict[str, str]:
        return {"name": self.full_name, "phone_number": self.phone_number}
