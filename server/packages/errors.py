"""The packages domain's errors (mapped to the API's error envelope in one place)."""

from __future__ import annotations

from server.errors import Conflict, NotFound


class PackageNotFound(NotFound):
    code = "package_not_found"
    message = "No such package (or it is no longer offered)."


class PurchaseNotFound(NotFound):
    code = "purchase_not_found"
    message = "No such package purchase."


class NoCredit(Conflict):
    code = "no_credit"
    message = "You have no unexpired credit with this tutor for a lesson of this length."


class OwnPackage(Conflict):
    code = "own_package"
    message = "You cannot buy your own package."


class TestProviderDisabled(NotFound):
    code = "test_provider_disabled"
    message = "The test payment provider is not enabled here."
