"""Sign-in: two-factor authentication (TOTP and recovery codes, django-otp), idle sessions,
the sign-in and sign-out pages, API tokens created in a verified session, and the site's
security settings. Its own app (label ``security``) so that its migrations stand apart."""
