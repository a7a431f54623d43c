"""Stripe event envelopes ``{id, type, created, data: {object}}`` for the types hookstack models."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from handlers.providers.models.base import ProviderModel
from handlers.stores.projections import Projection


class PaymentIntent(ProviderModel):
    id: str = Field(pattern=r"^pi_")
    object: Literal["payment_intent"]
    amount: int = Field(ge=0)
    amount_received: int = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)
    status: str
    customer: str | None = None
    created: int


class Invoice(ProviderModel):
    id: str = Field(pattern=r"^in_")
    object: Literal["invoice"]
    customer: str
    amount_paid: int = Field(ge=0)
    amount_due: int = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)
    status: str
    subscription: str | None = None


class PaymentIntentData(ProviderModel):
    object: PaymentIntent


class InvoiceData(ProviderModel):
    object: Invoice


class StripeEvent(ProviderModel):
    id: str = Field(pattern=r"^evt_")
    created: int
    livemode: bool = False
    account: str | None = None


class PaymentIntentSucceeded(StripeEvent):
    type: Literal["payment_intent.succeeded"]
    data: PaymentIntentData

    def projection(self) -> Projection:
        intent = self.data.object
        return Projection(
            "payment_intent",
            intent.id,
            {
                "status": intent.status,
                "amount": intent.amount,
                "amount_received": intent.amount_received,
                "currency": intent.currency,
                "customer": intent.customer,
                "stripe_event": self.id,
                "account": self.account,
            },
        )


class InvoicePaid(StripeEvent):
    type: Literal["invoice.paid"]
    data: InvoiceData

    def projection(self) -> Projection:
        invoice = self.data.object
        return Projection(
            "invoice",
            invoice.id,
            {
                "status": invoice.status,
                "amount_paid": invoice.amount_paid,
                "amount_due": invoice.amount_due,
                "currency": invoice.currency,
                "customer": invoice.customer,
                "subscription": invoice.subscription,
                "stripe_event": self.id,
                "account": self.account,
            },
        )


TOPIC_MODELS: dict[str, type[ProviderModel]] = {
    "payment_intent.succeeded": PaymentIntentSucceeded,
    "invoice.paid": InvoicePaid,
}
