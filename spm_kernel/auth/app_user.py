"""Who opened this app: the signed-in user as an app kernel learns it (kernel side of
:mod:`spm_kernel.auth.identity`; imports nothing of jupyter_server).

Contracts:

* Without sign-in (``spm app`` on a workspace without active users, :data:`SIGN_IN_ENV`
  unset) there is one person: :func:`signed_in` returns ``None`` and apps use the
  ``SPM_USER`` notebook variable or environment variable of the server, as before.
* Behind sign-in the server starts every kernel with ``SPM_SIGN_IN=1``. Kernels are
  pre-heated: a kernel runs its notebook before anybody asks for it, and the first call of
  :func:`signed_in` in that notebook **waits for the page request** that takes the kernel
  (``voila.utils.wait_for_request``). Voila then hands the kernel the request's details,
  among them the headers :data:`IDENTITY_HEADERS`, which the server's identity provider
  (:class:`spm_kernel.auth.identity.SPMIdentityProvider`) writes itself on every
  authenticated request after removing any the browser sent. A kernel started for one
  request (no pre-heated kernel left) has them in its environment from the start.
* :func:`signed_in` sets the notebook variables ``SPM_USERNAME``, ``SPM_USER`` (the payee id of
  a manager or rep, else the username) and ``SPM_ROLE`` that the apps read, and returns them.
  Without the headers behind sign-in it raises :class:`SPMError`: an app is never shown to
  nobody, and never to a user named by the URL, the query string or a cookie the kernel reads.
"""

from __future__ import annotations

import os
import sys
import urllib.parse
from dataclasses import dataclass

from spm_kernel.errors import SPMError

SIGN_IN_ENV = "SPM_SIGN_IN"
# header -> notebook variable; Voila passes header ``X-SPM-User`` to the kernel as ``HTTP_X_SPM_USER``
IDENTITY_HEADERS = {"X-SPM-Username": "SPM_USERNAME", "X-SPM-User": "SPM_USER", "X-SPM-Role": "SPM_ROLE"}


@dataclass(frozen=True)
class AppUser:
    """The signed-in user of one app page."""

    username: str
    user: str   # payee id of a manager or rep, else the username
    role: str


def header_env(header: str) -> str:
    """The environment variable Voila gives a kernel for request header ``header``."""
    return "HTTP_" + header.upper().replace("-", "_")


def sign_in_required() -> bool:
    return os.environ.get(SIGN_IN_ENV) == "1"


_request_received = False


def preheating() -> bool:
    """True in a pre-heated Voila kernel that no page request has taken yet."""
    return os.environ.get("VOILA_PREHEAT") == "True" and not _request_received


def wait_for_page_request() -> bool:
    """In a pre-heated Voila kernel, block until the page request that takes it arrives (its
    details are then in ``os.environ``); at most once per kernel. Returns whether it waited."""
    global _request_received
    if not preheating():
        return False
    from voila.utils import wait_for_request

    wait_for_request()
    _request_received = True
    return True


def signed_in() -> AppUser | None:
    """The signed-in user of this app page, or ``None`` without sign-in (see the module
    docstring). In a pre-heated kernel the first call blocks until a page request takes it."""
    if not sign_in_required():
        return None
    main = sys.modules.get("__main__")
    known = {var: getattr(main, var, None) for var in IDENTITY_HEADERS.values()}
    if all(known.values()):
        return AppUser(str(known["SPM_USERNAME"]), str(known["SPM_USER"]), str(known["SPM_ROLE"]))
    wait_for_page_request()  # a pre-heated kernel: returns once a page took it
    values = {var: urllib.parse.unquote(os.environ.get(header_env(header), ""))
              for header, var in IDENTITY_HEADERS.items()}
    if not all(values.values()):
        raise SPMError("Sign in to open this app.")
    if main is not None:
        for var, value in values.items():
            setattr(main, var, value)
    return AppUser(values["SPM_USERNAME"], values["SPM_USER"], values["SPM_ROLE"])
