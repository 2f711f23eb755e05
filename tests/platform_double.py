"""A scripted platform for testing the delivery state machine (retries, outages, doubts).

It stands in for the network, not for our code: outbound.message_deliver, the claims and
the sweeps run for real against it. Platform adapters test their own HTTP errors through
the real SDKs in their packages.
"""

from __future__ import annotations

from channels_adapters.base import AdapterError, DeliveryResult
from channels_adapters.confirmation import Confirmation
from channels_adapters.simulator.adapter import SimulatorAdapter


class ScriptedPlatform(SimulatorAdapter):
    platform = "scripted"
    label = "Scripted"
    webhook_slug = "scripted"

    script: list = []  # exceptions to raise, in order; then success
    sent: list = []  # what the "platform" received, by message uuid
    confirmable: bool = False  # the platform can be searched: it says found or absent
    search_error: AdapterError | None = None  # what a search raises instead
    windows: list = []  # the DeliveryWindow of every search

    def send(self, account, conversation, message):
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, tuple):  # (exception, delivered anyway?)
                step, delivered = step
                if delivered:
                    self.sent.append(str(message.uuid))
            raise step
        self.sent.append(str(message.uuid))
        return DeliveryResult(external_id=f"scripted-{message.uuid}")

    def confirm_delivery(self, account, conversation, message, window):
        self.windows.append(window)
        if self.search_error is not None:
            raise self.search_error
        if not self.confirmable:
            return Confirmation.unknown("the scripted platform cannot be searched")
        if str(message.uuid) in self.sent:
            return Confirmation.delivered(f"scripted-{message.uuid}")
        return Confirmation.absent("the whole window was read")


def transient(msg="503 Service Unavailable", **kw):
    return AdapterError(msg, **kw)


def permanent(msg="403 You are not allowed to reply to this post", code="403"):
    return AdapterError(msg, permanent=True, code=code)
