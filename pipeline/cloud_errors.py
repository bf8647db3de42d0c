"""Google Cloud failures as one line that says what to do, for every command that touches GCS or Vertex AI.

Each kind is recognised on the error or on any error behind it (``__cause__``/``__context__``):

* no credentials (``google.auth.exceptions.DefaultCredentialsError``);
* a disabled API: 403 with reason ``SERVICE_DISABLED``, "<API> has not been used in project ... or
  it is disabled" (Google's standard ErrorInfo for a disabled service);
* permission denied (403): also what a project you cannot see answers, whether or not it exists
  (AIP-211, "Authorization checks");
* not found (404): a bucket, object, project, location or model;
* any other storage failure that names a gs:// object.
"""

from __future__ import annotations

import re
from typing import List, Optional

CREDENTIALS = (
    "no Google Cloud credentials found: run `gcloud auth application-default login` "
    "(or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file), then retry"
)


def require_credentials() -> None:
    """Raises google.auth's DefaultCredentialsError (one line, via ``one_line``) when no credentials are found."""
    import google.auth

    google.auth.default()


def _chain(error: BaseException) -> List[BaseException]:
    chain: List[BaseException] = []
    cause: Optional[BaseException] = error
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    return chain


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _status(error: BaseException) -> Optional[int]:
    """403 or 404 for Google API errors (HTTP and gRPC alike) and TensorFlow's file-system errors."""
    code = getattr(error, "code", None)
    if isinstance(code, int) and not callable(code):
        return code
    return {"PermissionDeniedError": 403, "NotFoundError": 404}.get(type(error).__name__)


def one_line(error: BaseException) -> Optional[str]:
    """The one line for a cloud failure behind ``error``; None when it is none of these."""
    from google.auth import exceptions as auth_exceptions

    chain = _chain(error)
    unauthenticated = ("UnauthenticatedError", "Unauthenticated")  # TensorFlow's and google-api-core's 401
    if any(
        isinstance(link, auth_exceptions.DefaultCredentialsError) or type(link).__name__ in unauthenticated
        for link in chain
    ):
        return CREDENTIALS
    # A line that names the gs:// object, when there is one, says where better than the API's own first line.
    named = next((line.strip() for link in chain for line in str(link).splitlines() if "gs://" in line), None)
    prefix = "storage: " if named else ""
    for link in chain:
        status, text = _status(link), str(link)
        disabled = re.search(r"([a-z0-9-]+\.googleapis\.com)", text)
        if status == 403 and disabled and ("SERVICE_DISABLED" in text or "it is disabled" in text):
            api = disabled.group(1)
            return (
                f"the {api} API is disabled in this project: enable it with `gcloud services enable {api}` "
                f"(or `terraform -chdir=infra apply`), then retry"
            )
        if status == 403:
            return (
                f"{prefix}permission denied: {named or _first_line(link)}: check the project in the config, or give "
                "this account the roles infra/ grants its submitters (terraform variable submitters)"
            )
        if status == 404:
            return (
                f"{prefix}not found: {named or _first_line(link)}: check the project, region, bucket and model "
                "names in the config"
            )
    if named:
        return f"storage: {named}"
    from google.api_core.exceptions import GoogleAPICallError

    api_error = next((link for link in chain if isinstance(link, GoogleAPICallError)), None)
    return None if api_error is None else f"Google Cloud: {_first_line(api_error)}"
