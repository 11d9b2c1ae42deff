"""Fuzzing of `CognitoBearer` and `CognitoVerifier`.

`generators` makes the inputs, `oracle` says how each must be answered, and `harness` builds
the app under test, sends the inputs and judges the answers. `tests/security/test_fuzz.py`
runs them under Hypothesis at CI size; `python -m fuzz.run` runs them for 100 000 inputs.
"""
