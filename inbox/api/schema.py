"""The OpenAPI schema's answers that every endpoint can give, documented once.

drf-spectacular documents what a view declares (200, 201 and the codes an ``extend_schema``
names); the refusals DRF itself produces are the same everywhere and were missing, so a client
generated from the schema (and schemathesis, tests/test_schemathesis.py) met undocumented
401, 403, 404, 400 and 429 answers. This AutoSchema adds them where they can happen, without
touching what a view documented itself:

- 401 and 403 on every operation that needs a signed-in user (authentication, permissions,
  another role's endpoint);
- 404 on an operation with a path parameter (another team's object is a 404, never a 403) or
  a cursor (DRF answers an invalid cursor with 404);
- 400 on an operation that takes a body or query parameters (validation);
- 429 everywhere: the API is throttled per user (API_THROTTLE_RATE).
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse

VALIDATION_ERROR = {
    "type": "object",
    "additionalProperties": {},
    "description": "Field name → list of messages; 'detail' or 'non_field_errors' for the request as a whole.",
}


class AutoSchema(SpectacularAutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return operation
        from inbox.api.serializers import DetailSerializer

        responses = operation.setdefault("responses", {})
        parameters = operation.get("parameters", [])
        signed_in = {} not in operation.get("security", [{}])
        refusals = {}
        if any(p["in"] in ("query",) for p in parameters) or "requestBody" in operation:
            refusals["400"] = (VALIDATION_ERROR, "Invalid input.")
        if signed_in:
            refusals["401"] = (DetailSerializer, "Not signed in: no or an invalid token or session.")
            refusals["403"] = (DetailSerializer, "Your role may not do this.")
        if any(p["in"] == "path" or p["name"] == "cursor" for p in parameters):
            refusals["404"] = (DetailSerializer, "No such object, or not one of your teams'; or an invalid cursor.")
        refusals["429"] = (DetailSerializer, "Too many requests: try again after the seconds in Retry-After.")
        for code, (schema, description) in refusals.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(schema, description=description), code,
                )
        return operation
