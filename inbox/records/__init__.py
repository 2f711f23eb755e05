"""The public record (docs/public-record.md): the audit trail's search and CSV, freedom-of-
information and data-subject exports, legal holds, retention and the rights of data subjects.

- ``audit_trail``: who may read which part of the trail, its search (keyset pages) and CSV;
- ``exports``: an export asked for, built in the background into a ZIP with a manifest,
  downloaded by its requester only, expired;
- ``holds``: legal holds on a conversation or a Person;
- ``scrub``: stable tokens for personal data (names, handles, what the personal-data detector
  finds), in texts and in raw payloads;
- ``retention``: policies per channel account, the resumable nightly run, and a Person's
  pseudonymisation or erasure.
"""
