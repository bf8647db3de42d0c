"""Google Cloud API requests (the SDK's proto-plus messages) as the JSON that goes over the wire."""

import json
from typing import Any, Dict


def request_json(request) -> Dict[str, Any]:
    """A request as JSON with camelCase field names and enums by name, as ``--dry-run`` prints it."""
    return json.loads(type(request).to_json(request, use_integers_for_enums=False))
