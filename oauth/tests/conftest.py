from oauth.testing import browser_for, oauth_app, public_app, token_for  # noqa: F401 - fixtures
