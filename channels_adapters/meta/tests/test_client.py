"""client.py's own promises: the SDK's import warning is silenced narrowly; usage headers."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import facebook

from channels_adapters.meta import client


def test_only_the_sdks_invalid_escape_warning_is_silenced():
    sdk_source = Path(facebook.__file__).read_text()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client.silence_sdk_import_warning()  # what importing client.py installs
        compile(sdk_source, facebook.__file__, "exec")  # as Python does on a fresh install
        compile('pattern = "^\\d+$"\n', "/srv/elsewhere/module.py", "exec")
        warnings.warn("something else is deprecated", DeprecationWarning, stacklevel=1)

    found = [(str(w.message), Path(w.filename).name) for w in caught]
    assert ("invalid escape sequence '\\d'", "module.py") in found  # the same warning elsewhere stays
    assert ("something else is deprecated", "test_client.py") in found
    assert not any(name == "__init__.py" for _, name in found)


def test_graph_version_is_pinned_after_construction(settings):
    settings.META_GRAPH_VERSION = "v26.0"

    graph_client = client.MetaClient("token")

    assert graph_client.graph.version == "v26.0"  # the SDK itself only accepts up to 3.1


def test_business_use_case_usage_header_is_read():
    now = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    headers = {
        "X-Business-Use-Case-Usage": json.dumps({"104857301234567": [
            {"type": "pages", "call_count": 12, "total_cputime": 88, "total_time": 40, "estimated_time_to_regain_access": 0},
            {"type": "messenger", "call_count": 3, "total_cputime": 1, "total_time": 2, "estimated_time_to_regain_access": 7},
        ]}),
        "X-App-Usage": json.dumps({"call_count": 5, "total_time": 9, "total_cputime": 4}),
    }

    found = client.usage_from_headers(headers, now=now)

    assert found["104857301234567"] == client.Usage(88, now + timedelta(minutes=7))
    assert found["app"] == client.Usage(9, None)
    assert client.usage_from_headers({"X-Business-Use-Case-Usage": "not json"}, now=now) == {}


def test_a_write_cut_off_mid_request_is_uncertain_but_a_failed_connect_is_not(settings):
    """A dropped connection may come after Meta acted: never resend blindly; no connection: retry."""
    import pytest
    import requests
    import responses
    import urllib3

    from channels_adapters.base import AdapterError

    settings.META_GRAPH_VERSION = "v26.0"
    url = "https://graph.facebook.com/v26.0/123_456/comments"
    dropped = requests.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError()))
    refused = requests.ConnectionError(urllib3.exceptions.MaxRetryError(
        None, url, urllib3.exceptions.NewConnectionError(None, "Connection refused")))
    for error, uncertain in ((dropped, True), (refused, False)):
        with responses.RequestsMock() as graph:
            graph.post(url, body=error)
            with pytest.raises(AdapterError) as caught:
                client.MetaClient("page-token").comment_reply("123_456", "Hola", instagram=False)
        assert caught.value.uncertain is uncertain
        assert "page-token" not in str(caught.value)
