"""A scripted platform for testing the delivery state machine (retries, outages, doubts).

It stands in for the network, not for our code: outbound.message_deliver, the claims and
the sweeps run for real against it. Platform adapters test their own HTTP errors through
the real SDKs in their packages.
"""

from __future__ import annotations

from channels_adapters.base import AdapterError, DeliveryResult
from channels_adapters.simulator.adapter import SimulatorAdapter


class ScriptedPlatform(SimulatorAdapter):
    platform = "scripted"
    label = "Scripted"
    webhook_slug = "scripted"

    script: list = []  # exceptions to raise, in order; then success
    sent: list = []  # what the "platform" received, by message uuid
    confirmable: bool = False

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

    def confirm_delivery(self, account, conversation, message):
        if self.confirmable and str(message.uuid) in self.sent:
            return DeliveryResult(external_id=f"scripted-{message.uuid}")
        return None


def transient(msg="503 Service Unavailable", **kw):
    return AdapterError(msg, **kw)


def permanent(msg="403 You are not allowed to reply to this post", code="403"):
    return AdapterError(msg, permanent=True, code=code)
