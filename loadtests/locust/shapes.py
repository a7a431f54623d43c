"""Load shapes: the request rate a scenario offers over time, as Locust ``LoadTestShape``s.

Each shape says how many requests per second it offers at time ``t`` (``rate_at``); the base class
turns that into Locust ticks. Open model (default): a fixed pool of users shares one arrival
schedule built from ``rate_at`` (see ``loadtests.model.schedule``), so the tick only sizes the pool.
Closed model: the user count follows the rate and each user paces itself to its share.

Times are load time: ``t = 0`` is the first intended start, after ``lead`` seconds of spawning.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

from locust import LoadTestShape

from loadtests.model.params import DEFAULT_PEAKS, LoadParams, default_pool_users, lead_seconds


class ArrivalShape(LoadTestShape):
    """A shape defined by the arrival rate it offers; subclasses define ``rate_at``."""

    abstract = True
    # Sized by --user-count, not Locust's -u (headless Locust sets -u to 1 when it is not given).
    use_common_options = False
    scenario: ClassVar[str] = ""
    default_peak: ClassVar[float] = 1.0

    def __init__(self, params: LoadParams | None = None):
        super().__init__()
        self.params = params or LoadParams(scenario=self.scenario)
        # Whether every process has finished its schedule with nothing in flight; the
        # locustfile wires this to the processes' reports so the run ends as soon as it can.
        self.finished: Callable[[], bool] = lambda: True

    # --- the profile ---------------------------------------------------------------------------

    def rate_at(self, t: float) -> float:
        raise NotImplementedError

    def retry_share_at(self, t: float) -> float:
        """Share of arrivals at ``t`` that re-send an earlier delivery unchanged."""
        return 0.0

    @property
    def base_rate(self) -> float:
        return self.params.rate

    @property
    def peak(self) -> float:
        return self.params.peak if self.params.peak is not None else self.default_peak

    @property
    def duration(self) -> float:
        return self.params.duration

    def peak_rate(self) -> float:
        return self.params.peak_rate()

    # --- users -----------------------------------------------------------------------------------

    def max_users(self) -> int:
        if self.params.users is not None:
            return self.params.users
        if self.params.mode == "open":
            return default_pool_users(self.peak_rate())
        return max(1, math.ceil(self.peak_rate()))  # closed: one request/s per user at the peak

    def users_at(self, t: float) -> int:
        if self.params.mode == "open":
            return self.max_users()
        share = self.rate_at(min(max(t, 0.0), self.duration)) / self.peak_rate()
        return max(1, math.ceil(self.max_users() * share - 1e-9))

    @property
    def lead(self) -> float:
        return lead_seconds(self.max_users())

    @property
    def spawn_rate(self) -> float:
        return max(1.0, self.max_users() / self.lead)

    # --- Locust ------------------------------------------------------------------------------------

    def load_time(self) -> float:
        return self.get_run_time() - self.lead

    def tick(self) -> tuple[int, float] | None:
        t = self.load_time()
        if t >= self.duration:
            # Keep the users until what is in flight has answered (bounded by the tail).
            if self.finished() or t >= self.duration + self.params.tail:
                return None
        return self.users_at(min(t, self.duration)), self.spawn_rate


class Steady(ArrivalShape):
    """The same rate from start to end: the baseline, or a soak test when run long."""

    scenario = "steady"

    def rate_at(self, t: float) -> float:
        return self.base_rate


class FlashSale(ArrivalShape):
    """Normal shop traffic, then a sale goes live: ``peak``× at once, a short hold, decay back."""

    scenario = "flash-sale"
    default_peak = DEFAULT_PEAKS["flash-sale"]
    quiet = 0.3  # shares of the duration
    hold = 0.1
    decay = 0.15  # time constant of the exponential decay

    def rate_at(self, t: float) -> float:
        spike = self.quiet * self.duration
        hold_end = spike + self.hold * self.duration
        if t < spike:
            return self.base_rate
        if t < hold_end:
            return self.base_rate * self.peak
        excess = (self.peak - 1) * math.exp(-(t - hold_end) / (self.decay * self.duration))
        return self.base_rate * (1 + excess)


class BlackFriday(ArrivalShape):
    """Doors open: traffic climbs most of the day to ``peak``×, holds, then eases off."""

    scenario = "black-friday"
    default_peak = DEFAULT_PEAKS["black-friday"]
    ramp = 0.6
    plateau = 0.3

    def rate_at(self, t: float) -> float:
        top = self.base_rate * self.peak
        ramp_end = self.ramp * self.duration
        plateau_end = ramp_end + self.plateau * self.duration
        if t < ramp_end:
            return self.base_rate + (top - self.base_rate) * t / ramp_end
        if t < plateau_end:
            return top
        remaining = self.duration - plateau_end
        return top - (top - self.base_rate) * min(1.0, (t - plateau_end) / remaining)


class RetryStorm(ArrivalShape):
    """A provider recovers from an outage and re-sends its backlog on top of live traffic.

    During the storm the rate is ``peak``× and the extra is retries: deliveries already sent,
    unchanged (same webhook id, same body), which the stack must acknowledge without doing the
    work twice. ``retry_share`` overrides the storm's share of retries.
    """

    scenario = "retry-storm"
    default_peak = DEFAULT_PEAKS["retry-storm"]
    storm_start = 0.3
    storm_end = 0.7

    def _in_storm(self, t: float) -> bool:
        return self.storm_start * self.duration <= t < self.storm_end * self.duration

    def rate_at(self, t: float) -> float:
        return self.base_rate * (self.peak if self._in_storm(t) else 1.0)

    def retry_share_at(self, t: float) -> float:
        if not self._in_storm(t):
            return 0.0
        if self.params.retry_share is not None:
            return self.params.retry_share
        return 1 - 1 / self.peak


class PartnerJobs(ArrivalShape):
    """Partners submit jobs in batches: ``bursts`` times a run, a batch at ``peak``× for a fifth of
    its window, then the base rate until the next one."""

    scenario = "partner-jobs"
    default_peak = DEFAULT_PEAKS["partner-jobs"]
    bursts = 4
    burst_share = 0.2  # of each window

    def rate_at(self, t: float) -> float:
        window = self.duration / self.bursts
        in_burst = (t % window) < self.burst_share * window
        return self.base_rate * (self.peak if in_burst else 1.0)


class MonthEndInvoicing(ArrivalShape):
    """The month's last days: invoices trickle in at the base rate, then the accounting system
    closes the month and sends its batch at ``peak``× for half the run, then the trickle again."""

    scenario = "invoice-batch"
    default_peak = DEFAULT_PEAKS["invoice-batch"]
    quiet = 0.2  # share of the run before the batch
    burst = 0.5  # the batch's share of the run

    def rate_at(self, t: float) -> float:
        start = self.quiet * self.duration
        in_burst = start <= t < start + self.burst * self.duration
        return self.base_rate * (self.peak if in_burst else 1.0)


class TableWriteBursts(ArrivalShape):
    """Sources writing a table in bursts of varying height: the run is cut into as many windows
    as there are ``heights``; each window opens with a burst (a fifth of it) at ``1 + height ×
    (peak − 1)``× the base rate (the tallest at ``peak``×), then the base rate until the next."""

    scenario = "cdc-trickle"
    default_peak = DEFAULT_PEAKS["cdc-trickle"]
    heights = (1.0, 0.4, 0.75, 0.2, 0.9)  # of the peak's excess over the base rate, burst by burst
    burst_share = 0.2  # of each window

    def rate_at(self, t: float) -> float:
        window = self.duration / len(self.heights)
        index = min(len(self.heights) - 1, max(0, int(t // window)))
        in_burst = (t - index * window) < self.burst_share * window
        return self.base_rate * (1 + self.heights[index] * (self.peak - 1) if in_burst else 1.0)


SHAPES: dict[str, type[ArrivalShape]] = {
    shape.scenario: shape
    for shape in (Steady, FlashSale, BlackFriday, RetryStorm, PartnerJobs, MonthEndInvoicing, TableWriteBursts)
}


def create_shape(params: LoadParams) -> ArrivalShape:
    return SHAPES[params.scenario](params)
