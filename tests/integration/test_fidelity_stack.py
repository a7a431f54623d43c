"""The mapping, authorizer and API-limit behaviours on the embedded target: the suite deploys its
fidelity stack, serves it through hookstack's gateway and event plane, and every behaviour holds;
the same checks fail on a wrong expectation and against a target that answers wrongly; nothing of
the stack is left afterwards."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from stack.deploy.outputs import StackOutputs
from stack.fidelity import api_limits, authorizer, event_source_mapping
from stack.fidelity.behaviour import Behaviour, Differs, Verdict
from stack.fidelity.event_source_mapping import check_group_order
from stack.fidelity.fidelity_stack import http_request, shared_fidelity_stack
from stack.fidelity.probe import Probe
from stack.fidelity.suite import run_suite

pytestmark = pytest.mark.integration

NEW_AREAS = {"event-source-mapping", "authorizer", "api-limits"}


def _reversed_group_order(p: Probe) -> None:
    """The mapping check with a hand-made wrong expectation: each group in reverse send order."""
    _, sent, batches = event_source_mapping._scenario(p, {"g1": ["m1", "m2", "m3", "m4"]})
    check_group_order(batches, {group: bodies[::-1] for group, bodies in sent.items()})


def _deny_expected_as_allow(p: Probe) -> None:
    """The authorizer check with a wrong expectation: a denied token expected to go through."""
    answer = http_request(shared_fidelity_stack(p).url("/echo"), headers={"X-Fidelity-Token": "deny-x"})
    if answer.status != 200:
        raise Differs(f"answered {answer.status}, expected 200")


BROKEN = [
    Behaviour("broken-esm-order", "event-source-mapping", "wrong on purpose", "test", _reversed_group_order),
    Behaviour("broken-deny", "authorizer", "wrong on purpose", "test", _deny_expected_as_allow),
]


def test_new_areas_hold_on_the_embedded_target(embedded_stack: StackOutputs) -> None:
    target = embedded_stack.as_target()
    probe = Probe(target.session(), target.endpoint_url, target.name)
    behaviours = [
        *event_source_mapping.BEHAVIOURS,
        *authorizer.BEHAVIOURS,
        *api_limits.BEHAVIOURS,
        *BROKEN,
    ]
    stack = shared_fidelity_stack(probe)  # deployed once here; the suite's checks share it, then delete it
    report = run_suite(probe, behaviours)
    verdicts = {o.behaviour.id: o.verdict for o in report.outcomes}
    real = {b.id for b in behaviours if b not in BROKEN}
    assert {i: v for i, v in verdicts.items() if i in real} == dict.fromkeys(real, Verdict.HOLDS), [
        o.as_json() for o in report.outcomes if o.verdict is not Verdict.HOLDS
    ]
    assert {b.area for b in behaviours if b not in BROKEN} == NEW_AREAS | {"lambda-errors"}
    # A check can fail: the same scenarios against wrong expectations differ.
    assert [verdicts[b.id] for b in BROKEN] == [Verdict.DIFFERS, Verdict.DIFFERS]
    assert report.left_behind == ()
    try:
        status = target.client("cloudformation").describe_stacks(StackName=stack.name)["Stacks"][0]["StackStatus"]
    except ClientError as exc:
        status = "gone" if "does not exist" in str(exc) else str(exc)
    assert status in ("gone", "DELETE_COMPLETE")  # an emulator may keep a deleted stack listed
    prefix = stack.name.removesuffix("-stack")
    functions = [f["FunctionName"] for f in target.client("lambda").list_functions()["Functions"]]
    queues = target.client("sqs").list_queues(QueueNamePrefix=prefix).get("QueueUrls", [])
    assert not [n for n in functions if n.startswith(prefix)] and not queues
