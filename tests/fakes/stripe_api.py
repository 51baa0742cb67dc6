"""A local server speaking the slice of Stripe's HTTP API we use, recording every request.

The real ``stripe`` library talks to it (``STRIPE_API_BASE`` points here). It checks the
secret key, honours ``Idempotency-Key`` like Stripe does (same key → same object), and can be
told to fail the next N calls of a path (``fail_next``, from :class:`FakeServer`).

Connect: Express accounts, account links, destination charges (``transfer_data``,
``application_fee_amount``), transfers and their reversals, refunds with
``reverse_transfer`` / ``refund_application_fee``, and automatic payouts of a connected
balance. It keeps the balances money moves between (``balances["platform"]``,
``balances[<acct_id>]``, per currency) so tests can hold the ledger to "Stripe's records" to
the cent. A refund's application-fee part is the fee in proportion rounded up, as the ledger
books it.

Each connected account has its balance transactions (``balance_transactions[<acct_id>]``), as
Stripe keeps them: a share arriving (by a Transfer or a destination charge's automatic one) is
a ``payment`` whose source is the account's side of the Transfer (``py_``, naming the Transfer
in ``source_transfer``); a reversal a ``payment_refund``; a payout a ``payout`` and its return a
``payout_failure``. :meth:`FakeStripe.pay_out` pays out every transaction not yet paid out, as
an automatic payout does, and ``GET /v1/balance_transactions?payout=`` (with the
``Stripe-Account`` header; ``expand`` honoured for ``data.source`` and its ``source_transfer``)
lists them ``page_size`` at a time.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeServer, Recorded

SECRET_KEY = "sk_test_fake"


def _nest(flat: dict[str, str]) -> dict[str, Any]:
    """``metadata[booking_id]=x`` → ``{"metadata": {"booking_id": "x"}}``."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def _error(status: int, message: str, code: str | None = None, kind: str = "invalid_request_error") -> web.Response:
    return web.json_response({"error": {"type": kind, "message": message, **({"code": code} if code else {})}},
                             status=status)


@dataclass
class FakeStripe(FakeServer):
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    links: list[dict[str, Any]] = field(default_factory=list)
    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    reversals: dict[str, dict[str, Any]] = field(default_factory=dict)
    payouts: dict[str, dict[str, Any]] = field(default_factory=dict)
    balances: dict[str, dict[str, int]] = field(default_factory=dict)
    balance_transactions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    account_objects: dict[str, dict[str, Any]] = field(default_factory=dict)  # py_/pyr_ on connected accounts
    page_size: int | None = None  # cap on a list page (to exercise pagination)
    _by_key: dict[str, dict[str, Any]] = field(default_factory=dict)

    def fail_next(self, path_prefix: str, status: int, times: int = 1, *, method: str | None = None,
                  body: Any = None) -> None:
        """Like :meth:`FakeServer.fail_next`, with Stripe's error shape by default."""
        kind = "invalid_request_error" if 400 <= status < 500 else "api_error"
        super().fail_next(path_prefix, status, times, method=method,
                          body=body or {"error": {"type": kind, "message": f"injected {status}"}})

    def _move(self, holder: str, currency: str, amount: int) -> None:
        wallet = self.balances.setdefault(holder, {})
        wallet[currency.upper()] = wallet.get(currency.upper(), 0) + amount

    def balance(self, holder: str, currency: str = "USD") -> int:
        return self.balances.get(holder, {}).get(currency.upper(), 0)

    def _txn(self, account_id: str, kind: str, amount: int, currency: str, source: str) -> dict[str, Any]:
        txn = {"id": "txn_" + secrets.token_hex(8), "object": "balance_transaction", "type": kind, "amount": amount,
               "net": amount, "fee": 0, "currency": currency.lower(), "source": source, "payout": None,
               "status": "available"}
        self.balance_transactions.setdefault(account_id, []).append(txn)
        return txn

    def _transfer_in(self, transfer: dict[str, Any]) -> None:
        """The connected account's side of a Transfer: a ``py_`` payment and its transaction."""
        payment = {"id": "py_" + secrets.token_hex(8), "object": "charge", "amount": transfer["amount"],
                   "currency": transfer["currency"], "source_transfer": transfer["id"]}
        self.account_objects[payment["id"]] = payment
        transfer["destination_payment"] = payment["id"]
        self._txn(transfer["destination"], "payment", transfer["amount"], transfer["currency"], payment["id"])

    def _transfer_back(self, transfer: dict[str, Any], amount: int) -> None:
        """Part of a Transfer taken back from the account: a ``payment_refund`` of its ``py_``."""
        refund = {"id": "pyr_" + secrets.token_hex(8), "object": "refund", "amount": amount,
                  "charge": transfer.get("destination_payment")}
        self.account_objects[refund["id"]] = refund
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        self._txn(transfer["destination"], "payment_refund", -amount, transfer["currency"], refund["id"])

    def succeed(self, intent_id: str) -> dict[str, Any]:
        """The student paid: the money lands (a destination charge's share on the connected
        account, by the automatic Transfer Stripe makes, grouped like the PaymentIntent)."""
        intent = self.intents[intent_id]
        if intent["status"] != "succeeded":
            intent["status"], intent["amount_received"] = "succeeded", intent["amount"]
            self._move("platform", intent["currency"], intent["amount"])
            if destination := (intent.get("transfer_data") or {}).get("destination"):
                share = intent["amount"] - int(intent.get("application_fee_amount") or 0)
                self._move("platform", intent["currency"], -share)
                self._move(destination, intent["currency"], share)
                transfer = {"id": "tr_" + secrets.token_hex(8), "object": "transfer", "amount": share,
                            "currency": intent["currency"], "destination": destination,
                            "transfer_group": intent.get("transfer_group"), "metadata": {},
                            "source_transaction": "ch_" + intent_id[3:], "amount_reversed": 0, "reversed": False}
                self.transfers[transfer["id"]] = transfer
                intent["destination_transfer"] = transfer["id"]
                self._transfer_in(transfer)
        return intent

    def update_account(self, account_id: str, **fields: Any) -> dict[str, Any]:
        """Stripe changed the account (onboarding finished, requirements due...)."""
        account = self.accounts[account_id]
        account.update(fields)
        return account

    def pay_out(self, account_id: str, amount: int | None = None, currency: str = "usd") -> dict[str, Any]:
        """Stripe's automatic payout: every balance transaction of the account in ``currency`` not
        yet paid out goes to the tutor's bank in one payout (``amount``, if given, must be their sum)."""
        pending = [t for t in self.balance_transactions.get(account_id, [])
                   if t["payout"] is None and t["currency"] == currency.lower() and t["type"] != "payout"]
        total = sum(t["net"] for t in pending)
        assert amount is None or amount == total, f"an automatic payout of {account_id} carries {total}, not {amount}"
        assert total > 0, f"nothing to pay out from {account_id}"
        pid = "po_" + secrets.token_hex(8)
        payout = {"id": pid, "object": "payout", "amount": total, "currency": currency.lower(), "status": "paid",
                  "automatic": True, "reconciliation_status": "completed", "destination_account": account_id}
        self.payouts[pid] = payout
        for txn in pending:
            txn["payout"] = pid
        own = self._txn(account_id, "payout", -total, currency, pid)
        own["payout"] = pid
        self._move(account_id, currency, -total)
        return payout

    def fail_payout(self, payout_id: str) -> dict[str, Any]:
        """The bank sent a payout back: the money is on the account again (a ``payout_failure``)."""
        payout = self.payouts[payout_id]
        payout["status"] = "failed"
        self._move(payout["destination_account"], payout["currency"], payout["amount"])
        self._txn(payout["destination_account"], "payout_failure", payout["amount"], payout["currency"], payout_id)
        return payout

    def routes(self, app: web.Application) -> None:
        # Stripe's hosted onboarding, as a browser sees it (no API key): one button that
        # finishes onboarding and sends the tutor back to the link's return_url.
        app.router.add_get("/connect/onboarding/{account}", self._onboarding_page)
        app.router.add_get("/connect/onboarding/{account}/submit", self._onboarding_submit)
        app.router.add_route("*", "/{tail:.*}", self._handle)

    def _link_for(self, account_id: str) -> dict[str, Any] | None:
        return next((link for link in reversed(self.links) if link["account"] == account_id), None)

    async def _onboarding_page(self, request: web.Request) -> web.Response:
        account_id = request.match_info["account"]
        if account_id not in self.accounts or self._link_for(account_id) is None:
            return web.Response(status=404, text="This onboarding link is not valid.")
        return web.Response(content_type="text/html", text=(
            "<!doctype html><title>Stripe Express (fake)</title><h1>Set up payouts</h1>"
            f'<a id="submit" href="/connect/onboarding/{account_id}/submit">Agree and submit</a>'))

    async def _onboarding_submit(self, request: web.Request) -> web.Response:
        account_id = request.match_info["account"]
        link = self._link_for(account_id)
        if account_id not in self.accounts or link is None:
            return web.Response(status=404, text="This onboarding link is not valid.")
        self.update_account(account_id, details_submitted=True, charges_enabled=True, payouts_enabled=True)
        raise web.HTTPFound(link["return_url"])

    def params(self, recorded: Recorded) -> dict[str, str]:
        return recorded.form() if recorded.body else recorded.query

    async def _handle(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization", "") != f"Bearer {SECRET_KEY}":
            return _error(401, "Invalid API key provided")
        key = request.headers.get("Idempotency-Key")
        if key and key in self._by_key:
            return web.json_response(self._by_key[key])
        body = await request.text()
        if request.path.startswith(("/v1/balance_transactions", "/v1/payouts")):
            return self._connected_read(request)
        result = self._route(request.method, request.path, _nest(self.params(self.requests[-1])) if body else {})
        if isinstance(result, web.Response):
            return result
        if key:
            self._by_key[key] = result
        return web.json_response(result)

    def _connected_read(self, request: web.Request) -> web.Response:
        """A connected account's payouts and balance transactions (``Stripe-Account`` header)."""
        account_id = request.headers.get("Stripe-Account", "")
        if account_id not in self.accounts:
            return _error(400 if not account_id else 403, "No such connected account (Stripe-Account header)")
        parts = request.path.strip("/").split("/")
        if request.method == "GET" and parts[:2] == ["v1", "payouts"] and len(parts) == 3:
            payout = self.payouts.get(parts[2])
            if payout is None or payout.get("destination_account") != account_id:
                return _error(404, f"No such payout: '{parts[2]}'", "resource_missing")
            return web.json_response(payout)
        if request.method != "GET" or parts != ["v1", "balance_transactions"]:
            return _error(404, f"no route {request.path}")
        query = request.query
        expand = set(query.getall("expand[]", [])) | {v for k, v in query.items() if k.startswith("expand[")}
        txns = list(reversed(self.balance_transactions.get(account_id, [])))  # newest first, as Stripe lists
        if "payout" in query:
            if query["payout"] not in self.payouts:
                return _error(404, f"No such payout: '{query['payout']}'", "resource_missing")
            txns = [t for t in txns if t["payout"] == query["payout"]]
        if after := query.get("starting_after"):
            ids = [t["id"] for t in txns]
            txns = txns[ids.index(after) + 1:] if after in ids else []
        limit = min(int(query.get("limit", 10)), self.page_size or 100)
        page = [self._expanded(t, expand) for t in txns[:limit]]
        return web.json_response({"object": "list", "url": "/v1/balance_transactions", "data": page,
                                  "has_more": len(txns) > limit})

    def _expanded(self, txn: dict[str, Any], expand: set[str]) -> dict[str, Any]:
        out = dict(txn)
        if not expand & {"data.source", "data.source.source_transfer"}:
            return out
        source = self.account_objects.get(txn["source"]) or self.payouts.get(txn["source"])
        if source is not None:
            source = dict(source)
            if "data.source.source_transfer" in expand and source.get("source_transfer") in self.transfers:
                source["source_transfer"] = self.transfers[source["source_transfer"]]
            out["source"] = source
        return out

    def _route(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any] | web.Response:
        parts = path.strip("/").split("/")
        if method == "POST" and parts == ["v1", "payment_intents"]:
            pid = "pi_" + secrets.token_hex(8)
            intent = {"id": pid, "object": "payment_intent", "amount": int(params["amount"]),
                      "currency": params["currency"], "metadata": params.get("metadata", {}),
                      "client_secret": f"{pid}_secret_{secrets.token_hex(6)}", "status": "requires_payment_method"}
            if "transfer_group" in params:
                intent["transfer_group"] = params["transfer_group"]
            if "transfer_data" in params:
                destination = params["transfer_data"].get("destination")
                if destination not in self.accounts:
                    return _error(400, f"No such destination: '{destination}'", "resource_missing")
                intent["transfer_data"] = {"destination": destination}
                intent["application_fee_amount"] = int(params.get("application_fee_amount") or 0)
            self.intents[pid] = intent
            return intent
        connect = self._connect(method, parts, params)
        if connect is not None:
            return connect
        if len(parts) >= 3 and parts[:2] == ["v1", "payment_intents"] and parts[2] in self.intents:
            intent = self.intents[parts[2]]
            if method == "GET" and len(parts) == 3:
                return intent
            if method == "POST" and parts[3:] == ["cancel"]:
                if intent["status"] == "succeeded":
                    return _error(400, "already succeeded", "payment_intent_unexpected_state")
                intent["status"] = "canceled"
                return intent
        if method == "POST" and parts == ["v1", "refunds"]:
            rid = "re_" + secrets.token_hex(8)
            amount = int(params["amount"])
            refund = {"id": rid, "object": "refund", "amount": amount,
                      "payment_intent": params["payment_intent"], "status": "succeeded",
                      "metadata": params.get("metadata", {})}
            intent = self.intents.get(params["payment_intent"])
            if intent is not None and intent["status"] == "succeeded":
                refunded = sum(r["amount"] for r in self.refunds.values()
                               if r["payment_intent"] == intent["id"])
                if refunded + amount > intent["amount"]:
                    return _error(400, "Refund exceeds the charge", "charge_already_refunded")
                self._move("platform", intent["currency"], -amount)
                destination = (intent.get("transfer_data") or {}).get("destination")
                if destination and params.get("reverse_transfer") == "true":
                    # Stripe reverses the destination transfer (the whole amount) in proportion...
                    self._move(destination, intent["currency"], -amount)
                    self._move("platform", intent["currency"], amount)
                    refund["transfer_reversal"] = amount
                    fee_back = 0
                    if params.get("refund_application_fee") == "true":
                        # ... and gives the application fee back to the account in proportion.
                        fee = int(intent.get("application_fee_amount") or 0)
                        fee_back = -(-fee * amount // intent["amount"])
                        self._move("platform", intent["currency"], -fee_back)
                        self._move(destination, intent["currency"], fee_back)
                        refund["application_fee_refund"] = fee_back
                    if intent.get("destination_transfer") in self.transfers:  # the account's net loss
                        self._transfer_back(self.transfers[intent["destination_transfer"]], amount - fee_back)
            self.refunds[rid] = refund
            return refund
        return _error(404, f"no route {path}")

    def _connect(self, method: str, parts: list[str], params: dict[str, Any]) -> dict[str, Any] | web.Response | None:
        if method == "POST" and parts == ["v1", "accounts"]:
            if params.get("type") != "express":
                return _error(400, "only express accounts in this fake")
            aid = "acct_" + secrets.token_hex(8)
            account = {"id": aid, "object": "account", "type": "express", "email": params.get("email"),
                       "metadata": params.get("metadata", {}), "charges_enabled": False, "payouts_enabled": False,
                       "details_submitted": False, "requirements": {"disabled_reason": None, "past_due": []},
                       "default_currency": params.get("default_currency", "usd")}
            self.accounts[aid] = account
            return account
        if method == "GET" and parts[:2] == ["v1", "accounts"] and len(parts) == 3:
            return self.accounts.get(parts[2]) or _error(404, "No such account", "resource_missing")
        if method == "POST" and parts == ["v1", "account_links"]:
            if params.get("account") not in self.accounts:
                return _error(400, "No such account", "resource_missing")
            link = {"object": "account_link", "url": f"{self.url}/connect/onboarding/{params['account']}"
                                                     f"?n={len(self.links)}",
                    "expires_at": 0, "created": 0, "account": params["account"],
                    "return_url": params.get("return_url"), "refresh_url": params.get("refresh_url")}
            self.links.append(link)
            return link
        if method == "POST" and parts == ["v1", "transfers"]:
            destination = params.get("destination", "")
            account = self.accounts.get(destination)
            if account is None:
                return _error(400, "No such destination", "resource_missing")
            if not account.get("payouts_enabled") and not account.get("charges_enabled"):
                return _error(400, "The destination account cannot receive transfers", "account_invalid")
            amount, currency = int(params["amount"]), params["currency"]
            if self.balance("platform", currency) < amount:
                return _error(400, "Insufficient funds in the platform balance", "balance_insufficient")
            tid = "tr_" + secrets.token_hex(8)
            transfer = {"id": tid, "object": "transfer", "amount": amount, "currency": currency,
                        "destination": destination, "transfer_group": params.get("transfer_group"),
                        "metadata": params.get("metadata", {}), "amount_reversed": 0, "reversed": False}
            self._move("platform", currency, -amount)
            self._move(destination, currency, amount)
            self.transfers[tid] = transfer
            self._transfer_in(transfer)
            return transfer
        if parts[:2] == ["v1", "transfers"] and len(parts) >= 3:
            transfer = self.transfers.get(parts[2])
            if transfer is None:
                return _error(404, "No such transfer", "resource_missing")
            if method == "GET" and len(parts) == 3:
                return transfer
            if method == "POST" and parts[3:] == ["reversals"]:
                amount = int(params.get("amount") or transfer["amount"] - transfer["amount_reversed"])
                if transfer["amount_reversed"] + amount > transfer["amount"]:
                    return _error(400, "Reversal exceeds the transfer", "transfer_reversal_too_large")
                rid = "trr_" + secrets.token_hex(8)
                reversal = {"id": rid, "object": "transfer_reversal", "amount": amount, "currency": transfer["currency"],
                            "transfer": transfer["id"], "metadata": params.get("metadata", {})}
                self._transfer_back(transfer, amount)
                self._move(transfer["destination"], transfer["currency"], -amount)
                self._move("platform", transfer["currency"], amount)
                self.reversals[rid] = reversal
                return reversal
        return None
